/**
 * The policy verdict for one request: no policy → deny (fail closed); `wildcard` → allow; else allowed iff some HTTP
 * rule matches (src/policy/l7/http.ts) the method, the *normalised* path and the authority.
 *
 * The header record `matchHttp` wants is built only for policies with header conditions: most rule sets look at
 * method and path only, and the per-request record was a measurable part of the old proxy's cost.
 */
import { type HeaderAction, matchHttp } from '../policy/l7/http.js';
import type { HttpRule, L7Policy, RuleRef } from '../policy/types.js';
import { type Fields, fieldName, fieldValue } from './http1/fields.js';
import type { HttpEvent } from './types.js';

export interface Decision {
  allowed: boolean;
  reason?: HttpEvent['reason'];
  matched?: HttpRule;
  wildcardBy?: RuleRef[];
  actions: HeaderAction[];
}

const NO_ACTIONS: HeaderAction[] = [];
const NO_POLICY: Decision = { allowed: false, reason: 'no-policy', actions: NO_ACTIONS };
const POLICY_DENY: Decision = { allowed: false, reason: 'policy', actions: NO_ACTIONS };

const needsHeadersCache = new WeakMap<L7Policy, boolean>();

/** Some rule of the policy looks at request headers (`headers` or `headerMatches`). */
export function policyNeedsHeaders(p: L7Policy): boolean {
  let v = needsHeadersCache.get(p);
  if (v === undefined) {
    v = p.http.some((r) => (r.headers?.length ?? 0) > 0 || (r.headerMatches?.length ?? 0) > 0);
    needsHeadersCache.set(p, v);
  }
  return v;
}

/** Lower-case name → value, repeated fields as an array (matchHttp joins them with ',', as Envoy does). */
export function headerRecord(f: Fields): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < f.count; i++) {
    const k = fieldName(f, i).toLowerCase();
    const v = fieldValue(f, i);
    const cur = out[k];
    out[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
  }
  return out;
}

export function decide(
  policy: L7Policy | undefined,
  method: string,
  path: string,
  host: string,
  fields: Fields,
): { decision: Decision; headers: Record<string, string | string[]> | undefined } {
  if (!policy) return { decision: NO_POLICY, headers: undefined };
  if (policy.wildcard)
    return { decision: { allowed: true, wildcardBy: policy.wildcardBy, actions: NO_ACTIONS }, headers: undefined };
  const headers = policyNeedsHeaders(policy) ? headerRecord(fields) : undefined;
  const r = matchHttp(policy.http, { method, path, host, headers: headers ?? EMPTY_HEADERS });
  return {
    decision: r.allowed ? { allowed: true, matched: r.matched, actions: r.actions } : POLICY_DENY,
    headers,
  };
}

const EMPTY_HEADERS: Record<string, string> = Object.freeze(Object.create(null));
