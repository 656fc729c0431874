/**
 * Verdict for one flow from the compiled map state: the same lookup the datapath performs (egress of the source
 * endpoint, then ingress of the destination endpoint; per direction ip → identity → wildcard → default), plus
 * the L7 decision the proxy makes. Offline trace, matrix and conformance all call this, so an offline verdict and
 * an enforced one come from one resolver.
 */
import { ID_HOST } from '../identity/reserved.js';
import { podKey } from './cluster.js';
import { matchHttp } from './l7/http.js';
import { type CompiledCluster, isPodIdentity } from './resolve/compile.js';
import { fqdnMatches } from './resolve/fqdn.js';
import { findSegment } from './resolve/segments.js';
import { identityOfIp } from './resolve/universe.js';
import type { Direction, DirectionState, DirectionVerdict, Flow, FlowVerdict, Protocol, Segment } from './types.js';

export interface SegmentLookup {
  segment?: Segment;
  level: NonNullable<DirectionVerdict['matchedBy']>;
}

/** The map-state lookup, exactly as drivers implement it. */
export function lookupSegment(
  state: DirectionState,
  peerIp: string,
  peerIdentity: number,
  protocol: Protocol,
  port: number,
): SegmentLookup {
  if (!state.enforced) return { level: 'unenforced' };
  const ipSegs = state.byIp[peerIp];
  if (ipSegs) {
    const s = findSegment(ipSegs, protocol, port);
    if (s) return { segment: s, level: 'ip' };
  }
  const idSegs = state.byIdentity[peerIdentity];
  if (idSegs) {
    const s = findSegment(idSegs, protocol, port);
    if (s) return { segment: s, level: 'identity' };
  }
  if (isPodIdentity(peerIdentity)) {
    const p = findSegment(state.pods, protocol, port);
    if (p) return { segment: p, level: 'pods' };
  }
  const w = findSegment(state.wildcard, protocol, port);
  if (w) return { segment: w, level: 'wildcard' };
  return { level: 'default' };
}

function directionVerdict(
  state: DirectionState,
  direction: Direction,
  endpoint: string,
  peerIp: string,
  peerIdentity: number,
  flow: Flow,
): DirectionVerdict {
  const { segment, level } = lookupSegment(state, peerIp, peerIdentity, flow.protocol, flow.dport);
  const base = { direction, endpoint, enforced: state.enforced, enforcedBy: state.enforcedBy, matchedBy: level };
  if (level === 'unenforced') return { ...base, verdict: 'allowed', rules: [] };
  if (!segment) {
    if (state.auditDefault) return { ...base, verdict: 'allowed', rules: [], audit: true, dropReason: 'POLICY_DENIED' };
    return { ...base, verdict: 'denied-l3l4', dropReason: 'POLICY_DENIED', rules: [] };
  }
  if (segment.verdict === 'deny') {
    if (segment.audit)
      return { ...base, verdict: 'allowed', rules: segment.rules, audit: true, dropReason: 'POLICY_DENY' };
    return { ...base, verdict: 'denied-l3l4', dropReason: 'POLICY_DENY', rules: segment.rules };
  }
  const v: DirectionVerdict = { ...base, verdict: 'allowed', rules: segment.rules };
  if (segment.l7) {
    v.l7 = { redirected: true, candidates: segment.l7.http };
    if (flow.dns && !segment.l7.wildcard && segment.l7.dns.length > 0) {
      const hit = segment.l7.dns.find((d) => fqdnMatches(d, flow.dns!.query));
      if (!hit) v.verdict = 'denied-l7';
      return v;
    }
    if (segment.l7.wildcard) v.l7.wildcardBy = segment.l7.wildcardBy;
    if (flow.http && !segment.l7.wildcard) {
      const m = matchHttp(segment.l7.http, {
        method: flow.http.method,
        path: flow.http.path,
        host: flow.http.host ?? '',
        headers: Object.fromEntries(Object.entries(flow.http.headers ?? {}).map(([k, val]) => [k.toLowerCase(), val])),
      });
      if (m.matched) v.l7.matched = m.matched;
      if (!m.allowed) v.verdict = 'denied-l7';
    }
  }
  return v;
}

function notApplicable(direction: Direction): DirectionVerdict {
  return { direction, verdict: 'not-applicable', enforced: false, enforcedBy: [], rules: [] };
}

/** Evaluates a post-DNAT flow. Source/destination that are not pods are judged only on the pod's side. */
export function evaluateFlow(c: CompiledCluster, flow: Flow): FlowVerdict {
  const u = c.universe;
  const srcPod = u.podByIp.get(flow.srcIp);
  const dstPod = u.podByIp.get(flow.dstIp);
  const srcIdentity = identityOfIp(u, flow.srcIp);
  const dstIdentity = identityOfIp(u, flow.dstIp);

  const egress = srcPod
    ? directionVerdict(c.endpoints.get(podKey(srcPod))!.egress, 'egress', podKey(srcPod), flow.dstIp, dstIdentity, flow)
    : notApplicable('egress');
  const ingress = dstPod
    ? directionVerdict(
        c.endpoints.get(podKey(dstPod))!.ingress,
        'ingress',
        podKey(dstPod),
        flow.srcIp,
        srcIdentity,
        flow,
      )
    : notApplicable('ingress');
  if (srcIdentity === ID_HOST) ingress.matchedBy = ingress.matchedBy === 'unenforced' ? 'unenforced' : 'host';

  // Egress is decided first: the packet leaves the source before it reaches the destination, and a request the
  // source's egress proxy refuses (403) never reaches the destination at all.
  const deciding = egress.verdict === 'denied-l3l4' || egress.verdict === 'denied-l7' ? egress : ingress;
  const verdict = deciding.verdict === 'not-applicable' ? 'allowed' : deciding.verdict;
  const out: FlowVerdict = { verdict, egress, ingress, srcIdentity, dstIdentity };
  if (verdict === 'denied-l3l4' && deciding.dropReason) out.dropReason = deciding.dropReason;
  return out;
}
