/**
 * Upstream response heads: parsed just enough to know the framing of the body (RFC 9112 §6.3), strictly enough that
 * an upstream cannot make the proxy and the client disagree on where a response ends, and re-serialised for the
 * client with minimal rewriting: the status line and every end-to-end field line are copied byte for byte; the
 * hop-by-hop fields (and those named in Connection) are dropped; the proxy writes its own framing and connection
 * fields. Any ambiguity (Content-Length with Transfer-Encoding, differing Content-Lengths, a transfer coding other
 * than `chunked`) is an error: the caller answers 503 if nothing was sent yet and closes both connections.
 */
import { HeadBuilder } from './assemble.js';
import { CR, LF, latin1, REASON_CHAR, SP } from './chars.js';
import {
  connectionOptions,
  contentLengthValue,
  F_LINE_END,
  type Fields,
  H_CONTENT_LENGTH,
  H_DATE,
  H_HOP,
  H_TRANSFER_ENCODING,
  namedInConnection,
  parseFields,
  valueIs,
} from './fields.js';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE, type BodyKind } from './framing.js';
import { httpVersionAt } from './request.js';

export interface ResponseHead {
  status: number;
  minor: number;
  fields: Fields;
  /** Offsets in fields.buf: the head start, and the end of the status line (after its CRLF). */
  start: number;
  statusLineEnd: number;
  /** The reason phrase is non-empty. */
  hasReason: boolean;
  bodyKind: BodyKind;
  bodyLength: number;
  /** Index of the first Content-Length field, or -1. */
  clIndex: number;
  hasDate: boolean;
  /** The upstream connection may carry another request after this response. */
  reusable: boolean;
  named: string[] | undefined;
}

/**
 * Parse buf[start, end) (end just after the empty line). `headRequest`: the request was HEAD (no body whatever the
 * fields say). Returns the head or an error text.
 */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  end: number,
  headRequest: boolean,
): ResponseHead | string {
  const minor = httpVersionAt(buf, start);
  if (minor < 0) return 'invalid status line version';
  let p = start + 8;
  if (buf[p] !== SP) return 'invalid status line';
  const d0 = buf[p + 1]! - 0x30;
  const d1 = buf[p + 2]! - 0x30;
  const d2 = buf[p + 3]! - 0x30;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return 'invalid status code';
  const status = d0 * 100 + d1 * 10 + d2;
  p += 4;
  let hasReason = false;
  // `HTTP/1.1 200\r\n` (no SP, no reason) is common enough to accept; the reason itself is never interpreted.
  if (buf[p] === SP) {
    p++;
    while (buf[p] !== CR) {
      if (REASON_CHAR[buf[p]!] !== 1) return 'invalid reason phrase';
      p++;
      hasReason = true;
    }
  }
  if (buf[p] !== CR || buf[p + 1] !== LF) return 'invalid status line';
  const statusLineEnd = p + 2;
  const fields = parseFields(buf, statusLineEnd, end);
  if (typeof fields === 'string') return fields;

  let cl = -1;
  let clIndex = -1;
  let teCount = 0;
  let teChunked = false;
  let hasDate = false;
  for (let i = 0; i < fields.count; i++) {
    const k = fields.kind[i];
    if (k === H_CONTENT_LENGTH) {
      const v = contentLengthValue(fields, i);
      if (v < 0) return 'invalid Content-Length';
      // Equal duplicates are allowed for responses (RFC 9110 §8.6); differing ones are conflicting framing.
      if (cl >= 0 && v !== cl) return 'conflicting Content-Length';
      if (clIndex < 0) clIndex = i;
      cl = v;
    } else if (k === H_TRANSFER_ENCODING) {
      teCount++;
      teChunked = valueIs(fields, i, 'chunked');
    } else if (k === H_DATE) hasDate = true;
  }
  const conn = connectionOptions(fields);
  let bodyKind: BodyKind;
  if (headRequest || status < 200 || status === 204 || status === 304) bodyKind = BODY_NONE;
  else if (teCount > 0) {
    if (cl >= 0) return 'Content-Length with Transfer-Encoding';
    if (teCount > 1 || !teChunked) return 'unsupported transfer-encoding';
    bodyKind = BODY_CHUNKED;
  } else if (cl >= 0) bodyKind = cl > 0 ? BODY_LENGTH : BODY_NONE;
  else bodyKind = BODY_UNTIL_CLOSE;
  const persistent = minor === 1 ? !conn.close : conn.keepAlive && !conn.close;
  return {
    status,
    minor,
    fields,
    start,
    statusLineEnd,
    hasReason,
    bodyKind,
    bodyLength: bodyKind === BODY_LENGTH ? cl : 0,
    clIndex,
    hasDate,
    reusable: persistent && bodyKind !== BODY_UNTIL_CLOSE,
    named: conn.named,
  };
}

export interface ClientHeadOptions {
  /** Send the body with `transfer-encoding: chunked` (re-framed). */
  chunked: boolean;
  keepAlive: boolean;
  /** `keep-alive: timeout=` hint in seconds. */
  keepAliveSeconds: number;
  /** Current IMF-fixdate, added when the upstream sent no Date (as Node's server did). */
  date: string;
}

/**
 * The response head for the client, followed by `tail` (body bytes already at hand) in the same buffer so the
 * common small response is one write.
 */
export function clientResponseHead(r: ResponseHead, o: ClientHeadOptions, tail?: Buffer): Buffer {
  const f = r.fields;
  const b = new HeadBuilder(f.buf);
  let prefix = '';
  if (r.minor === 1 && r.hasReason) b.copy(r.start, r.statusLineEnd);
  else {
    // Always answer as HTTP/1.1 (we speak 1.1 to the client whatever the upstream spoke). A missing reason stays
    // empty, as Node's server wrote it before.
    const reason = r.hasReason ? latin1(f.buf, r.start + 13, r.statusLineEnd - 2) : '';
    prefix = `HTTP/1.1 ${r.status} ${reason}\r\n`;
  }
  // Content-Length is meaningful for a length-delimited body and as metadata of HEAD / 304 responses; never with
  // our chunked re-framing, and never on 1xx / 204 (RFC 9110 §8.6).
  const keepCl = !o.chunked && r.status >= 200 && r.status !== 204;
  for (let i = 0; i < f.count; i++) {
    const k = f.kind[i]!;
    if ((k & H_HOP) !== 0) continue;
    if (k === H_CONTENT_LENGTH) {
      if (!keepCl || i !== r.clIndex) continue;
    } else if (r.named !== undefined && namedInConnection(f, i, r.named)) continue;
    b.copy(f.at[5 * i]!, f.at[5 * i + F_LINE_END]!);
  }
  let suffix = o.chunked ? 'transfer-encoding: chunked\r\n' : '';
  if (!r.hasDate) suffix += `date: ${o.date}\r\n`;
  suffix += o.keepAlive
    ? `connection: keep-alive\r\nkeep-alive: timeout=${o.keepAliveSeconds}\r\n\r\n`
    : 'connection: close\r\n\r\n';
  return b.build(prefix, suffix, tail);
}
