/**
 * Header field lines (RFC 9112 §5, RFC 9110 §5), parsed strictly from a complete head: `name ":" OWS value OWS
 * CRLF` with a token name, no whitespace before the colon, no obs-fold (a line starting with SP/HTAB), no CTLs or
 * bare CR in values. Fields are kept as offsets into the head buffer, so forwarding can copy the original lines
 * byte for byte and strings are made only for the few fields the proxy reads.
 */
import { COLON, CR, equalsLower, FIELD_CHAR, HTAB, LF, latin1, SP, TCHAR } from './chars.js';

export const H_OTHER = 0;
export const H_HOST = 1;
export const H_CONTENT_LENGTH = 2;
export const H_DATE = 3;
export const H_EXPECT = 4;
/** Flag of the hop-by-hop fields (RFC 9110 §7.6.1, plus the legacy ones): never forwarded as received. */
export const H_HOP = 16;
export const H_CONNECTION = H_HOP | 1;
export const H_KEEP_ALIVE = H_HOP | 2;
export const H_PROXY_CONNECTION = H_HOP | 3;
export const H_TE = H_HOP | 4;
export const H_TRAILER = H_HOP | 5;
export const H_TRANSFER_ENCODING = H_HOP | 6;
export const H_UPGRADE = H_HOP | 7;
export const H_PROXY_AUTHENTICATE = H_HOP | 8;
export const H_PROXY_AUTHORIZATION = H_HOP | 9;

/** Offsets of field i are at.slice(5i, 5i + 5). */
export const F_LINE = 0;
export const F_NAME_END = 1;
export const F_VALUE = 2;
export const F_VALUE_END = 3;
export const F_LINE_END = 4;

export interface Fields {
  buf: Buffer;
  count: number;
  /** Per field: line start, name end, value start, value end (OWS trimmed), line end (after CRLF). */
  at: number[];
  /** Per field: an H_* code. */
  kind: number[];
}

/** The fields the proxy treats specially, recognised by length and then bytes (no string per name). */
export function fieldKind(buf: Buffer, s: number, e: number): number {
  switch (e - s) {
    case 2:
      return equalsLower(buf, s, e, 'te') ? H_TE : H_OTHER;
    case 4:
      if (equalsLower(buf, s, e, 'host')) return H_HOST;
      return equalsLower(buf, s, e, 'date') ? H_DATE : H_OTHER;
    case 6:
      return equalsLower(buf, s, e, 'expect') ? H_EXPECT : H_OTHER;
    case 7:
      if (equalsLower(buf, s, e, 'upgrade')) return H_UPGRADE;
      return equalsLower(buf, s, e, 'trailer') ? H_TRAILER : H_OTHER;
    case 10:
      if (equalsLower(buf, s, e, 'connection')) return H_CONNECTION;
      return equalsLower(buf, s, e, 'keep-alive') ? H_KEEP_ALIVE : H_OTHER;
    case 14:
      return equalsLower(buf, s, e, 'content-length') ? H_CONTENT_LENGTH : H_OTHER;
    case 16:
      return equalsLower(buf, s, e, 'proxy-connection') ? H_PROXY_CONNECTION : H_OTHER;
    case 17:
      return equalsLower(buf, s, e, 'transfer-encoding') ? H_TRANSFER_ENCODING : H_OTHER;
    case 18:
      return equalsLower(buf, s, e, 'proxy-authenticate') ? H_PROXY_AUTHENTICATE : H_OTHER;
    case 19:
      return equalsLower(buf, s, e, 'proxy-authorization') ? H_PROXY_AUTHORIZATION : H_OTHER;
    default:
      return H_OTHER;
  }
}

/**
 * Parse the field lines of buf[pos, end), where `end` is just after the empty line that ends the head (the head
 * reader guarantees every LF follows a CR). Returns the fields, or an error text (→ 400).
 */
export function parseFields(buf: Buffer, pos: number, end: number): Fields | string {
  const at: number[] = [];
  const kind: number[] = [];
  const stop = end - 2;
  let b: number;
  while (pos < stop) {
    const ls = pos;
    b = buf[pos]!;
    if (b === SP || b === HTAB) return 'obs-fold (line folding) in header field';
    while (TCHAR[buf[pos]!] === 1) pos++;
    if (pos === ls) return 'invalid header field name';
    // Also rejects whitespace between name and colon (RFC 9112 §5.1: MUST be a 400).
    if (buf[pos] !== COLON) return 'invalid character in header field name';
    const ne = pos++;
    b = buf[pos]!;
    while (b === SP || b === HTAB) b = buf[++pos]!;
    const vs = pos;
    let ve = pos;
    // Up to the CR; the head reader guarantees one before the end of the head.
    while (b !== CR) {
      if (FIELD_CHAR[b] !== 1) return 'invalid character in header field value';
      pos++;
      if (b !== SP && b !== HTAB) ve = pos;
      b = buf[pos]!;
    }
    if (buf[pos + 1] !== LF) return 'bare CR in header field';
    pos += 2;
    at.push(ls, ne, vs, ve, pos);
    kind.push(fieldKind(buf, ls, ne));
  }
  return { buf, count: kind.length, at, kind };
}

export function fieldName(f: Fields, i: number): string {
  return latin1(f.buf, f.at[5 * i]!, f.at[5 * i + F_NAME_END]!);
}

export function fieldValue(f: Fields, i: number): string {
  return latin1(f.buf, f.at[5 * i + F_VALUE]!, f.at[5 * i + F_VALUE_END]!);
}

/** Case-insensitive: the whole value equals `lower` (letters, digits, `-`). */
export function valueIs(f: Fields, i: number, lower: string): boolean {
  return equalsLower(f.buf, f.at[5 * i + F_VALUE]!, f.at[5 * i + F_VALUE_END]!, lower);
}

/** Max Content-Length digits: keeps the value an exact JS integer (< 2^53). */
const MAX_CL_DIGITS = 15;

/** Content-Length value: 1*DIGIT only (no sign, no list, no spaces inside), else -1. */
export function contentLengthValue(f: Fields, i: number): number {
  const s = f.at[5 * i + F_VALUE]!;
  const e = f.at[5 * i + F_VALUE_END]!;
  if (e === s || e - s > MAX_CL_DIGITS) return -1;
  let n = 0;
  for (let p = s; p < e; p++) {
    const d = f.buf[p]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

export interface ConnectionOptions {
  close: boolean;
  keepAlive: boolean;
  upgrade: boolean;
  /** Other field names listed (lower case): hop-by-hop for this message, not forwarded. */
  named: string[] | undefined;
}

/** The comma-separated tokens of every Connection field. */
export function connectionOptions(f: Fields): ConnectionOptions {
  const o: ConnectionOptions = { close: false, keepAlive: false, upgrade: false, named: undefined };
  const buf = f.buf;
  for (let i = 0; i < f.count; i++) {
    if (f.kind[i] !== H_CONNECTION) continue;
    const e = f.at[5 * i + F_VALUE_END]!;
    let p = f.at[5 * i + F_VALUE]!;
    while (p < e) {
      let s = p;
      while (p < e && buf[p] !== 0x2c) p++;
      let te = p;
      while (s < te && (buf[s] === SP || buf[s] === HTAB)) s++;
      while (te > s && (buf[te - 1] === SP || buf[te - 1] === HTAB)) te--;
      p++;
      if (te === s) continue;
      if (equalsLower(buf, s, te, 'close')) o.close = true;
      else if (equalsLower(buf, s, te, 'keep-alive')) o.keepAlive = true;
      else if (equalsLower(buf, s, te, 'upgrade')) o.upgrade = true;
      else {
        o.named ??= [];
        o.named.push(latin1(buf, s, te).toLowerCase());
      }
    }
  }
  return o;
}

/** True if field i is named in Connection (and so hop-by-hop for this message). */
export function namedInConnection(f: Fields, i: number, named: string[] | undefined): boolean {
  if (named === undefined) return false;
  const s = f.at[5 * i]!;
  const e = f.at[5 * i + F_NAME_END]!;
  for (const n of named) if (equalsLowerToken(f.buf, s, e, n)) return true;
  return false;
}

/** Case-insensitive compare for any token (names in Connection may contain other tchars than letters). */
function equalsLowerToken(buf: Buffer, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let b = buf[s + i]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== lower.charCodeAt(i)) return false;
  }
  return true;
}
