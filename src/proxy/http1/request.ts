/**
 * Request head parser (RFC 9112 §3, §6): `method SP request-target SP HTTP-version CRLF`, then field lines, then
 * the body framing. Everything that makes a request ambiguous to *some* HTTP implementation is an error here (→ 400
 * and the connection is closed), because the proxy and the upstream must agree on where each request ends:
 * - the method must be one Node's llhttp knows (the parser this proxy used before), CONNECT is rejected later;
 * - the target is visible ASCII, the version exactly HTTP/1.1 or HTTP/1.0;
 * - Content-Length: digits only, at most one field (llhttp rejected even equal duplicates), never together with
 *   Transfer-Encoding (a request smuggling vector, RFC 9112 §6.3 rule 3);
 * - Transfer-Encoding: anything but exactly `chunked` is flagged (`teError`) and rejected by the request checks.
 * Semantic checks that need the method and target (Host count and presence, CONNECT, absolute-form, path) are in
 * `../check.ts`, so their rejections are reported with the request's method and URL, as before.
 */
import { CR, LF, latin1, SP, TARGET_CHAR, TCHAR } from './chars.js';
import {
  connectionOptions,
  contentLengthValue,
  type Fields,
  fieldValue,
  H_CONTENT_LENGTH,
  H_EXPECT,
  H_HOST,
  H_TRANSFER_ENCODING,
  H_UPGRADE,
  parseFields,
  valueIs,
} from './fields.js';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, type BodyKind } from './framing.js';

/** What llhttp (Node 20) accepts; other methods were a 400 before and stay one. */
const METHODS = new Set(
  (
    'ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY MKCALENDAR MKCOL MOVE ' +
    'NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE PUT QUERY REBIND REPORT SEARCH SOURCE SUBSCRIBE TRACE ' +
    'UNBIND UNLINK UNLOCK UNSUBSCRIBE'
  ).split(' '),
);

export const EXPECT_NONE = 0;
export const EXPECT_CONTINUE = 1;
export const EXPECT_OTHER = 2;

export interface RequestHead {
  method: string;
  /** The request-target as received. */
  target: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: number;
  fields: Fields;
  /** Offset of the first field line in `fields.buf` (just after the request line). */
  fieldsStart: number;
  /** Number of Host fields and the first one's value ('' when none). */
  hostCount: number;
  host: string;
  bodyKind: BodyKind;
  /** Body length when bodyKind is BODY_LENGTH. */
  bodyLength: number;
  /** Transfer-Encoding present but not exactly one `chunked` (rejected by the request checks). */
  teError: boolean;
  /** The client wants the connection kept open after this exchange. */
  keepAlive: boolean;
  /** `Connection: upgrade` and an Upgrade field (HTTP/1.1). */
  upgrade: boolean;
  expect: typeof EXPECT_NONE | typeof EXPECT_CONTINUE | typeof EXPECT_OTHER;
  /** Field names listed in Connection: not forwarded. */
  named: string[] | undefined;
}

/** `GET` and `POST` without a string allocation; anything else is sliced and looked up. */
function methodOf(buf: Buffer, s: number, e: number): string | undefined {
  const n = e - s;
  if (n === 3 && buf[s] === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54) return 'GET';
  if (n === 4 && buf[s] === 0x50 && buf[s + 1] === 0x4f && buf[s + 2] === 0x53 && buf[s + 3] === 0x54) return 'POST';
  const m = latin1(buf, s, e);
  return METHODS.has(m) ? m : undefined;
}

/** `HTTP/1.1` → 1, `HTTP/1.0` → 0, else -1. */
export function httpVersionAt(buf: Buffer, p: number): number {
  if (
    buf[p] !== 0x48 ||
    buf[p + 1] !== 0x54 ||
    buf[p + 2] !== 0x54 ||
    buf[p + 3] !== 0x50 ||
    buf[p + 4] !== 0x2f ||
    buf[p + 5] !== 0x31 ||
    buf[p + 6] !== 0x2e
  )
    return -1;
  const m = buf[p + 7];
  return m === 0x31 ? 1 : m === 0x30 ? 0 : -1;
}

/** Parse the complete head buf[start, end) (end just after the empty line). Returns the head or an error (400). */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestHead | string {
  let p = start;
  while (TCHAR[buf[p]!] === 1) p++;
  if (p === start || buf[p] !== SP) return 'invalid method';
  const method = methodOf(buf, start, p);
  if (method === undefined) return 'unknown method';
  const ts = ++p;
  while (TARGET_CHAR[buf[p]!] === 1) p++;
  if (p === ts || buf[p] !== SP) return 'invalid request target';
  const target = latin1(buf, ts, p);
  const minor = httpVersionAt(buf, ++p);
  if (minor < 0) return 'unsupported HTTP version';
  p += 8;
  if (buf[p] !== CR || buf[p + 1] !== LF) return 'invalid request line';
  const fieldsStart = p + 2;
  const fields = parseFields(buf, fieldsStart, end);
  if (typeof fields === 'string') return fields;

  let hostCount = 0;
  let host = '';
  let cl = -1;
  let teCount = 0;
  let teChunked = false;
  let hasUpgrade = false;
  let expectIdx = -1;
  for (let i = 0; i < fields.count; i++) {
    switch (fields.kind[i]) {
      case H_HOST:
        if (hostCount++ === 0) host = fieldValue(fields, i);
        break;
      case H_CONTENT_LENGTH: {
        if (cl >= 0) return 'multiple Content-Length fields';
        cl = contentLengthValue(fields, i);
        if (cl < 0) return 'invalid Content-Length';
        break;
      }
      case H_TRANSFER_ENCODING:
        teCount++;
        teChunked = valueIs(fields, i, 'chunked');
        break;
      case H_UPGRADE:
        hasUpgrade = true;
        break;
      case H_EXPECT:
        if (expectIdx < 0) expectIdx = i;
        break;
    }
  }
  if (teCount > 0 && cl >= 0) return 'Content-Length with Transfer-Encoding';
  const teError = teCount > 1 || (teCount === 1 && !teChunked);
  const bodyKind: BodyKind = teCount > 0 ? BODY_CHUNKED : cl > 0 ? BODY_LENGTH : BODY_NONE;
  const conn = connectionOptions(fields);
  // HTTP/1.1 is persistent unless `close`; HTTP/1.0 only with `keep-alive` (RFC 9112 §9.3), and an HTTP/1.0
  // message with Transfer-Encoding has faulty framing: close after it (§6.1).
  const keepAlive = minor === 1 ? !conn.close : conn.keepAlive && !conn.close && teCount === 0;
  let expect: RequestHead['expect'] = EXPECT_NONE;
  // Node's server honoured Expect on HTTP/1.1 only; so do we.
  if (expectIdx >= 0 && minor === 1)
    expect = valueIs(fields, expectIdx, '100-continue') ? EXPECT_CONTINUE : EXPECT_OTHER;
  return {
    method,
    target,
    minor,
    fields,
    fieldsStart,
    hostCount,
    host,
    bodyKind,
    bodyLength: bodyKind === BODY_LENGTH ? cl : 0,
    teError,
    keepAlive,
    upgrade: minor === 1 && conn.upgrade && hasUpgrade,
    expect,
    named: conn.named,
  };
}
