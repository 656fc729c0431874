/**
 * Hubble's compact one-line output (hubble/pkg/printer):
 *   `<time>: <src> -> <dst> <type> <verdict> (<summary>)`
 * e.g. `default/xwing:42818 (ID:22654) -> default/deathstar-…:80 (ID:16530) policy-verdict:none INGRESS DENIED (TCP Flags: SYN)`,
 * `default/tiefighter:42742 (ID:31028) -> default/deathstar-…:80 (ID:16530) http-request DROPPED (HTTP/1.1 PUT http://…)`.
 * Replies flip the sides and use `<-`; drops (reply unknown) use `<>`. With `printPolicyNames`,
 * `ALLOWED BY <kind> <ns>/<name>` / `DENIED BY …` is appended. Pure.
 */
import { DROP_REASONS } from './drop-reasons.js';
import { EVENT_DROP, EVENT_L7, EVENT_POLICY_VERDICT, type Flow, type FlowEndpoint, type FlowPolicy } from './flow.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.StampMilli (`Jan _2 15:04:05.000`), local time. */
export function stampMilli(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

const RESERVED: Record<number, string> = {
  1: 'host',
  2: 'world',
  3: 'unmanaged',
  4: 'health',
  5: 'init',
  6: 'remote-node',
  7: 'kube-apiserver',
  8: 'ingress',
  9: 'world-ipv4',
  10: 'world-ipv6',
};

function ports(f: Flow): { s?: number; d?: number } {
  const l4 = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
  return l4 ? { s: l4.source_port, d: l4.destination_port } : {};
}

function endpoint(ip: string, port: number | undefined, e: FlowEndpoint): string {
  const name = e.pod_name ? `${e.namespace}/${e.pod_name}` : ip;
  const where = port !== undefined ? `${name}:${port}` : name;
  const id = RESERVED[e.identity] ?? `ID:${e.identity}`;
  return `${where} (${id})`;
}

const MATCH = ['none', 'L3-Only', 'L3-L4', 'L4-Only', 'all'];

function typeText(f: Flow): string {
  switch (f.event_type.type) {
    case EVENT_POLICY_VERDICT:
      return `policy-verdict:${MATCH[f.policy_match_type ?? 0] ?? 'none'} ${f.traffic_direction}`;
    case EVENT_DROP:
      return DROP_REASONS[f.drop_reason_desc ?? 'POLICY_DENIED'].text;
    case EVENT_L7:
      return f.l7?.type === 'RESPONSE' ? 'http-response' : 'http-request';
    default:
      return 'trace';
  }
}

function verdictText(f: Flow): string {
  if (f.event_type.type !== EVENT_POLICY_VERDICT) return f.verdict;
  switch (f.verdict) {
    case 'FORWARDED':
      return 'ALLOWED';
    case 'DROPPED':
      return 'DENIED';
    case 'AUDIT':
      return 'AUDITED';
    default:
      return f.verdict;
  }
}

const ICMP_TYPES: Record<number, string> = {
  0: 'EchoReply',
  3: 'DestinationUnreachable',
  8: 'EchoRequest',
  11: 'TimeExceeded',
};

function summary(f: Flow): string {
  const h = f.l7?.http;
  if (h) {
    if (f.l7?.type === 'RESPONSE') {
      const ms = Math.round((f.l7.latency_ns ?? 0) / 1e6);
      return `${h.protocol} ${h.code ?? 0} ${ms}ms (${h.method} ${h.url})`;
    }
    return `${h.protocol} ${h.method} ${h.url}`;
  }
  if (f.l4?.TCP) {
    const flags = Object.entries(f.l4.TCP.flags ?? {})
      .filter(([, v]) => v)
      .map(([k]) => k);
    return `TCP Flags: ${flags.join(', ')}`;
  }
  if (f.l4?.UDP) return 'UDP';
  if (f.l4?.SCTP) return 'SCTP';
  if (f.l4?.ICMPv4) return `ICMPv4 ${ICMP_TYPES[f.l4.ICMPv4.type] ?? `type ${f.l4.ICMPv4.type}`}`;
  return '';
}

export function formatPolicyRef(p: FlowPolicy): string {
  return `${p.kind} ${p.namespace !== undefined ? `${p.namespace}/` : ''}${p.name}`;
}

function policyNames(f: Flow): string {
  const allowed = [...(f.egress_allowed_by ?? []), ...(f.ingress_allowed_by ?? [])];
  const denied = [...(f.egress_denied_by ?? []), ...(f.ingress_denied_by ?? [])];
  const parts: string[] = [];
  if (denied.length > 0) parts.push(`DENIED BY ${denied.map(formatPolicyRef).join(', ')}`);
  else if (allowed.length > 0) parts.push(`ALLOWED BY ${allowed.map(formatPolicyRef).join(', ')}`);
  return parts.length ? ` ${parts.join(' ')}` : '';
}

export interface CompactOptions {
  printPolicyNames?: boolean;
  /** Leave the timestamp out (tests, the demo). */
  noTime?: boolean;
}

export function formatCompact(f: Flow, opts: CompactOptions = {}): string {
  const { s, d } = ports(f);
  let src = endpoint(f.IP.source, s, f.source);
  let dst = endpoint(f.IP.destination, d, f.destination);
  let arrow = '->';
  if (f.event_type.type === EVENT_DROP) arrow = '<>';
  else if (f.is_reply) {
    [src, dst] = [dst, src];
    arrow = '<-';
  }
  const sum = summary(f);
  const head = opts.noTime ? '' : `${stampMilli(f.time)}: `;
  return `${head}${src} ${arrow} ${dst} ${typeText(f)} ${verdictText(f)}${sum ? ` (${sum})` : ''}${opts.printPolicyNames ? policyNames(f) : ''}`;
}
