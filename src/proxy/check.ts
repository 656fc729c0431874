/**
 * Request-level checks after a head parsed: one Host, Transfer-Encoding only `chunked`, no CONNECT, absolute-form
 * authority agreeing with Host, Host present on HTTP/1.1, and the target normalised (src/policy/l7/path.ts) — the
 * normalised path is what the rules are matched against and what the upstream receives.
 */
import { normalizePath } from '../policy/l7/path.js';
import type { RequestHead } from './http1/request.js';
import type { HttpEvent } from './types.js';

export interface Checked {
  ok: true;
  path: string;
  host: string;
}
export interface Rejected {
  ok: false;
  status: number;
  reason: HttpEvent['reason'];
  error: string;
}

const ABSOLUTE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;
const AUTHORITY_PREFIX = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/;

function hostsEqual(a: string, b: string): boolean {
  const norm = (h: string) => h.toLowerCase().replace(/:80$/, '');
  return norm(a) === norm(b);
}

const bad = (error: string): Rejected => ({ ok: false, status: 400, reason: 'bad-request', error });

/** `pchar` minus `%` plus `/` — the characters `normalizePath` keeps as they are (its ALLOWED set). */
const PLAIN = (() => {
  const t = new Uint8Array(128);
  for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/")
    t[c.charCodeAt(0)] = 1;
  return t;
})();

/**
 * True when `normalizePath(target)` would return `target` unchanged, decided in one pass: the path part (before
 * `?`) starts with `/` and has only characters normalizePath keeps, no `//` (merged) and no `/.` (every dot segment,
 * and every `.;`-style segment, starts with it); no `#` anywhere (an error). Saves the general normaliser on the
 * common request; `check.test.ts` holds the property that both agree.
 */
export function isNormalPath(target: string): boolean {
  if (target.charCodeAt(0) !== 0x2f) return false;
  const n = target.length;
  let prev = 0x2f;
  let i = 1;
  for (; i < n; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x3f) break;
    if (c >= 128 || PLAIN[c] !== 1) return false;
    if (prev === 0x2f && (c === 0x2f || c === 0x2e)) return false;
    prev = c;
  }
  return i === n || target.indexOf('#', i) < 0;
}

export function checkRequest(h: RequestHead): Checked | Rejected {
  if (h.hostCount > 1) return bad('multiple Host headers');
  if (h.teError) return bad('unsupported transfer-encoding');
  if (h.method === 'CONNECT') return bad('CONNECT is not proxied');
  let target = h.target;
  let host = h.host;
  if (target.charCodeAt(0) !== 0x2f && ABSOLUTE.test(target)) {
    // absolute-form: the authority is the :authority; a disagreeing Host header is an attack or a bug.
    let u: URL;
    try {
      u = new URL(target);
    } catch {
      return bad('invalid absolute-form target');
    }
    if (u.protocol !== 'http:') return bad('unsupported scheme');
    if (u.username || u.password) return bad('userinfo in target');
    if (host && !hostsEqual(host, u.host)) return bad('Host header disagrees with absolute-form authority');
    host = u.host;
    const rest = target.replace(AUTHORITY_PREFIX, '');
    target = rest === '' ? '/' : rest;
  }
  if (h.minor !== 0 && !host) return bad('missing Host');
  if (isNormalPath(target)) return { ok: true, path: target, host };
  const n = normalizePath(target);
  if (n.error !== undefined) return bad(n.error);
  return { ok: true, path: n.path, host };
}
