/**
 * Builds the engine's ClusterInput from plain Kubernetes objects (the offline tools' view of a set of manifests).
 * Objects without a namespace land in `default`, as `kubectl apply` would put them. Deployments are expanded into
 * their replicas with deterministic names and pod IPs, so offline output is stable run to run; pods and services
 * that already carry addresses (status.podIP, spec.clusterIP) keep them.
 */
import type { AnyPolicy, Deployment, KubeObject, Namespace, Pod, PodSpec, Service } from '../api/types.js';
import { fnv1a } from '../identity/allocator.js';
import { formatIp, parseCidr } from '../util/ip.js';
import type { ClusterInput, NamedPort, PodInput, ServiceInput } from './cluster.js';
import { isPolicyObject } from './translate/index.js';

export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
/** Namespaces every cluster has from the start. */
export const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-public'];

export interface ManifestCluster {
  cluster: ClusterInput;
  /** Objects that play no part in policy (ConfigMaps...), by `Kind/name`. */
  ignored: string[];
}

const SUFFIX_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

/** Kubernetes-looking random suffix, derived from a seed so it is the same on every run. */
function suffix(seed: string, len: number): string {
  let h = fnv1a(seed);
  let out = '';
  for (let i = 0; i < len; i++) {
    out += SUFFIX_CHARS[h % SUFFIX_CHARS.length];
    h = fnv1a(`${seed}${i}${h}`);
  }
  return out;
}

function namedPorts(spec: PodSpec | undefined): NamedPort[] {
  return (spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.containerPort,
      protocol: (p.protocol ?? 'TCP') as NamedPort['protocol'],
    })),
  );
}

function nthAddress(cidr: string, n: number): string {
  const c = parseCidr(cidr)!;
  return formatIp({ family: c.family, value: c.base + BigInt(n) });
}

export function clusterFromObjects(objects: KubeObject[]): ManifestCluster {
  const namespaces = new Map<string, Record<string, string>>();
  for (const ns of BUILTIN_NAMESPACES) namespaces.set(ns, {});
  const pods: PodInput[] = [];
  const services: ServiceInput[] = [];
  const policies: AnyPolicy[] = [];
  const ignored: string[] = [];
  const ns = (o: KubeObject) => o.metadata?.namespace ?? 'default';

  for (const o of objects) {
    switch (o.kind) {
      case 'Namespace':
        namespaces.set(o.metadata.name ?? '', { ...((o as Namespace).metadata.labels ?? {}) });
        break;
      case 'Pod': {
        const p = o as Pod;
        pods.push({
          namespace: ns(p),
          name: p.metadata.name ?? '',
          labels: { ...(p.metadata.labels ?? {}) },
          ip: p.status?.podIP ?? '',
          ...(p.spec?.serviceAccountName ? { serviceAccount: p.spec.serviceAccountName } : {}),
          ports: namedPorts(p.spec),
        });
        break;
      }
      case 'Deployment': {
        const d = o as Deployment;
        const name = d.metadata.name ?? '';
        const hash = suffix(`${ns(d)}/${name}/${JSON.stringify(d.spec?.template ?? {})}`, 10);
        const replicas = d.spec?.replicas ?? 1;
        for (let i = 0; i < replicas; i++) {
          pods.push({
            namespace: ns(d),
            name: `${name}-${hash}-${suffix(`${name}-${hash}-${i}`, 5)}`,
            labels: { ...(d.spec?.template?.metadata?.labels ?? {}), 'pod-template-hash': hash },
            ip: '',
            ...(d.spec?.template?.spec?.serviceAccountName
              ? { serviceAccount: d.spec.template.spec.serviceAccountName }
              : {}),
            ports: namedPorts(d.spec?.template?.spec),
          });
        }
        break;
      }
      case 'Service': {
        const s = o as Service;
        services.push({
          namespace: ns(s),
          name: s.metadata.name ?? '',
          labels: { ...(s.metadata.labels ?? {}) },
          ...(s.spec?.selector ? { selector: s.spec.selector } : {}),
          ...(s.spec?.clusterIP && s.spec.clusterIP !== 'None' ? { clusterIP: s.spec.clusterIP } : {}),
          ports: (s.spec?.ports ?? []).map((p) => ({
            ...(p.name ? { name: p.name } : {}),
            port: p.port,
            targetPort: p.targetPort ?? p.port,
            protocol: (p.protocol ?? 'TCP') as ServiceInput['ports'][number]['protocol'],
          })),
        });
        break;
      }
      default:
        if (isPolicyObject(o)) policies.push(o);
        else ignored.push(`${o.kind}/${o.metadata?.name ?? ''}`);
    }
  }
  for (const p of pods) if (!namespaces.has(p.namespace)) namespaces.set(p.namespace, {});
  for (const p of policies)
    if (p.metadata.namespace && !namespaces.has(p.metadata.namespace)) namespaces.set(p.metadata.namespace, {});

  // Deterministic addresses for pods and services the manifests leave unaddressed.
  const usedPodIps = new Set(pods.map((p) => p.ip).filter(Boolean));
  let next = 10;
  for (const p of [...pods].sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1))) {
    if (p.ip) continue;
    let ip = nthAddress(DEFAULT_POD_CIDR, next++);
    while (usedPodIps.has(ip)) ip = nthAddress(DEFAULT_POD_CIDR, next++);
    p.ip = ip;
    usedPodIps.add(ip);
  }
  const usedSvcIps = new Set(services.map((s) => s.clusterIP).filter(Boolean));
  let nextSvc = 20;
  for (const s of services) {
    if (s.clusterIP) continue;
    let ip = nthAddress(DEFAULT_SERVICE_CIDR, nextSvc++);
    while (usedSvcIps.has(ip)) ip = nthAddress(DEFAULT_SERVICE_CIDR, nextSvc++);
    s.clusterIP = ip;
    usedSvcIps.add(ip);
  }

  return {
    cluster: {
      namespaces: [...namespaces].map(([name, labels]) => ({ name, labels })),
      pods,
      services,
      policies,
      hostIps: ['10.244.0.1'],
    },
    ignored,
  };
}

/** The pods a Service selects (its backends), with the resolved target port for a service port. */
export function serviceBackends(
  cluster: ClusterInput,
  svc: ServiceInput,
  port: number,
  protocol: string,
): { pod: PodInput; port: number }[] {
  const sp = svc.ports.find((p) => p.port === port && p.protocol === protocol);
  if (!sp || !svc.selector) return [];
  const out: { pod: PodInput; port: number }[] = [];
  for (const pod of cluster.pods) {
    if (pod.namespace !== svc.namespace) continue;
    if (!Object.entries(svc.selector).every(([k, v]) => pod.labels[k] === v)) continue;
    const target =
      typeof sp.targetPort === 'number'
        ? sp.targetPort
        : pod.ports.find((p) => p.name === sp.targetPort && p.protocol === sp.protocol)?.port;
    if (target !== undefined) out.push({ pod, port: target });
  }
  return out;
}
