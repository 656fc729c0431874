/**
 * The environment the kubelet gives every container about Services (pkg/kubelet/envvars): for each Service of
 * the pod's namespace (when `enableServiceLinks` is not false) and always for `kubernetes` in `default`,
 * `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`, `<NAME>_SERVICE_PORT_<PORTNAME>` and the Docker-link variables
 * `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}`. Services without a ClusterIP (headless,
 * ExternalName) give none. Pure.
 */
import type { Service } from '../../api/types.js';

function envName(s: string): string {
  return s.toUpperCase().replace(/-/g, '_');
}

function hasClusterIP(s: Service): boolean {
  const ip = s.spec.clusterIP;
  return typeof ip === 'string' && ip !== '' && ip !== 'None';
}

/** Variables for one Service, in the kubelet's order. */
export function serviceEnv(svc: Service): [string, string][] {
  if (!hasClusterIP(svc)) return [];
  const name = envName(svc.metadata.name ?? '');
  const ip = svc.spec.clusterIP!;
  const ports = svc.spec.ports ?? [];
  const out: [string, string][] = [[`${name}_SERVICE_HOST`, ip]];
  if (ports.length > 0) out.push([`${name}_SERVICE_PORT`, String(ports[0]!.port)]);
  for (const p of ports) if (p.name) out.push([`${name}_SERVICE_PORT_${envName(p.name)}`, String(p.port)]);
  if (ports.length > 0) {
    const first = ports[0]!;
    out.push([`${name}_PORT`, `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`]);
  }
  for (const p of ports) {
    const proto = (p.protocol ?? 'TCP').toUpperCase();
    const prefix = `${name}_PORT_${p.port}_${proto}`;
    out.push([prefix, `${proto.toLowerCase()}://${ip}:${p.port}`]);
    out.push([`${prefix}_PROTO`, proto.toLowerCase()]);
    out.push([`${prefix}_PORT`, String(p.port)]);
    out.push([`${prefix}_ADDR`, ip]);
  }
  return out;
}

/**
 * The injected environment of a pod in `namespace`: its namespace's Services (when service links are on), and
 * the `kubernetes` Service of `default` in any case. Services are taken in name order; `kubernetes` wins.
 */
export function podServiceEnv(
  namespace: string,
  services: readonly Service[],
  enableServiceLinks = true,
): Record<string, string> {
  const env: Record<string, string> = {};
  const inNs = enableServiceLinks
    ? services
        .filter((s) => (s.metadata.namespace ?? 'default') === namespace)
        .sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1))
    : [];
  for (const s of inNs) for (const [k, v] of serviceEnv(s)) env[k] = v;
  const master = services.find((s) => s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes');
  if (master) for (const [k, v] of serviceEnv(master)) env[k] = v;
  return env;
}
