/**
 * HTTP request-target normalisation, modelled on Envoy's HTTP connection manager options
 * `normalize_path: true` (Chromium's URL path canonicaliser: RFC 3986 §5.2.4 dot-segment removal, decoding of
 * percent-encoded unreserved characters) followed by `merge_slashes: true`.
 *
 * The proxy matches L7 rules against the normalised path and forwards the request with that same path, so what is
 * checked is exactly what the upstream receives. Choices (documented in src/proxy/README.md):
 * - The query string is split off at the first `?`, left untouched, and re-attached: Cilium/Envoy match `:path`
 *   *including* the query, so `path: /public` does not match `/public?a=1`.
 * - A fragment (`#`) is an error (Envoy's default `http_reject_path_with_fragment`).
 * - `%XX` of an unreserved character (ALPHA / DIGIT / `-` `.` `_` `~`) is decoded; other escapes keep their meaning and
 *   get upper-case hex. Malformed escapes (`%`, `%4`, `%zz`) are an error.
 * - Encoded slash / backslash (`%2F`, `%5C`) is an error (Envoy's `path_with_escaped_slashes_action: REJECT_REQUEST`);
 *   forwarding them unchanged would let an upstream that decodes them see a different path than the one checked.
 * - A raw backslash is treated as `/` (what the URL canonicaliser does for http).
 * - `;` is an ordinary character (as in Envoy), but a segment that is a dot segment followed by parameters
 *   (`..;x`, `.;x`, also encoded) is an error: servlet containers read `/..;/` as `/../`.
 * - Bytes outside RFC 3986 `pchar` / `/` are percent-encoded (as the canonicaliser does); Node's strict HTTP parser
 *   already rejects controls and spaces.
 * - Dot segments never climb above the root: `/../a` is `/a`.
 * - Slashes are merged after dot-segment removal, as Envoy orders the two options: `/a//../b` → `/a/b`.
 */

export interface NormalizedPath {
  /** Normalised path including the original query string (`/a/b?x=1`). Empty when `error` is set. */
  path: string;
  error?: string;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** pchar minus pct-encoded (handled separately), plus `/`. */
const ALLOWED = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;

const HEX = '0123456789ABCDEF';

function pctEncodeByte(b: number): string {
  return `%${HEX[b >> 4]}${HEX[b & 15]}`;
}

function encodeChar(ch: string): string {
  const bytes = new TextEncoder().encode(ch);
  let out = '';
  for (const b of bytes) out += pctEncodeByte(b);
  return out;
}

/** Decode unreserved escapes, canonicalise the rest. Returns undefined + reason on error. */
function canonicalizeChars(raw: string): { out: string } | { error: string } {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '%') {
      const h = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(h)) return { error: `malformed percent-encoding at offset ${i}` };
      const code = Number.parseInt(h, 16);
      const dec = String.fromCharCode(code);
      if (code === 0x2f || code === 0x5c) return { error: 'encoded slash or backslash in path' };
      out += UNRESERVED.test(dec) ? dec : `%${h.toUpperCase()}`;
      i += 2;
    } else if (ch === '\\') {
      out += '/';
    } else if (ALLOWED.test(ch)) {
      out += ch;
    } else {
      out += encodeChar(ch);
    }
  }
  return { out };
}

/** RFC 3986 §5.2.4 remove_dot_segments, on an absolute path. */
function removeDotSegments(input: string): string {
  const out: string[] = [];
  const segs = input.split('/');
  // segs[0] is '' (path starts with '/').
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  }
  return `/${out.join('/')}`;
}

/** Normalise an origin-form request target (`/path?query`). */
export function normalizePath(raw: string): NormalizedPath {
  if (raw.includes('#')) return { path: '', error: 'fragment in request target' };
  const q = raw.indexOf('?');
  const pathPart = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q);
  if (!pathPart.startsWith('/') && !pathPart.startsWith('\\')) {
    return { path: '', error: 'request target is not an absolute path' };
  }
  const c = canonicalizeChars(pathPart);
  if ('error' in c) return { path: '', error: c.error };
  for (const seg of c.out.split('/')) {
    const semi = seg.indexOf(';');
    if (semi >= 0) {
      const head = seg.slice(0, semi);
      if (head === '.' || head === '..') return { path: '', error: 'dot segment with parameters' };
    }
  }
  const dotted = removeDotSegments(c.out);
  const merged = dotted.replace(/\/{2,}/g, '/');
  return { path: merged + query };
}
