/**
 * `policy trace` and `policy matrix`: one flow explained end to end, and the truth table of all pods.
 * Both run on the compiled map state through evaluateFlow, the same lookup the datapath uses.
 */
import { RESERVED_NAMES } from '../identity/reserved.js';
import { parseIp } from '../util/ip.js';
import { nearestCandidates } from './candidates.js';
import type { ClusterInput, PodInput, ServiceInput } from './cluster.js';
import { podKey } from './cluster.js';
import { evaluateFlow, lookupSegment } from './evaluate.js';
import { explainDirection } from './explain.js';
import { serviceBackends } from './manifests.js';
import type { CompiledCluster } from './resolve/compile.js';
import { identityOfIp } from './resolve/universe.js';
import type { Flow, FlowVerdict, Protocol } from './types.js';

export type Endpoint =
  | { kind: 'pod'; pod: PodInput }
  | { kind: 'service'; service: ServiceInput }
  | { kind: 'ip'; ip: string };

/** Resolves `ns/name`, `name` (namespace default), or an IP against pods first, then services. */
export function resolveEndpoint(cluster: ClusterInput, ref: string, allowService: boolean): Endpoint | string {
  if (parseIp(ref)) {
    const pod = cluster.pods.find((p) => p.ip === ref);
    return pod ? { kind: 'pod', pod } : { kind: 'ip', ip: ref };
  }
  const [ns, name] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : ['default', ref];
  const pod = cluster.pods.find((p) => p.namespace === ns && p.name === name);
  if (pod) return { kind: 'pod', pod };
  if (allowService) {
    const svc = cluster.services.find((s) => s.namespace === ns && s.name === name);
    if (svc) return { kind: 'service', service: svc };
  }
  const prefix = cluster.pods.filter((p) => p.namespace === ns && p.name.startsWith(`${name}-`));
  if (prefix.length === 1) return { kind: 'pod', pod: prefix[0]! };
  const what = allowService ? 'pod or service' : 'pod';
  return `no ${what} "${name}" in namespace "${ns}"${prefix.length > 1 ? ` (${prefix.length} pods start with "${name}-": name one)` : ''}`;
}

export interface PortProto {
  port: number;
  protocol: Protocol;
}

export function parsePortProto(s: string): PortProto | string {
  const m = /^([0-9]+)(?:\/(tcp|udp|sctp|icmp))?$/i.exec(s.trim());
  if (!m) return `invalid port "${s}": want PORT[/PROTOCOL], e.g. 80/TCP`;
  const port = Number(m[1]);
  const protocol = (m[2] ?? 'TCP').toUpperCase() as Protocol;
  if (protocol !== 'ICMP' && (port < 1 || port > 65535)) return `invalid port "${s}": must be between 1 and 65535`;
  return { port, protocol };
}

/** The pods whose map state a trace of this flow reads: the source and every destination backend. */
export function traceEndpoints(cluster: ClusterInput, from: Endpoint, to: Endpoint, pp: PortProto): string[] {
  const out: string[] = [];
  if (from.kind === 'pod') out.push(podKey(from.pod));
  if (to.kind === 'pod') out.push(podKey(to.pod));
  if (to.kind === 'service')
    for (const b of serviceBackends(cluster, to.service, pp.port, pp.protocol)) out.push(podKey(b.pod));
  if (to.kind === 'ip') out.push(...cluster.pods.filter((p) => p.ip === to.ip).map(podKey));
  return out;
}

/**
 * The policies that can decide a flow between these pods: NetworkPolicies and CiliumNetworkPolicies only ever select
 * pods of their own namespace, so those of other namespaces are left out (cluster-wide policies always stay).
 * Verdicts and attribution are unchanged; a one-shot trace then translates a fraction of a large policy set.
 */
export function policiesForPods(cluster: ClusterInput, pods: string[]): ClusterInput {
  const namespaces = new Set(pods.map((k) => k.split('/')[0]));
  return {
    ...cluster,
    policies: cluster.policies.filter(
      (p) => p.kind === 'CiliumClusterwideNetworkPolicy' || namespaces.has(p.metadata.namespace ?? 'default'),
    ),
  };
}

export interface TraceHop {
  /** Post-DNAT destination pod (or the IP). */
  to: string;
  dstIp: string;
  dport: number;
  verdict: FlowVerdict;
  explanation: string[];
}

export interface TraceEndpointInfo {
  name: string;
  ip: string;
  identity: number;
  labels: string[];
}

export interface TraceResult {
  from: TraceEndpointInfo;
  to: string;
  service?: { name: string; clusterIP?: string; port: number };
  protocol: Protocol;
  port: number;
  http?: { method: string; path: string };
  hops: TraceHop[];
  /** Overall: allowed only if every backend allows (a service's backends can differ). */
  verdict: FlowVerdict['verdict'] | 'no-backends';
}

function info(c: CompiledCluster, name: string, ip: string): TraceEndpointInfo {
  const identity = identityOfIp(c.universe, ip);
  const ident = c.universe.byId.get(identity);
  return {
    name,
    ip,
    identity,
    labels: ident ? ident.labels.strings() : [`reserved:${RESERVED_NAMES[identity] ?? 'world'}`],
  };
}

export function traceFlow(
  cluster: ClusterInput,
  compiled: CompiledCluster,
  from: Endpoint,
  to: Endpoint,
  pp: PortProto,
  http?: { method: string; path: string },
): TraceResult {
  const srcIp = from.kind === 'pod' ? from.pod.ip : from.kind === 'ip' ? from.ip : '';
  const srcName = from.kind === 'pod' ? podKey(from.pod) : srcIp;
  const targets: { name: string; ip: string; port: number; host: string }[] = [];
  let service: TraceResult['service'];
  if (to.kind === 'service') {
    service = {
      name: `${to.service.namespace}/${to.service.name}`,
      port: pp.port,
      ...(to.service.clusterIP ? { clusterIP: to.service.clusterIP } : {}),
    };
    const host = `${to.service.name}.${to.service.namespace}.svc.cluster.local`;
    for (const b of serviceBackends(cluster, to.service, pp.port, pp.protocol))
      targets.push({ name: podKey(b.pod), ip: b.pod.ip, port: b.port, host });
  } else if (to.kind === 'pod') targets.push({ name: podKey(to.pod), ip: to.pod.ip, port: pp.port, host: to.pod.ip });
  else targets.push({ name: to.ip, ip: to.ip, port: pp.port, host: to.ip });

  const hops: TraceHop[] = targets.map((t) => {
    const flow: Flow = { srcIp, dstIp: t.ip, protocol: pp.protocol, dport: t.port };
    if (http) flow.http = { method: http.method, path: http.path, host: t.host };
    const verdict = evaluateFlow(compiled, flow);
    const explanation: string[] = [];
    for (const dv of [verdict.egress, verdict.ingress]) {
      explanation.push(explainDirection(dv));
      if (dv.verdict === 'denied-l3l4' && dv.dropReason === 'POLICY_DENIED' && dv.endpoint) {
        const peerIp = dv.direction === 'egress' ? t.ip : srcIp;
        const peerId = dv.direction === 'egress' ? verdict.dstIdentity : verdict.srcIdentity;
        for (const c of nearestCandidates(compiled, dv.endpoint, dv.direction, peerIp, peerId, flow)) {
          explanation.push(`  nearest: ${c}`);
        }
      }
    }
    return { to: t.name, dstIp: t.ip, dport: t.port, verdict, explanation };
  });
  const verdicts = new Set(hops.map((h) => h.verdict.verdict));
  const overall: TraceResult['verdict'] =
    hops.length === 0
      ? 'no-backends'
      : verdicts.has('denied-l3l4')
        ? 'denied-l3l4'
        : verdicts.has('denied-l7')
          ? 'denied-l7'
          : 'allowed';
  const toName =
    to.kind === 'pod' ? podKey(to.pod) : to.kind === 'service' ? `${to.service.namespace}/${to.service.name}` : to.ip;
  return {
    from: info(compiled, srcName, srcIp),
    to: toName,
    ...(service ? { service } : {}),
    protocol: pp.protocol,
    port: pp.port,
    ...(http ? { http } : {}),
    hops,
    verdict: overall,
  };
}

export interface Matrix {
  pods: string[];
  /** rows[from][to]: '.' allowed, 'X' denied at L3/L4, 'L' denied at L7 (403). */
  rows: string[][];
  allowed: number;
  denied: number;
}

export function computeMatrix(
  compiled: CompiledCluster,
  pp: PortProto,
  opts: { namespace?: string; http?: { method: string; path: string } } = {},
): Matrix {
  const pods = [...compiled.pods.values()].filter((p) => p.ip && (!opts.namespace || p.namespace === opts.namespace));
  const keys = pods.map(podKey);
  const ids = keys.map((k) => compiled.universe.podIdentity.get(k)!);
  const policies = keys.map((k) => compiled.endpoints.get(k)!);
  const rows: string[][] = [];
  let allowed = 0;
  let denied = 0;
  // The L3/L4 part is two map-state lookups; only cells that reach the L7 proxy with a request need the full
  // evaluation. A column's verdict depends on the source only through its identity (unless an ip-level entry
  // names the source), so it is memoised per (destination, source identity).
  const memo: Map<number, string>[] = pods.map(() => new Map());
  const l3l4 = (srcIdx: number, dstIdx: number): string => {
    const src = pods[srcIdx]!;
    const dst = pods[dstIdx]!;
    const eg = lookupSegment(policies[srcIdx]!.egress, dst.ip, ids[dstIdx]!, pp.protocol, pp.port);
    if (eg.level === 'default' && !policies[srcIdx]!.egress.auditDefault) return 'X';
    if (eg.segment?.verdict === 'deny' && !eg.segment.audit) return 'X';
    const ing = lookupSegment(policies[dstIdx]!.ingress, src.ip, ids[srcIdx]!, pp.protocol, pp.port);
    if (ing.level === 'default' && !policies[dstIdx]!.ingress.auditDefault) return 'X';
    if (ing.segment?.verdict === 'deny' && !ing.segment.audit) return 'X';
    if (opts.http && (eg.segment?.l7 || ing.segment?.l7)) {
      const v = evaluateFlow(compiled, {
        srcIp: src.ip,
        dstIp: dst.ip,
        protocol: pp.protocol,
        dport: pp.port,
        http: { ...opts.http, host: dst.ip },
      }).verdict;
      return v === 'allowed' ? '.' : v === 'denied-l7' ? 'L' : 'X';
    }
    return '.';
  };
  for (let i = 0; i < pods.length; i++) {
    const row: string[] = new Array(pods.length);
    const srcEgressByIp = policies[i]!.egress.byIp;
    for (let j = 0; j < pods.length; j++) {
      const ipSpecific =
        policies[j]!.ingress.byIp[pods[i]!.ip] !== undefined || srcEgressByIp[pods[j]!.ip] !== undefined;
      let cell = ipSpecific ? undefined : memo[j]!.get(ids[i]!);
      if (cell === undefined) {
        cell = l3l4(i, j);
        if (!ipSpecific) memo[j]!.set(ids[i]!, cell);
      }
      if (cell === '.') allowed++;
      else denied++;
      row[j] = cell;
    }
    rows.push(row);
  }
  return { pods: keys, rows, allowed, denied };
}
