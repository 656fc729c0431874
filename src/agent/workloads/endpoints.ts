/**
 * What the endpoints controllers compute, pure: for a Service and the pods its selector matches, the legacy
 * `Endpoints` subsets (ready pods in `addresses`, unready ones in `notReadyAddresses`, terminating ones left out,
 * subsets grouped by identical port lists) and the `discovery.k8s.io/v1` EndpointSlices (one per distinct port
 * list, at most 100 endpoints each, conditions ready/serving/terminating). `targetPort` is a number or the name
 * of a container port, resolved per pod; a pod without the named port is left out of that port.
 */
import type { ContainerPort, Pod, Service, ServicePort } from '../../api/types.js';
import { canonicalJson, isPodReady, isTerminating } from './objects.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
export const MIRROR_CONTROLLER = 'endpointslicemirroring-controller.k8s.io';
export const MAX_ENDPOINTS_PER_SLICE = 100;

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: { kind: string; namespace: string; name: string; uid: string };
}

export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

export interface SliceEndpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  hostname?: string;
  nodeName?: string;
  targetRef?: { kind: string; namespace: string; name: string; uid: string };
}

/** A slice's content (no metadata): what is compared to decide whether to write. */
export interface SliceContent {
  addressType: 'IPv4';
  endpoints: SliceEndpoint[];
  ports: EndpointPort[];
}

/** The container port number a Service port reaches on `pod` (podutil.FindPort), or undefined. */
export function resolveTargetPort(sp: ServicePort, pod: Pod): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  const proto = sp.protocol ?? 'TCP';
  for (const c of pod.spec.containers ?? []) {
    for (const p of (c.ports ?? []) as ContainerPort[]) {
      if (p.name === tp && (p.protocol ?? 'TCP') === proto) return p.containerPort;
    }
  }
  return undefined;
}

function podIP(p: Pod): string | undefined {
  const ip = p.status?.podIP;
  return ip && /^\d+\.\d+\.\d+\.\d+$/.test(ip) ? ip : undefined;
}

function targetRef(p: Pod) {
  return { kind: 'Pod', namespace: p.metadata.namespace ?? '', name: p.metadata.name ?? '', uid: p.metadata.uid ?? '' };
}

function hostnameFor(svc: Service, p: Pod): string | undefined {
  const spec = p.spec as { hostname?: string; subdomain?: string };
  return spec.hostname && spec.subdomain === svc.metadata.name && p.metadata.namespace === svc.metadata.namespace
    ? spec.hostname
    : undefined;
}

function terminal(p: Pod): boolean {
  const ph = p.status?.phase;
  return ph === 'Succeeded' || ph === 'Failed';
}

/** Resolved ports of `pod` for the Service, in Service order (ports the pod lacks are skipped). */
function podPorts(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.spec.ports ?? []) {
    const port = resolveTargetPort(sp, pod);
    if (port === undefined) continue;
    out.push({
      ...(sp.name ? { name: sp.name } : {}),
      port,
      protocol: sp.protocol ?? 'TCP',
      ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}),
    });
  }
  return out;
}

const byIp = (a: { ip: string }, b: { ip: string }) => ipCmp(a.ip, b.ip);

function ipCmp(a: string, b: string): number {
  const na = a.split('.').map(Number);
  const nb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (na[i] !== nb[i]) return (na[i] ?? 0) - (nb[i] ?? 0);
  return 0;
}

const portsKey = (ports: EndpointPort[]) =>
  canonicalJson([...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port));

/** Legacy Endpoints subsets for a Service with a selector (the pods are those the selector matches). */
export function buildEndpointSubsets(svc: Service, pods: readonly Pod[]): EndpointSubset[] {
  const publishNotReady = (svc.spec as { publishNotReadyAddresses?: boolean }).publishNotReadyAddresses === true;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  const headless = (svc.spec.ports ?? []).length === 0;
  for (const p of pods) {
    const ip = podIP(p);
    if (!ip || terminal(p) || (isTerminating(p) && !publishNotReady)) continue;
    const addr: EndpointAddress = {
      ip,
      ...(hostnameFor(svc, p) ? { hostname: hostnameFor(svc, p) } : {}),
      ...(p.spec.nodeName ? { nodeName: p.spec.nodeName } : {}),
      targetRef: targetRef(p),
    };
    const ready = publishNotReady || isPodReady(p);
    const ports = headless ? [] : podPorts(svc, p);
    if (!headless && ports.length === 0) continue;
    // Upstream adds one subset per (pod, port) and repacks; grouping by the pod's full port list is the result.
    const k = portsKey(ports);
    let g = groups.get(k);
    if (!g) {
      g = { ports, ready: [], notReady: [] };
      groups.set(k, g);
    }
    (ready ? g.ready : g.notReady).push(addr);
  }
  const out: EndpointSubset[] = [];
  for (const k of [...groups.keys()].sort()) {
    const g = groups.get(k)!;
    const s: EndpointSubset = {};
    if (g.ready.length) s.addresses = g.ready.sort(byIp);
    if (g.notReady.length) s.notReadyAddresses = g.notReady.sort(byIp);
    if (g.ports.length) s.ports = [...g.ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
    out.push(s);
  }
  return out;
}

/** EndpointSlice contents for a Service with a selector: one group per port list, split at 100 endpoints. */
export function buildSliceContents(svc: Service, pods: readonly Pod[]): SliceContent[] {
  const publishNotReady = (svc.spec as { publishNotReadyAddresses?: boolean }).publishNotReadyAddresses === true;
  const headless = (svc.spec.ports ?? []).length === 0;
  const groups = new Map<string, { ports: EndpointPort[]; endpoints: SliceEndpoint[] }>();
  for (const p of pods) {
    const ip = podIP(p);
    if (!ip || terminal(p)) continue;
    const ports = headless ? [] : podPorts(svc, p);
    if (!headless && ports.length === 0) continue;
    const terminating = isTerminating(p);
    const serving = publishNotReady || isPodReady(p);
    const hostname = hostnameFor(svc, p);
    const ep: SliceEndpoint = {
      addresses: [ip],
      conditions: { ready: serving && (!terminating || publishNotReady), serving, terminating },
      ...(hostname ? { hostname } : {}),
      ...(p.spec.nodeName ? { nodeName: p.spec.nodeName } : {}),
      targetRef: targetRef(p),
    };
    const k = portsKey(ports);
    let g = groups.get(k);
    if (!g) {
      g = { ports, endpoints: [] };
      groups.set(k, g);
    }
    g.endpoints.push(ep);
  }
  const out: SliceContent[] = [];
  for (const k of [...groups.keys()].sort()) {
    const g = groups.get(k)!;
    const eps = g.endpoints.sort((a, b) => ipCmp(a.addresses[0]!, b.addresses[0]!));
    for (let i = 0; i < eps.length; i += MAX_ENDPOINTS_PER_SLICE) {
      out.push({ addressType: 'IPv4', endpoints: eps.slice(i, i + MAX_ENDPOINTS_PER_SLICE), ports: g.ports });
    }
  }
  // A selector Service with no endpoints still gets one (empty) slice, as upstream ("placeholder" slice).
  if (out.length === 0) out.push({ addressType: 'IPv4', endpoints: [], ports: [] });
  return out;
}

/** Slices mirrored from user-written Endpoints of a Service without a selector (endpointslicemirroring). */
export function mirrorSliceContents(subsets: readonly EndpointSubset[]): SliceContent[] {
  const out: SliceContent[] = [];
  for (const s of subsets) {
    const ports = (s.ports ?? []).map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' }));
    const eps: SliceEndpoint[] = [];
    const add = (a: EndpointAddress, ready: boolean) => {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(a.ip)) return;
      eps.push({
        addresses: [a.ip],
        conditions: { ready, serving: ready, terminating: false },
        ...(a.hostname ? { hostname: a.hostname } : {}),
        ...(a.nodeName ? { nodeName: a.nodeName } : {}),
        ...(a.targetRef ? { targetRef: a.targetRef } : {}),
      });
    };
    for (const a of s.addresses ?? []) add(a, true);
    for (const a of s.notReadyAddresses ?? []) add(a, false);
    for (let i = 0; i < eps.length; i += MAX_ENDPOINTS_PER_SLICE)
      out.push({ addressType: 'IPv4', endpoints: eps.slice(i, i + MAX_ENDPOINTS_PER_SLICE), ports });
  }
  return out;
}

/** A slice's comparable content key (endpoint order does not matter). */
export function sliceContentKey(c: { endpoints?: unknown[]; ports?: unknown[]; addressType?: unknown }): string {
  const eps = [...((c.endpoints ?? []) as SliceEndpoint[])].map((e) => canonicalJson(e)).sort();
  return canonicalJson({ addressType: c.addressType, ports: portsKey((c.ports ?? []) as EndpointPort[]), eps });
}

/** Ports part only: slices are matched to desired contents by their port list first. */
export function slicePortsKey(c: { ports?: unknown[] }): string {
  return portsKey((c.ports ?? []) as EndpointPort[]);
}
