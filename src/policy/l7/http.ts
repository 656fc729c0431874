/**
 * Cilium HTTP rule matching (pkg/policy/api/http.go, enforced by Envoy + cilium/proxy `network_policy.cc`):
 * - within one rule every present field must match (AND); across rules any match admits the request (OR);
 * - `method`, `path`, `host` are RE2 regexes matched against the whole value (full-string), `path` against `:path`
 *   including the query string, `host` against `:authority`;
 * - `headers` entries require presence (no value) or an exact value;
 * - `headerMatches` compare the value exactly (presence when no value). On mismatch the rule fails unless a
 *   mismatch action is set: LOG (still matches, logs), ADD (append the value), DELETE (remove the header),
 *   REPLACE (set the header to the value) — each of those still lets the rule match.
 * - As in cilium/proxy, when some rule has headerMatches every rule is evaluated so the actions of *all* matching
 *   rules are returned; `matched` is the first matching rule in order.
 * Pure: no node:* imports. Regexes are compiled once per pattern string and cached.
 */
import { RE2JS } from 're2js';
import type { HttpRule } from '../types.js';

export interface HttpRequestView {
  method: string;
  /** Normalised path including the query string. */
  path: string;
  /** `:authority` / Host header value. */
  host: string;
  /** Header names lower-case (as node:http gives them). */
  headers: Record<string, string | string[] | undefined>;
}

export type HeaderAction =
  | { kind: 'LOG'; name: string; value?: string; rule: HttpRule }
  | { kind: 'ADD'; name: string; value: string; rule: HttpRule }
  | { kind: 'DELETE'; name: string; value?: string; rule: HttpRule }
  | { kind: 'REPLACE'; name: string; value: string; rule: HttpRule };

export interface HttpMatchResult {
  allowed: boolean;
  matched?: HttpRule;
  /** Header rewrites / logs to apply before forwarding (in rule order). */
  actions: HeaderAction[];
}

const cache = new Map<string, RE2JS | Error>();
const CACHE_MAX = 4096;

/** Compile (cached) an RE2 pattern. Throws on an invalid pattern (validation should have rejected it). */
export function compileRe2(pattern: string): RE2JS {
  let re = cache.get(pattern);
  if (re === undefined) {
    try {
      re = RE2JS.compile(pattern);
    } catch (e) {
      re = e instanceof Error ? e : new Error(String(e));
    }
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(pattern, re);
  }
  if (re instanceof Error) throw re;
  return re;
}

function fullMatch(pattern: string, value: string): boolean {
  try {
    return compileRe2(pattern).matches(value);
  } catch {
    // An invalid regex never matches (fail closed).
    return false;
  }
}

function headerValue(headers: HttpRequestView['headers'], name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return undefined;
  // Envoy matches a multi-valued header as the values joined with ','.
  return Array.isArray(v) ? v.join(',') : v;
}

/** Constant-time-ish string compare (the value may be a secret in Cilium). */
function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

function baseMatches(rule: HttpRule, req: HttpRequestView): boolean {
  if (rule.method !== undefined && !fullMatch(rule.method, req.method)) return false;
  if (rule.path !== undefined && !fullMatch(rule.path, req.path)) return false;
  if (rule.host !== undefined && !fullMatch(rule.host, req.host)) return false;
  for (const h of rule.headers ?? []) {
    const v = headerValue(req.headers, h.name);
    if (v === undefined) return false;
    if (h.value !== undefined && v !== h.value) return false;
  }
  return true;
}

/** Evaluate headerMatches; returns undefined when the rule fails, else the actions it produced. */
function headerMatchActions(rule: HttpRule, req: HttpRequestView): HeaderAction[] | undefined {
  const actions: HeaderAction[] = [];
  for (const hm of rule.headerMatches ?? []) {
    const v = headerValue(req.headers, hm.name);
    const ok = v !== undefined && (hm.value === undefined || safeEqual(v, hm.value));
    if (ok) continue;
    switch (hm.mismatch) {
      case undefined:
        return undefined;
      case 'LOG':
        actions.push({ kind: 'LOG', name: hm.name, value: hm.value, rule });
        break;
      case 'ADD':
        actions.push({ kind: 'ADD', name: hm.name, value: hm.value ?? '', rule });
        break;
      case 'DELETE':
        actions.push({ kind: 'DELETE', name: hm.name, value: hm.value, rule });
        break;
      case 'REPLACE':
        actions.push({ kind: 'REPLACE', name: hm.name, value: hm.value ?? '', rule });
        break;
    }
  }
  return actions;
}

/** Match a request against the union of HTTP rules. An empty rule list admits nothing. */
export function matchHttp(rules: readonly HttpRule[], req: HttpRequestView): HttpMatchResult {
  const haveHeaderMatches = rules.some((r) => (r.headerMatches?.length ?? 0) > 0);
  let matched: HttpRule | undefined;
  const actions: HeaderAction[] = [];
  for (const rule of rules) {
    if (!baseMatches(rule, req)) continue;
    const acts = headerMatchActions(rule, req);
    if (acts === undefined) continue;
    matched ??= rule;
    actions.push(...acts);
    if (!haveHeaderMatches) break;
  }
  return matched ? { allowed: true, matched, actions } : { allowed: false, actions: [] };
}

/**
 * Apply header actions to a header record (lower-case names), returning a new record.
 * ADD appends a value, DELETE removes the header, REPLACE sets it; LOG changes nothing.
 */
export function applyHeaderActions(
  headers: Record<string, string | string[] | undefined>,
  actions: readonly HeaderAction[],
): Record<string, string | string[] | undefined> {
  const out = { ...headers };
  for (const a of actions) {
    const k = a.name.toLowerCase();
    if (a.kind === 'ADD') {
      const cur = out[k];
      out[k] = cur === undefined ? a.value : [...(Array.isArray(cur) ? cur : [cur]), a.value];
    } else if (a.kind === 'DELETE') {
      delete out[k];
    } else if (a.kind === 'REPLACE') {
      out[k] = a.value;
    }
  }
  return out;
}
