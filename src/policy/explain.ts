/**
 * Human-readable attribution for verdicts: which policy and rule allowed or denied, or, for a default deny,
 * which policies isolate the endpoint and that no rule admits this peer/port.
 */
import type { DirectionVerdict, FlowVerdict, HttpRule, RuleRef } from './types.js';

const SHORT_KIND: Record<RuleRef['kind'], string> = {
  NetworkPolicy: 'NetworkPolicy',
  CiliumNetworkPolicy: 'CiliumNetworkPolicy',
  CiliumClusterwideNetworkPolicy: 'CiliumClusterwideNetworkPolicy',
  Builtin: 'builtin',
};

/** `CiliumNetworkPolicy default/rule1 spec.ingress[0]` */
export function formatRef(r: RuleRef): string {
  if (r.kind === 'Builtin') {
    if (r.name === 'allow-localhost') return 'builtin allow-localhost (the host may reach local pods)';
    return `builtin ${r.name} (every selecting rule has enableDefaultDeny=false)`;
  }
  const name = r.namespace !== undefined ? `${r.namespace}/${r.name}` : r.name;
  return r.path ? `${SHORT_KIND[r.kind]} ${name} ${r.path}` : `${SHORT_KIND[r.kind]} ${name}`;
}

/** `CiliumNetworkPolicy default/rule1` */
export function formatPolicy(r: RuleRef): string {
  if (r.kind === 'Builtin') return `builtin ${r.name}`;
  return `${SHORT_KIND[r.kind]} ${r.namespace !== undefined ? `${r.namespace}/` : ''}${r.name}`;
}

export function formatHttpRule(h: HttpRule): string {
  const parts: string[] = [];
  if (h.method !== undefined) parts.push(`method=${h.method}`);
  if (h.path !== undefined) parts.push(`path=${h.path}`);
  if (h.host !== undefined) parts.push(`host=${h.host}`);
  for (const hd of h.headers ?? []) parts.push(`header ${hd.name}${hd.value !== undefined ? `=${hd.value}` : ''}`);
  for (const hm of h.headerMatches ?? [])
    parts.push(`headerMatch ${hm.name}${hm.value !== undefined ? `=${hm.value}` : ''}`);
  return `{${parts.join(' ') || 'any request'}} (${formatRef(h.ref)} ${h.httpPath.slice(h.ref.path.length + 1)})`;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** One line (or a few) explaining one direction's verdict. */
export function explainDirection(v: DirectionVerdict): string {
  const who = v.endpoint ?? '';
  const dir = v.direction;
  if (v.verdict === 'not-applicable') return `${dir}: not a local endpoint, not checked`;
  if (!v.enforced) return `${dir} of ${who}: allowed, no policy selects it for ${dir} (not isolated)`;
  const isolated = unique(v.enforcedBy.map(formatPolicy)).join(', ');
  if (v.matchedBy === 'host' && v.verdict === 'allowed' && v.rules.some((r) => r.name === 'allow-localhost'))
    return `${dir} of ${who}: allowed from the host (allow-localhost: the node may reach its pods, never via L7)`;
  if (v.verdict === 'denied-l3l4' || (v.audit && v.dropReason)) {
    const prefix = v.audit ? `${dir} of ${who}: AUDIT (would be dropped)` : `${dir} of ${who}: DROPPED`;
    if (v.dropReason === 'POLICY_DENY')
      return `${prefix} (POLICY_DENY): denied by ${v.rules.map(formatRef).join(', ')}`;
    return `${prefix} (POLICY_DENIED): isolated for ${dir} by ${isolated}; no rule allows this peer and port`;
  }
  const by = v.rules.map(formatRef).join(', ');
  if (v.l7?.redirected) {
    if (v.verdict === 'denied-l7') {
      const cands = v.l7.candidates.map(formatHttpRule).join('; ');
      return `${dir} of ${who}: L3/L4 allowed by ${by}; L7 DENIED (403 Access denied): no HTTP rule matches; rules: ${cands}`;
    }
    if (v.l7.wildcardBy && v.l7.wildcardBy.length > 0) {
      return `${dir} of ${who}: allowed by ${by}; proxied for visibility, every request passes because ${v.l7.wildcardBy.map(formatRef).join(', ')} has no L7 rules`;
    }
    if (v.l7.matched) return `${dir} of ${who}: allowed by ${by}; L7 allowed by ${formatHttpRule(v.l7.matched)}`;
    return `${dir} of ${who}: allowed by ${by}; connection redirected to the L7 proxy (HTTP rules apply per request)`;
  }
  return `${dir} of ${who}: allowed by ${by}`;
}

export function explainFlow(v: FlowVerdict): string {
  return [explainDirection(v.egress), explainDirection(v.ingress)].join('\n');
}
