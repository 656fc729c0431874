/**
 * Pure conversions from the API objects the enforcement informers cache to the policy engine's `ClusterInput` and
 * the datapath's `DesiredState`. No I/O: the component feeds these from informers, the unit tests from literals.
 */
import type { KubeObject, Namespace, Pod, Service } from '../../api/types.js';
import type { DesiredState, EndpointState, IpcacheEntry, ServiceState } from '../../datapath/types.js';
import type { ClusterInput, NamedPort, PodInput, ServiceInput } from '../../policy/cluster.js';
import { podKey } from '../../policy/cluster.js';
import type { CompiledCluster } from '../../policy/resolve/compile.js';
import { gatewayOf } from '../../runtime/cni.js';
import { formatCidr } from '../../util/ip.js';

/** discovery.k8s.io/v1 EndpointSlice, the fields used here. */
export interface EndpointSlice extends KubeObject {
  kind: 'EndpointSlice';
  addressType?: string;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    targetRef?: { kind?: string; namespace?: string; name?: string };
  }[];
  ports?: { name?: string; port?: number; protocol?: 'TCP' | 'UDP' | 'SCTP' }[];
}

/** core/v1 Node, the fields used here. */
export interface NodeObject extends KubeObject {
  kind: 'Node';
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: { addresses?: { type: string; address: string }[] };
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/**
 * Annotations the node component may set on a pod: the host side of its veth (used for the endpoint's
 * `hostIfname`). Several spellings are accepted so the agent does not depend on one writer.
 */
export const HOST_IFNAME_ANNOTATIONS = ['podwall.io/host-ifname', 'podwall.io/host-interface', 'podwall.io/hostIfname'];

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function isTerminal(p: Pod): boolean {
  const phase = p.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** The pod's live IPv4 address, or '' (no IP yet, finished, host network). */
export function podIp(p: Pod): string {
  if (isTerminal(p) || p.spec?.hostNetwork) return '';
  const ip = p.status?.podIP ?? p.status?.podIPs?.[0]?.ip ?? '';
  return IPV4.test(ip) ? ip : '';
}

function containerPorts(p: Pod): NamedPort[] {
  return (p.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).map((cp) => ({
      ...(cp.name ? { name: cp.name } : {}),
      port: cp.containerPort,
      protocol: (cp.protocol ?? 'TCP') as NamedPort['protocol'],
    })),
  );
}

function created(o: KubeObject): string {
  return o.metadata.creationTimestamp ?? '';
}

/**
 * Pods as the engine sees them. Host-network pods are the node itself (reserved:host) and are left out. When two
 * pods claim the same IP (an address reused while the old pod object lingers), the newest keeps it.
 */
export function podInputs(pods: readonly Pod[]): PodInput[] {
  const owner = new Map<string, Pod>();
  for (const p of pods) {
    const ip = podIp(p);
    if (!ip) continue;
    const cur = owner.get(ip);
    if (!cur || created(p) > created(cur) || (created(p) === created(cur) && podKeyOf(p) > podKeyOf(cur)))
      owner.set(ip, p);
  }
  const out: PodInput[] = [];
  for (const p of pods) {
    if (p.spec?.hostNetwork) continue;
    const ip = podIp(p);
    out.push({
      namespace: p.metadata.namespace ?? 'default',
      name: p.metadata.name ?? '',
      labels: { ...(p.metadata.labels ?? {}) },
      ip: ip && owner.get(ip) === p ? ip : '',
      ...(p.spec?.serviceAccountName ? { serviceAccount: p.spec.serviceAccountName } : {}),
      ports: containerPorts(p),
    });
  }
  return out;
}

function podKeyOf(p: Pod): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name ?? ''}`;
}

function hasClusterIp(s: Service): boolean {
  const ip = s.spec?.clusterIP;
  return ip !== undefined && ip !== '' && ip !== 'None' && IPV4.test(ip);
}

/** Ready IPv4 endpoint addresses of the slices of one service, per slice port name. */
function sliceBackends(
  slices: readonly EndpointSlice[],
): Map<string, { ip: string; port: number; protocol: string }[]> {
  const byPortName = new Map<string, { ip: string; port: number; protocol: string }[]>();
  for (const sl of slices) {
    if (sl.addressType && sl.addressType !== 'IPv4') continue;
    for (const sp of sl.ports ?? []) {
      if (sp.port === undefined) continue;
      const list = byPortName.get(sp.name ?? '') ?? [];
      for (const ep of sl.endpoints ?? []) {
        // Kubernetes: a nil `ready` means ready.
        if (ep.conditions?.ready === false) continue;
        for (const ip of ep.addresses ?? [])
          if (IPV4.test(ip)) list.push({ ip, port: sp.port, protocol: sp.protocol ?? 'TCP' });
      }
      byPortName.set(sp.name ?? '', list);
    }
  }
  return byPortName;
}

export function slicesByService(slices: readonly EndpointSlice[]): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const sl of slices) {
    const svc = sl.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const k = `${sl.metadata.namespace ?? 'default'}/${svc}`;
    const list = out.get(k);
    if (list) list.push(sl);
    else out.set(k, [sl]);
  }
  return out;
}

/** Services for the engine (toServices, trace): selector, ClusterIP, ports; selector-less ones carry their endpoint IPs. */
export function serviceInputs(services: readonly Service[], slices: Map<string, EndpointSlice[]>): ServiceInput[] {
  return services.map((s) => {
    const ns = s.metadata.namespace ?? 'default';
    const name = s.metadata.name ?? '';
    const input: ServiceInput = {
      namespace: ns,
      name,
      labels: { ...(s.metadata.labels ?? {}) },
      ...(s.spec?.selector ? { selector: { ...s.spec.selector } } : {}),
      ...(hasClusterIp(s) ? { clusterIP: s.spec.clusterIP } : {}),
      ports: (s.spec?.ports ?? []).map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        port: p.port,
        targetPort: p.targetPort ?? p.port,
        protocol: p.protocol ?? 'TCP',
      })),
    };
    if (!s.spec?.selector) {
      const ips = new Set<string>();
      for (const list of sliceBackends(slices.get(`${ns}/${name}`) ?? []).values()) for (const b of list) ips.add(b.ip);
      input.endpointIps = [...ips].sort();
    }
    return input;
  });
}

/** One ServiceState per ClusterIP service port, backends from the service's EndpointSlices (ready endpoints). */
export function serviceStates(services: readonly Service[], slices: Map<string, EndpointSlice[]>): ServiceState[] {
  const out: ServiceState[] = [];
  for (const s of services) {
    if (!hasClusterIp(s)) continue;
    const ns = s.metadata.namespace ?? 'default';
    const name = s.metadata.name ?? '';
    const backends = sliceBackends(slices.get(`${ns}/${name}`) ?? []);
    for (const p of s.spec.ports ?? []) {
      const protocol = p.protocol ?? 'TCP';
      const seen = new Set<string>();
      const list = (backends.get(p.name ?? '') ?? [])
        .filter((b) => b.protocol === protocol)
        .filter((b) => {
          const k = `${b.ip}:${b.port}`;
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        })
        .map((b) => ({ ip: b.ip, port: b.port }))
        .sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.port - b.port));
      out.push({
        key: `${ns}/${name}:${p.name ?? String(p.port)}`,
        ip: s.spec.clusterIP!,
        port: p.port,
        protocol,
        backends: list,
      });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function namespaceInputs(
  namespaces: readonly Namespace[],
  pods: readonly PodInput[],
): ClusterInput['namespaces'] {
  const out = new Map<string, Record<string, string>>();
  for (const n of namespaces) out.set(n.metadata.name ?? '', { ...(n.metadata.labels ?? {}) });
  // A pod can be seen before its namespace (informers are independent): give it an unlabelled one meanwhile.
  for (const p of pods) if (!out.has(p.namespace)) out.set(p.namespace, {});
  return [...out].map(([name, labels]) => ({ name, labels }));
}

export interface LocalEndpoint {
  pod: PodInput;
  hostIfname?: string;
}

/** Pods of this node that have an IP: the endpoints whose policy this node enforces. */
export function localEndpoints(pods: readonly Pod[], inputs: readonly PodInput[], nodeName?: string): LocalEndpoint[] {
  const byKey = new Map(pods.map((p) => [podKeyOf(p), p]));
  const out: LocalEndpoint[] = [];
  for (const pi of inputs) {
    if (!pi.ip) continue;
    const p = byKey.get(podKey(pi));
    if (!p) continue;
    if (nodeName !== undefined && p.spec?.nodeName && p.spec.nodeName !== nodeName) continue;
    const ann = p.metadata.annotations ?? {};
    const ifname = HOST_IFNAME_ANNOTATIONS.map((k) => ann[k]).find((v) => v !== undefined && v !== '');
    out.push({ pod: pi, ...(ifname ? { hostIfname: ifname } : {}) });
  }
  return out;
}

/** The datapath's desired state for this node from one compile. */
export function desiredState(opts: {
  compiled: CompiledCluster;
  endpoints: readonly LocalEndpoint[];
  services: ServiceState[];
  proxyPort: number;
  hostIps: string[];
}): DesiredState {
  const u = opts.compiled.universe;
  const ipcache: IpcacheEntry[] = [];
  for (const [ip, pod] of u.podByIp) {
    const id = u.podIdentity.get(podKey(pod));
    if (id !== undefined && IPV4.test(ip)) ipcache.push({ prefix: `${ip}/32`, identity: id });
  }
  for (const ident of u.cidrByLength) {
    const p = ident.prefix!;
    if (p.family !== 4) continue;
    ipcache.push({ prefix: formatCidr(p), identity: ident.id });
  }
  ipcache.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const endpoints: EndpointState[] = [];
  for (const ep of opts.endpoints) {
    const key = podKey(ep.pod);
    const policy = opts.compiled.endpoints.get(key);
    const identity = u.podIdentity.get(key);
    if (!policy || identity === undefined) continue;
    endpoints.push({
      name: key,
      ip: ep.pod.ip,
      identity,
      ...(ep.hostIfname ? { hostIfname: ep.hostIfname } : {}),
      policy,
    });
  }
  endpoints.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    ipcache,
    endpoints,
    services: opts.services,
    proxyPort: opts.proxyPort,
    hostIps: [...opts.hostIps].sort(),
  };
}

/**
 * The node's own addresses (reserved:host): the pod gateway of each pod CIDR — with CNI ptp + host-local every
 * host veth carries the subnet's first address, the source of host → pod traffic — and its InternalIPs.
 * `nodeName` unset: every Node (standalone has one).
 */
export function nodeHostIps(nodes: readonly NodeObject[], nodeName?: string): string[] {
  const ips = new Set<string>();
  for (const n of nodes) {
    if (nodeName !== undefined && n.metadata.name !== nodeName) continue;
    const cidrs = n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []);
    for (const c of cidrs) if (/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c)) ips.add(gatewayOf(c));
    for (const a of n.status?.addresses ?? []) if (a.type === 'InternalIP' && IPV4.test(a.address)) ips.add(a.address);
  }
  return [...ips].sort();
}
