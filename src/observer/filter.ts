/**
 * Flow filters with `hubble observe` semantics: values of one flag are ORed, flags are ANDed. Pod names are
 * `[namespace/]name-prefix` with namespace `default` when omitted. Plain data in, predicate out (pure).
 */
import { DROP_REASONS } from './drop-reasons.js';
import { EVENT_DROP, EVENT_L7, EVENT_POLICY_VERDICT, type Flow, type FlowEndpoint, VERDICTS } from './flow.js';

export const FLOW_TYPES = ['l7', 'policy-verdict', 'drop'] as const;
export type FlowType = (typeof FLOW_TYPES)[number];
export const FLOW_PROTOCOLS = ['tcp', 'udp', 'sctp', 'icmp', 'http'] as const;

export interface FlowFilter {
  verdict?: string[];
  /** Either side. */
  pod?: string[];
  fromPod?: string[];
  toPod?: string[];
  /** Either side. */
  namespace?: string[];
  protocol?: string[];
  type?: string[];
  /** `403`, or a prefix with `+`: `5+`, `40+`. */
  httpStatus?: string[];
  /** Hubble drop reason names (`POLICY_DENIED`, `INVALID_SOURCE_IP`, ...), case-insensitive. */
  dropReasonDesc?: string[];
  /** Only flows at or after this time (ms since epoch). */
  sinceMs?: number;
}

/** Problems with a filter (unknown verdict, type, protocol, bad status), for a clear CLI error. */
export function checkFilter(f: FlowFilter): string[] {
  const errs: string[] = [];
  for (const v of f.verdict ?? [])
    if (!(VERDICTS as readonly string[]).includes(v.toUpperCase()))
      errs.push(`invalid --verdict ${JSON.stringify(v)}: want one of ${VERDICTS.join(', ')}`);
  for (const t of f.type ?? [])
    if (!(FLOW_TYPES as readonly string[]).includes(t.toLowerCase()))
      errs.push(`invalid --type ${JSON.stringify(t)}: want one of ${FLOW_TYPES.join(', ')}`);
  for (const p of f.protocol ?? [])
    if (!(FLOW_PROTOCOLS as readonly string[]).includes(p.toLowerCase()))
      errs.push(`invalid --protocol ${JSON.stringify(p)}: want one of ${FLOW_PROTOCOLS.join(', ')}`);
  for (const r of f.dropReasonDesc ?? [])
    if (!Object.hasOwn(DROP_REASONS, r.toUpperCase()))
      errs.push(`invalid --drop-reason-desc ${JSON.stringify(r)}: want one of ${Object.keys(DROP_REASONS).join(', ')}`);
  for (const s of f.httpStatus ?? [])
    if (!/^[1-5][0-9]{0,2}\+?$/.test(s) || (!s.endsWith('+') && s.length !== 3))
      errs.push(`invalid --http-status ${JSON.stringify(s)}: want a code like 403 or a prefix like 5+`);
  return errs;
}

function podMatcher(spec: string): (e: FlowEndpoint) => boolean {
  const i = spec.indexOf('/');
  const ns = i >= 0 ? spec.slice(0, i) : 'default';
  const prefix = i >= 0 ? spec.slice(i + 1) : spec;
  return (e) => e.namespace === ns && e.pod_name !== undefined && e.pod_name.startsWith(prefix);
}

function protocolOf(f: Flow): string[] {
  const out: string[] = [];
  if (f.l7?.http) out.push('http');
  if (f.l4?.TCP) out.push('tcp');
  if (f.l4?.UDP) out.push('udp');
  if (f.l4?.SCTP) out.push('sctp');
  if (f.l4?.ICMPv4) out.push('icmp');
  return out;
}

function typeOf(f: Flow): FlowType | undefined {
  switch (f.event_type.type) {
    case EVENT_L7:
      return 'l7';
    case EVENT_POLICY_VERDICT:
      return 'policy-verdict';
    case EVENT_DROP:
      return 'drop';
    default:
      return undefined;
  }
}

function statusMatcher(spec: string): (code: number | undefined) => boolean {
  if (spec.endsWith('+')) {
    const prefix = spec.slice(0, -1);
    return (c) => c !== undefined && String(c).startsWith(prefix);
  }
  return (c) => c !== undefined && String(c) === spec;
}

type Pred = (f: Flow) => boolean;

function anyOf<T>(values: T[] | undefined, make: (v: T) => Pred): Pred | undefined {
  if (!values || values.length === 0) return undefined;
  const preds = values.map(make);
  return (f) => preds.some((p) => p(f));
}

export function compileFilter(filter: FlowFilter): Pred {
  const preds: Pred[] = [];
  const add = (p: Pred | undefined) => {
    if (p) preds.push(p);
  };
  add(
    anyOf(filter.verdict, (v) => {
      const want = v.toUpperCase();
      return (f) => f.verdict === want;
    }),
  );
  add(
    anyOf(filter.pod, (s) => {
      const m = podMatcher(s);
      return (f) => m(f.source) || m(f.destination);
    }),
  );
  add(
    anyOf(filter.fromPod, (s) => {
      const m = podMatcher(s);
      return (f) => m(f.source);
    }),
  );
  add(
    anyOf(filter.toPod, (s) => {
      const m = podMatcher(s);
      return (f) => m(f.destination);
    }),
  );
  add(anyOf(filter.namespace, (ns) => (f) => f.source.namespace === ns || f.destination.namespace === ns));
  add(
    anyOf(filter.protocol, (p) => {
      const want = p.toLowerCase();
      return (f) => protocolOf(f).includes(want);
    }),
  );
  add(
    anyOf(filter.type, (t) => {
      const want = t.toLowerCase();
      return (f) => typeOf(f) === want;
    }),
  );
  add(
    anyOf(filter.httpStatus, (s) => {
      const m = statusMatcher(s);
      return (f) => m(f.l7?.http.code);
    }),
  );
  add(
    anyOf(filter.dropReasonDesc, (r) => {
      const want = r.toUpperCase();
      return (f) => f.drop_reason_desc === want;
    }),
  );
  if (filter.sinceMs !== undefined) {
    const since = filter.sinceMs;
    preds.push((f) => Date.parse(f.time) >= since);
  }
  return (f) => preds.every((p) => p(f));
}
