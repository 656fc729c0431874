/**
 * The L7 policy the proxy applies to a redirected connection (srcIp → original dstIp:dport), read from the
 * currently enforced compiled state with the same lookups `evaluateFlow` makes: the source endpoint's egress
 * segment (peer = destination) and the destination endpoint's ingress segment (peer = source).
 *
 * - A side that is not enforced, or whose segment carries no L7 rules, does not restrict requests.
 * - A side whose lookup now says "drop" (the policy changed after the connection was redirected) yields no policy:
 *   the proxy denies (fail closed), as the datapath would for a new connection.
 * - When both sides have HTTP rules a request must pass both (evaluateFlow: egress, then ingress). The proxy admits
 *   a request if *any* rule of one list matches, so the two lists are combined into their pairwise intersection.
 *   Two regexes can be intersected exactly when they are equal, when one is absent, or when one is a literal
 *   (then the other must match it in full); any other pair is dropped (fails closed) — see `intersectRules`.
 */
import { ID_HOST } from '../../identity/reserved.js';
import { podKey } from '../../policy/cluster.js';
import { lookupSegment } from '../../policy/evaluate.js';
import { compileRe2 } from '../../policy/l7/http.js';
import type { CompiledCluster } from '../../policy/resolve/compile.js';
import { identityOfIp } from '../../policy/resolve/universe.js';
import type { DirectionState, HttpRule, L7Policy } from '../../policy/types.js';
import type { L7PolicySource } from '../../proxy/server.js';

type Side = { kind: 'open' } | { kind: 'drop' } | { kind: 'l7'; policy: L7Policy };

function side(state: DirectionState | undefined, peerIp: string, peerId: number, dport: number): Side {
  if (!state) return { kind: 'open' };
  const { segment, level } = lookupSegment(state, peerIp, peerId, 'TCP', dport);
  if (level === 'unenforced') return { kind: 'open' };
  if (!segment) return state.auditDefault || state.defaultAllow ? { kind: 'open' } : { kind: 'drop' };
  if (segment.verdict === 'deny') return segment.audit ? { kind: 'open' } : { kind: 'drop' };
  return segment.l7 ? { kind: 'l7', policy: segment.l7 } : { kind: 'open' };
}

const META = /[\\.+*?()|[\]{}^$]/;

function fullMatch(pattern: string, value: string): boolean {
  try {
    return compileRe2(pattern).matches(value);
  } catch {
    return false;
  }
}

/** Both patterns must match: the intersection when it is expressible as one pattern, `null` when empty/unknown. */
function intersectPattern(a: string | undefined, b: string | undefined): string | undefined | null {
  if (a === undefined) return b;
  if (b === undefined || a === b) return a;
  if (!META.test(a)) return fullMatch(b, a) ? a : null;
  if (!META.test(b)) return fullMatch(a, b) ? b : null;
  return null;
}

/** One rule that admits exactly what both `egress` and `ingress` admit, or undefined (see the file header). */
export function intersectRules(egress: HttpRule, ingress: HttpRule): HttpRule | undefined {
  const method = intersectPattern(egress.method, ingress.method);
  const path = intersectPattern(egress.path, ingress.path);
  const host = intersectPattern(egress.host, ingress.host);
  if (method === null || path === null || host === null) return undefined;
  const headers = [...(egress.headers ?? []), ...(ingress.headers ?? [])];
  const headerMatches = [...(egress.headerMatches ?? []), ...(ingress.headerMatches ?? [])];
  return {
    ...(method !== undefined ? { method } : {}),
    ...(path !== undefined ? { path } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(headers.length ? { headers } : {}),
    ...(headerMatches.length ? { headerMatches } : {}),
    ref: ingress.ref,
    httpPath: ingress.httpPath,
  };
}

const OPEN: L7Policy = { http: [], dns: [], wildcard: true, wildcardBy: [] };

export function l7PolicyFor(c: CompiledCluster, srcIp: string, dstIp: string, dport: number): L7Policy | undefined {
  const u = c.universe;
  const srcPod = u.podByIp.get(srcIp);
  const dstPod = u.podByIp.get(dstIp);
  const srcId = identityOfIp(u, srcIp);
  const dstId = identityOfIp(u, dstIp);
  const eg = srcPod ? side(c.endpoints.get(podKey(srcPod))?.egress, dstIp, dstId, dport) : ({ kind: 'open' } as Side);
  // The host reaches pods without the proxy (allow-localhost); a host connection here is not L7-restricted.
  const ing =
    dstPod && srcId !== ID_HOST
      ? side(c.endpoints.get(podKey(dstPod))?.ingress, srcIp, srcId, dport)
      : ({ kind: 'open' } as Side);
  if (eg.kind === 'drop' || ing.kind === 'drop') return undefined;
  const restricting = [eg, ing].flatMap((s) => (s.kind === 'l7' && !s.policy.wildcard ? [s.policy] : []));
  if (restricting.length === 0) {
    const wildcardBy = [eg, ing].flatMap((s) => (s.kind === 'l7' ? s.policy.wildcardBy : []));
    return wildcardBy.length ? { ...OPEN, wildcardBy } : OPEN;
  }
  if (restricting.length === 1) return restricting[0];
  const [e, i] = restricting as [L7Policy, L7Policy];
  const http: HttpRule[] = [];
  for (const a of e.http)
    for (const b of i.http) {
      const r = intersectRules(a, b);
      if (r) http.push(r);
    }
  return { http, dns: [], wildcard: false, wildcardBy: [] };
}

/** An `L7PolicySource` over whatever compiled state is current when the proxy asks. */
export function compiledL7Source(current: () => CompiledCluster | undefined): L7PolicySource {
  return {
    lookup(srcIp, dstIp, dport) {
      const c = current();
      return c ? l7PolicyFor(c, srcIp, dstIp, dport) : undefined;
    },
  };
}
