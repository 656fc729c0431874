/**
 * Turns kernel verdicts (NFLOG packets logged by the podwall nft table, or the eBPF programs' verdict events) and
 * proxy HTTP events into Hubble flow records. The verdict comes from the kernel (direction, verdict, map level) or the
 * proxy; the attribution — which policies allowed, denied, or isolate the endpoint — comes from running
 * `evaluateFlow` on the same flow against the compiled state that was enforced when the packet was seen, so a
 * DROPPED record always names the policy responsible (for a default deny: the policies that isolate the endpoint).
 *
 * The attribution source keeps a few recent compiled states (newest first). A packet logged just before a policy
 * change is attributed to the newest state whose verdict agrees with the kernel's, else to the newest one.
 */
import { randomUUID } from 'node:crypto';
import { CODE_BIT, type LogPrefix, parseLogPrefix } from '../datapath/nftables/render.js';
import { ID_HOST } from '../identity/reserved.js';
import { evaluateFlow, lookupSegment } from '../policy/evaluate.js';
import type { CompiledCluster } from '../policy/resolve/compile.js';
import { identityOfIp } from '../policy/resolve/universe.js';
import type { DirectionVerdict, FlowVerdict, Flow as PolicyFlow, Protocol, RuleRef } from '../policy/types.js';
import type { HttpEvent } from '../proxy/server.js';
import { DROP_REASONS, type DropReasonDesc } from './drop-reasons.js';
import {
  EVENT_DROP,
  EVENT_L7,
  EVENT_POLICY_VERDICT,
  type Flow,
  type FlowEndpoint,
  type FlowPolicy,
  type FlowVerdictName,
  type Layer4,
} from './flow.js';
import type { NflogPacket } from './nflog.js';
import { type PacketSummary, parseIpv4Packet } from './packet.js';

/** A compiled policy state and when it took effect in the datapath. */
export interface PolicySnapshot {
  compiled: CompiledCluster;
  /** ms since epoch when the datapath finished applying it. */
  enforcedAt: number;
  revision: number;
}

export interface AttributionSource {
  /** Recent snapshots, newest first (at least one once the first state is enforced). */
  snapshots(): readonly PolicySnapshot[];
  nodeName?: string;
}

function policiesOf(refs: readonly RuleRef[]): FlowPolicy[] {
  const seen = new Map<string, FlowPolicy>();
  for (const r of refs) {
    const k = `${r.kind}/${r.namespace ?? ''}/${r.name}`;
    if (!seen.has(k))
      seen.set(k, { name: r.name, ...(r.namespace !== undefined ? { namespace: r.namespace } : {}), kind: r.kind });
  }
  return [...seen.values()];
}

/** Sorted label strings per identity, computed once per compiled state. */
const labelCache = new WeakMap<CompiledCluster, Map<number, string[]>>();

function labelsOf(c: CompiledCluster, identity: number): string[] {
  let m = labelCache.get(c);
  if (!m) {
    m = new Map();
    labelCache.set(c, m);
  }
  let l = m.get(identity);
  if (!l) {
    l = [...(c.universe.byId.get(identity)?.labels.strings() ?? [])].sort();
    m.set(identity, l);
  }
  return l;
}

function endpointOf(c: CompiledCluster, ip: string): FlowEndpoint {
  const u = c.universe;
  const identity = identityOfIp(u, ip);
  const pod = u.podByIp.get(ip);
  return {
    identity,
    ...(pod ? { namespace: pod.namespace, pod_name: pod.name } : {}),
    labels: labelsOf(c, identity),
  };
}

function protocolOf(p: PacketSummary): Protocol | undefined {
  return p.protocol === 'OTHER' ? undefined : p.protocol;
}

function layer4(p: PacketSummary): Layer4 | undefined {
  if (p.protocol === 'TCP' && p.sport !== undefined)
    return { TCP: { source_port: p.sport, destination_port: p.dport!, ...(p.tcpFlags ? { flags: p.tcpFlags } : {}) } };
  if (p.protocol === 'UDP' && p.sport !== undefined)
    return { UDP: { source_port: p.sport, destination_port: p.dport! } };
  if (p.protocol === 'SCTP' && p.sport !== undefined)
    return { SCTP: { source_port: p.sport, destination_port: p.dport! } };
  if (p.protocol === 'ICMP' && p.icmp) return { ICMPv4: { type: p.icmp.type, code: p.icmp.code } };
  return undefined;
}

function summaryOf(p: PacketSummary): string | undefined {
  if (p.tcpFlags) {
    const f = Object.entries(p.tcpFlags)
      .filter(([, v]) => v)
      .map(([k]) => k);
    return `TCP Flags: ${f.join(', ')}`;
  }
  return p.protocol === 'OTHER' ? undefined : p.protocol;
}

const KERNEL_VERDICT: Record<LogPrefix['verdict'], FlowVerdictName> = {
  allow: 'FORWARDED',
  redirect: 'REDIRECTED',
  audit: 'AUDIT',
  deny: 'DROPPED',
  denied: 'DROPPED',
};

const LEVEL: Record<LogPrefix['level'], DirectionVerdict['matchedBy']> = {
  ip: 'ip',
  id: 'identity',
  pd: 'pods',
  wc: 'wildcard',
  default: 'default',
};

/** Whether a direction verdict explains what the kernel logged: same outcome, same map level. */
function agrees(kernel: LogPrefix, dv: DirectionVerdict): boolean {
  const k = kernel.verdict;
  const outcome =
    k === 'deny' || k === 'denied'
      ? dv.verdict === 'denied-l3l4' || (dv.audit === true && dv.dropReason !== undefined)
      : k === 'audit'
        ? dv.verdict === 'allowed'
        : k === 'redirect'
          ? dv.l7?.redirected === true
          : dv.verdict === 'allowed' && !dv.l7?.redirected;
  if (!outcome || !dv.enforced) return false;
  // The host's denies are logged as identity-level by the host_out chain.
  return dv.matchedBy === LEVEL[kernel.level] || (dv.matchedBy === 'host' && kernel.level === 'id');
}

/** Hubble policy_match_type of the segment that decided: 0 none, 1 L3-Only, 2 L3-L4, 3 L4-Only, 4 all. */
function matchType(c: CompiledCluster, dv: DirectionVerdict, flow: PolicyFlow, peerIp: string, peerId: number): number {
  if (!dv.endpoint || dv.matchedBy === 'default' || dv.matchedBy === 'unenforced' || dv.matchedBy === undefined)
    return 0;
  const ep = c.endpoints.get(dv.endpoint);
  if (!ep) return 0;
  const { segment, level } = lookupSegment(ep[dv.direction], peerIp, peerId, flow.protocol, flow.dport);
  if (!segment) return 0;
  const allPorts = segment.lo === 0 && segment.hi >= (segment.protocol === 'ICMP' ? 255 : 65535);
  if (level === 'wildcard') return allPorts ? 4 : 3;
  return allPorts ? 1 : 2;
}

interface Attributed {
  snapshot: PolicySnapshot;
  verdict: FlowVerdict;
}

function attribute(
  src: AttributionSource,
  flow: PolicyFlow,
  pick: (v: FlowVerdict) => boolean,
): Attributed | undefined {
  const snaps = src.snapshots();
  let first: Attributed | undefined;
  for (const snapshot of snaps) {
    const verdict = evaluateFlow(snapshot.compiled, flow);
    const a = { snapshot, verdict };
    first ??= a;
    if (pick(verdict)) return a;
  }
  return first;
}

/** What one (kernel verdict, src, dst, protocol, port) is attributed to: the same for every packet of that kind. */
interface L3L4Attribution {
  source: FlowEndpoint;
  destination: FlowEndpoint;
  policyMatchType: number;
  allowedBy?: FlowPolicy[];
  deniedBy?: FlowPolicy[];
}

/**
 * Attributions per newest snapshot (a new compiled state starts a new cache). Most logged packets repeat a pod
 * pair and port (new connections, SYN retransmits), so this keeps the per-event cost to building the record.
 */
const attributionCache = new WeakMap<PolicySnapshot, Map<string, L3L4Attribution | null>>();
const ATTRIBUTION_CACHE_MAX = 8192;

function attributeL3L4(prefix: LogPrefix, flow: PolicyFlow, src: AttributionSource): L3L4Attribution | undefined {
  const newest = src.snapshots()[0];
  if (!newest) return undefined;
  let cache = attributionCache.get(newest);
  if (!cache) {
    cache = new Map();
    attributionCache.set(newest, cache);
  }
  const key = `${prefix.direction}|${prefix.verdict}|${prefix.level}|${flow.srcIp}|${flow.dstIp}|${flow.protocol}|${flow.dport}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit ?? undefined;
  const dir = prefix.direction;
  const a = attribute(src, flow, (v) => agrees(prefix, v[dir]));
  let out: L3L4Attribution | undefined;
  if (a) {
    const c = a.snapshot.compiled;
    const dv = a.verdict[dir];
    const peerIp = dir === 'ingress' ? flow.srcIp : flow.dstIp;
    const peerId = dir === 'ingress' ? a.verdict.srcIdentity : a.verdict.dstIdentity;
    out = {
      source: endpointOf(c, flow.srcIp),
      destination: endpointOf(c, flow.dstIp),
      policyMatchType: prefix.verdict === 'denied' ? 0 : matchType(c, dv, flow, peerIp, peerId),
    };
    if (prefix.verdict === 'denied') out.deniedBy = policiesOf(dv.enforcedBy);
    else if (prefix.verdict === 'deny') out.deniedBy = policiesOf(dv.rules);
    else if (prefix.verdict === 'audit' && dv.dropReason)
      out.deniedBy = policiesOf(dv.dropReason === 'POLICY_DENY' ? dv.rules : dv.enforcedBy);
    else if (dv.rules.length > 0) out.allowedBy = policiesOf(dv.rules);
    // The host reaching a pod: reserved:host, whatever the ipcache says.
    if (dir === 'ingress' && a.verdict.srcIdentity === ID_HOST) out.source = { ...out.source, identity: ID_HOST };
  }
  if (cache.size >= ATTRIBUTION_CACHE_MAX) cache.clear();
  cache.set(key, out ?? null);
  return out;
}

/**
 * One policy verdict as a datapath reports it, whatever carried it (NFLOG from the nftables table, the eBPF
 * programs' ring buffer): what decided (direction, verdict, map level, whether it cut an established connection),
 * the packet, and the peer identity the kernel used when it knows it (0 otherwise).
 */
export interface KernelVerdict {
  time: Date;
  decision: LogPrefix;
  packet: PacketSummary;
  peerIdentity: number;
}

/** An NFLOG packet of the podwall table as a KernelVerdict (undefined: not ours, or not decodable). */
export function verdictFromNflog(pkt: NflogPacket): KernelVerdict | undefined {
  const decision = parseLogPrefix(pkt.prefix);
  const packet = parseIpv4Packet(pkt.payload);
  if (!decision || !packet) return undefined;
  // The packet mark is the peer identity, unless a policy map hit already replaced it with a verdict code.
  return { time: pkt.time, decision, packet, peerIdentity: pkt.mark & CODE_BIT ? 0 : pkt.mark };
}

/** The records for one logged packet of the nftables datapath (see flowsFromVerdict). */
export function flowsFromNflog(pkt: NflogPacket, src: AttributionSource): Flow[] {
  const v = verdictFromNflog(pkt);
  return v ? flowsFromVerdict(v, src) : [];
}

/**
 * The records for one kernel verdict: a policy-verdict event, plus a drop event when the packet was dropped
 * (Hubble reports both). Empty when the packet cannot be described (not TCP/UDP/SCTP/ICMP).
 */
export function flowsFromVerdict(v: KernelVerdict, src: AttributionSource): Flow[] {
  const { decision: prefix, packet: p, peerIdentity } = v;
  const protocol = protocolOf(p);
  if (!protocol) return [];
  const dport = protocol === 'ICMP' ? (p.icmp?.type ?? 0) : (p.dport ?? 0);
  const flow: PolicyFlow = { srcIp: p.src, dstIp: p.dst, protocol, dport };
  const dir = prefix.direction;
  const a = attributeL3L4(prefix, flow, src);
  const verdict = KERNEL_VERDICT[prefix.verdict];
  const base: Flow = {
    time: v.time.toISOString(),
    uuid: randomUUID(),
    verdict,
    IP: { source: p.src, destination: p.dst, ipVersion: 'IPv4' },
    source: a?.source ?? { identity: dir === 'ingress' ? peerIdentity : 0, labels: [] },
    destination: a?.destination ?? { identity: dir === 'egress' ? peerIdentity : 0, labels: [] },
    Type: 'L3_L4',
    ...(src.nodeName ? { node_name: src.nodeName } : {}),
    event_type: { type: EVENT_POLICY_VERDICT },
    traffic_direction: dir === 'ingress' ? 'INGRESS' : 'EGRESS',
    is_reply: false,
  };
  const l4 = layer4(p);
  if (l4) base.l4 = l4;
  const sum = summaryOf(p);
  if (sum) base.Summary = sum;
  if (prefix.verdict === 'deny') base.drop_reason_desc = 'POLICY_DENY';
  if (prefix.verdict === 'denied') base.drop_reason_desc = 'POLICY_DENIED';
  if (a) {
    base.policy_match_type = a.policyMatchType;
    if (a.deniedBy) base[`${dir}_denied_by`] = a.deniedBy;
    if (a.allowedBy) base[`${dir}_allowed_by`] = a.allowedBy;
  }
  if (verdict !== 'DROPPED') return [base];
  const drop: Flow = {
    ...base,
    uuid: randomUUID(),
    event_type: { type: EVENT_DROP, sub_type: DROP_REASONS[base.drop_reason_desc ?? 'POLICY_DENIED'].code },
  };
  delete drop.policy_match_type;
  delete drop.is_reply;
  // A connection cut by a policy change: there is no new-connection verdict, only the drop (as in Cilium, where
  // policy-verdict events are for new connections and re-checked established flows surface as drops).
  if (prefix.cut) return [drop];
  return [base, drop];
}

/**
 * A packet the datapath dropped for a reason of its own, not a policy's: a source address that is not the sending
 * pod's (anti-spoofing), a fragment whose first fragment never came, an L7 redirect the proxy could not take.
 */
export interface DatapathDrop {
  time: Date;
  reason: DropReasonDesc;
  /** Which way the packet was going: egress when its pod sent it, ingress on its way to one. */
  direction: 'ingress' | 'egress';
  packet: PacketSummary;
}

/** The drop record for a DatapathDrop: no policy decided it, so no policy is named; the endpoints by address. */
export function flowsFromDatapathDrop(d: DatapathDrop, src: AttributionSource): Flow[] {
  const p = d.packet;
  const c = src.snapshots()[0]?.compiled;
  const flow: Flow = {
    time: d.time.toISOString(),
    uuid: randomUUID(),
    verdict: 'DROPPED',
    drop_reason_desc: d.reason,
    IP: { source: p.src, destination: p.dst, ipVersion: 'IPv4' },
    source: c ? endpointOf(c, p.src) : { identity: 0, labels: [] },
    destination: c ? endpointOf(c, p.dst) : { identity: 0, labels: [] },
    Type: 'L3_L4',
    ...(src.nodeName ? { node_name: src.nodeName } : {}),
    event_type: { type: EVENT_DROP, sub_type: DROP_REASONS[d.reason].code },
    traffic_direction: d.direction === 'ingress' ? 'INGRESS' : 'EGRESS',
  };
  const l4 = layer4(p);
  if (l4) flow.l4 = l4;
  const sum = summaryOf(p);
  if (sum) flow.Summary = sum;
  return [flow];
}

function isIp(s: string): boolean {
  return /^[0-9.]+$/.test(s) || s.includes(':');
}

/**
 * The records for one HTTP request the proxy handled: `http-request` (DROPPED for a 403), and for a forwarded
 * request also the `http-response` (a reply: source and destination swapped).
 */
export function flowsFromHttp(e: HttpEvent, src: AttributionSource): Flow[] {
  if (e.reason === 'loop' || !e.method) return [];
  const hostName = e.host.replace(/:80$/, '');
  const flow: PolicyFlow = {
    srcIp: e.src.ip,
    dstIp: e.dst.ip,
    protocol: 'TCP',
    dport: e.dst.port,
    sport: e.src.port,
    http: { method: e.method, path: e.url, host: e.host },
  };
  const want = e.verdict === 'denied' && e.reason === 'policy' ? 'denied-l7' : 'allowed';
  const a = attribute(src, flow, (v) => v.verdict === want);
  const c = a?.snapshot.compiled;
  const ingressL7 = a?.verdict.ingress.l7?.redirected === true;
  const egressL7 = a?.verdict.egress.l7?.redirected === true;
  // The side whose L7 rules decided: a denial by the source's egress rules is an egress flow.
  const dir: 'ingress' | 'egress' =
    a && a.verdict.egress.verdict === 'denied-l7' ? 'egress' : ingressL7 || !egressL7 ? 'ingress' : 'egress';
  const verdict: FlowVerdictName =
    e.verdict === 'forwarded' ? 'FORWARDED' : e.verdict === 'error' ? 'ERROR' : 'DROPPED';
  const url = `http://${e.host || e.dst.ip}${e.url}`;
  const srcEp = c ? endpointOf(c, e.src.ip) : { identity: 0, labels: [] };
  const dstEp = c ? endpointOf(c, e.dst.ip) : { identity: 0, labels: [] };
  const request: Flow = {
    time: e.time.toISOString(),
    uuid: randomUUID(),
    verdict,
    IP: { source: e.src.ip, destination: e.dst.ip, ipVersion: 'IPv4' },
    l4: { TCP: { source_port: e.src.port, destination_port: e.dst.port } },
    source: srcEp,
    destination: dstEp,
    Type: 'L7',
    ...(src.nodeName ? { node_name: src.nodeName } : {}),
    event_type: { type: EVENT_L7 },
    traffic_direction: dir === 'ingress' ? 'INGRESS' : 'EGRESS',
    is_reply: false,
    l7: {
      type: 'REQUEST',
      http: { method: e.method, url, protocol: e.protocol, ...(verdict !== 'FORWARDED' ? { code: e.code } : {}) },
    },
    ...(hostName && !isIp(hostName) ? { destination_names: [hostName] } : {}),
    Summary: `${e.protocol} ${e.method} ${url}`,
  };
  if (a) {
    const dv = a.verdict[dir];
    if (verdict === 'FORWARDED') {
      const refs = dv.l7?.matched ? [dv.l7.matched.ref] : dv.rules;
      if (refs.length > 0) request[`${dir}_allowed_by`] = policiesOf(refs);
    } else if (e.reason === 'policy' || e.reason === 'no-policy') {
      const refs = dv.l7?.candidates.map((h) => h.ref) ?? [];
      request[`${dir}_denied_by`] = policiesOf(refs.length > 0 ? refs : dv.enforcedBy);
    }
  }
  if (verdict !== 'FORWARDED') return [request];
  const response: Flow = {
    ...request,
    uuid: randomUUID(),
    time: new Date(e.time.getTime() + Math.round(e.latencyMs)).toISOString(),
    IP: { source: e.dst.ip, destination: e.src.ip, ipVersion: 'IPv4' },
    l4: { TCP: { source_port: e.dst.port, destination_port: e.src.port } },
    source: dstEp,
    destination: srcEp,
    is_reply: true,
    l7: {
      type: 'RESPONSE',
      latency_ns: Math.round(e.latencyMs * 1e6),
      http: { method: e.method, url, protocol: e.protocol, code: e.code },
    },
    Summary: `${e.protocol} ${e.code} ${Math.round(e.latencyMs)}ms (${e.method} ${url})`,
  };
  delete response.destination_names;
  return [request, response];
}
