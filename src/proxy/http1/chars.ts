/**
 * Byte classes of HTTP/1.1 as lookup tables, so the parsers test one table entry per byte instead of running
 * regexes. Sources: RFC 9110 §5.6.2 (token), §5.5 (field values), RFC 9112 §3.2 (request-target), §7.1 (chunks).
 */

export const HTAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const SP = 0x20;
export const DQUOTE = 0x22;
export const COLON = 0x3a;
export const SEMICOLON = 0x3b;
export const EQUALS = 0x3d;
export const BACKSLASH = 0x5c;

function table(pred: (b: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = pred(b) ? 1 : 0;
  return t;
}

const isAlnum = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const TCHAR_EXTRA = new Set([..."!#$%&'*+-.^_`|~"].map((c) => c.charCodeAt(0)));

/** tchar: header names, methods, chunk-extension names and token values. */
export const TCHAR = table((b) => isAlnum(b) || TCHAR_EXTRA.has(b));

/** field-vchar / SP / HTAB: header and trailer values. obs-text (0x80–0xFF) is accepted, CTLs and DEL are not. */
export const FIELD_CHAR = table((b) => b === HTAB || (b >= SP && b !== 0x7f));

/**
 * Request-target bytes: visible ASCII only. Non-ASCII, controls and spaces are a 400, as in Node's strict llhttp
 * (which this proxy used before); `normalizePath` percent-encodes the ASCII characters outside `pchar`.
 */
export const TARGET_CHAR = table((b) => b > SP && b < 0x7f);

/** reason-phrase: HTAB / SP / VCHAR / obs-text. */
export const REASON_CHAR = FIELD_CHAR;

/** qdtext of a quoted-string (chunk extensions): HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text. */
export const QDTEXT = table(
  (b) => b === HTAB || b === SP || b === 0x21 || (b >= 0x23 && b <= 0x7e && b !== 0x5c) || b >= 0x80,
);

/** Hex digit value, or -1. */
export const HEX = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[0x41 + i] = 10 + i;
    t[0x61 + i] = 10 + i;
  }
  return t;
})();

/**
 * Case-insensitive compare of buf[start, end) with a lower-case ASCII word made of letters, digits and `-`.
 * `b | 0x20` folds A–Z onto a–z; the only other bytes it maps onto a letter, digit or `-` are controls (0x0D, 0x10–
 * 0x19), which neither tokens nor field values contain, so this is exact for the bytes the parsers accept.
 */
export function equalsLower(buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((buf[start + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** buf[start, end) as a string, one char per byte (heads are bytes; latin1 round-trips them exactly). */
export function latin1(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, end);
}
