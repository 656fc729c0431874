/**
 * Turns overlapping rule contributions for one peer into disjoint port segments with one outcome each.
 * This is where precedence lives: a deny anywhere in a segment wins; otherwise the union of allows decides,
 * and L7 rules apply only when every allow covering the segment carries them (Cilium's "L4 allow cancels L7").
 */
import type { DnsRule, HttpRule, L7Policy, Protocol, RuleRef, Segment } from '../types.js';

export interface Contribution {
  protocol: Protocol;
  lo: number;
  hi: number;
  verdict: 'allow' | 'deny';
  ref: RuleRef;
  http?: HttpRule[];
  dns?: DnsRule[];
  audit?: boolean;
}

const refKeys = new WeakMap<RuleRef, string>();

/** Stable text key of a rule reference (memoised: refs are shared by every segment they produce). */
export function refKey(r: RuleRef): string {
  let k = refKeys.get(r);
  if (k === undefined) {
    k = `${r.kind}/${r.namespace ?? ''}/${r.name}/${r.path}`;
    refKeys.set(r, k);
  }
  return k;
}

const PROTO_ORDER: Record<Protocol, number> = { TCP: 0, UDP: 1, SCTP: 2, ICMP: 3 };

function uniqueRefs(refs: RuleRef[]): RuleRef[] {
  const seen = new Map<string, RuleRef>();
  for (const r of refs) if (!seen.has(refKey(r))) seen.set(refKey(r), r);
  return [...seen.values()].sort((a, b) => (refKey(a) < refKey(b) ? -1 : refKey(a) > refKey(b) ? 1 : 0));
}

function uniqueBy<T>(items: T[], key: (t: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const i of items) if (!seen.has(key(i))) seen.set(key(i), i);
  return [...seen.values()];
}

function outcome(covering: Contribution[], stripL7: boolean): Segment | undefined {
  if (covering.length === 0) return undefined;
  const denies = covering.filter((c) => c.verdict === 'deny');
  const first = covering[0]!;
  if (denies.length > 0) {
    const seg: Segment = {
      protocol: first.protocol,
      lo: 0,
      hi: 0,
      verdict: 'deny',
      rules: uniqueRefs(denies.map((d) => d.ref)),
    };
    if (denies.every((d) => d.audit)) seg.audit = true;
    return seg;
  }
  const seg: Segment = {
    protocol: first.protocol,
    lo: 0,
    hi: 0,
    verdict: 'allow',
    rules: uniqueRefs(covering.map((c) => c.ref)),
  };
  if (stripL7) return seg;
  const withL7 = covering.filter((c) => (c.http?.length ?? 0) > 0 || (c.dns?.length ?? 0) > 0);
  if (withL7.length > 0) {
    const without = covering.filter((c) => !withL7.includes(c));
    const l7: L7Policy = {
      http: uniqueBy(
        withL7.flatMap((c) => c.http ?? []),
        (h) => `${refKey(h.ref)}#${h.httpPath}`,
      ),
      dns: uniqueBy(
        withL7.flatMap((c) => c.dns ?? []),
        (d) => `${refKey(d.ref)}#${d.matchName ?? ''}#${d.matchPattern ?? ''}`,
      ),
      wildcard: without.length > 0,
      wildcardBy: uniqueRefs(without.map((c) => c.ref)),
    };
    seg.l7 = l7;
  }
  return seg;
}

function signature(s: Segment): string {
  const l7 = s.l7
    ? `${s.l7.wildcard}|${s.l7.http.map((h) => `${refKey(h.ref)}#${h.httpPath}`).join(',')}|${s.l7.dns.map((d) => d.matchName ?? d.matchPattern).join(',')}|${s.l7.wildcardBy.map(refKey).join(',')}`
    : '';
  return `${s.verdict}|${s.audit ?? false}|${s.rules.map(refKey).join(',')}|${l7}`;
}

/**
 * Disjoint segments, sorted by protocol then port, adjacent runs with the same outcome merged.
 * `stripL7`: never redirect (the host's allow-localhost traffic is not proxied).
 */
export function sweep(contribs: Contribution[], stripL7 = false): Segment[] {
  const byProto = new Map<Protocol, Contribution[]>();
  for (const c of contribs) {
    const list = byProto.get(c.protocol);
    if (list) list.push(c);
    else byProto.set(c.protocol, [c]);
  }
  const out: Segment[] = [];
  const protos = [...byProto.keys()].sort((a, b) => PROTO_ORDER[a] - PROTO_ORDER[b]);
  for (const proto of protos) {
    const list = byProto.get(proto)!;
    if (list.length === 1) {
      const c = list[0]!;
      const seg = outcome(list, stripL7)!;
      out.push({ ...seg, lo: c.lo, hi: c.hi });
      continue;
    }
    const points = new Set<number>();
    for (const c of list) {
      points.add(c.lo);
      points.add(c.hi + 1);
    }
    const bounds = [...points].sort((a, b) => a - b);
    let prev: { seg: Segment; sig: string } | undefined;
    for (let k = 0; k + 1 < bounds.length; k++) {
      const lo = bounds[k]!;
      const hi = bounds[k + 1]! - 1;
      const covering = list.filter((c) => c.lo <= lo && c.hi >= hi);
      const seg = outcome(covering, stripL7);
      if (!seg) {
        prev = undefined;
        continue;
      }
      seg.lo = lo;
      seg.hi = hi;
      const sig = signature(seg);
      if (prev && prev.sig === sig && prev.seg.hi + 1 === lo) {
        prev.seg.hi = hi;
      } else {
        out.push(seg);
        prev = { seg, sig };
      }
    }
  }
  return out;
}

/** The segment containing (protocol, port), by binary search over sorted disjoint segments. */
export function findSegment(
  segs: readonly Segment[] | undefined,
  protocol: Protocol,
  port: number,
): Segment | undefined {
  if (!segs || segs.length === 0) return undefined;
  let lo = 0;
  let hi = segs.length - 1;
  const p = PROTO_ORDER[protocol];
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = segs[mid]!;
    const sp = PROTO_ORDER[s.protocol];
    if (sp < p || (sp === p && s.hi < port)) lo = mid + 1;
    else if (sp > p || s.lo > port) hi = mid - 1;
    else return s;
  }
  return undefined;
}
