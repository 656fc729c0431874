/**
 * The request head sent upstream for an allowed request: `METHOD <normalised path> HTTP/1.1` (what was checked is
 * what the upstream gets; HTTP/1.0 clients are forwarded as HTTP/1.1), `host` first (the checked authority), then
 * the client's end-to-end field lines copied byte for byte, minus the hop-by-hop ones and those named in
 * Connection, then the framing the proxy itself writes (the body is re-framed, so framing fields are never copied
 * blindly) and the fields changed by header actions.
 */
import { applyHeaderActions, type HeaderAction } from '../policy/l7/http.js';
import { headerRecord } from './decision.js';
import { HeadBuilder } from './http1/assemble.js';
import { FIELD_CHAR, TCHAR } from './http1/chars.js';
import {
  F_LINE_END,
  fieldName,
  fieldValue,
  H_CONTENT_LENGTH,
  H_HOP,
  H_HOST,
  H_UPGRADE,
  namedInConnection,
} from './http1/fields.js';
import { BODY_CHUNKED } from './http1/framing.js';
import type { RequestHead } from './http1/request.js';

/** Fields whose value the proxy owns: header actions on them are ignored (framing and authority stay consistent). */
const OWNED = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || TCHAR[c] !== 1) return false;
  }
  return true;
}

function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_CHAR[c] !== 1) return false;
  }
  return true;
}

/** The Host sent when the client sent none (HTTP/1.0): the original destination, as Node's client wrote it. */
export function hostOfDestination(ip: string, port: number): string {
  const h = ip.includes(':') ? `[${ip}]` : ip;
  return port === 80 ? h : `${h}:${port}`;
}

/**
 * Returns the head, or an error text when a header action would produce an invalid field (fail closed: the caller
 * denies the request rather than send a header injection upstream).
 */
export function upstreamRequestHead(
  h: RequestHead,
  path: string,
  host: string,
  actions: readonly HeaderAction[],
  headers: Record<string, string | string[]> | undefined,
): Buffer | string {
  const f = h.fields;
  let touched: Set<string> | undefined;
  for (const a of actions) {
    if (a.kind === 'LOG') continue;
    const k = a.name.toLowerCase();
    if (OWNED.has(k)) continue;
    touched ??= new Set();
    touched.add(k);
  }
  const b = new HeadBuilder(f.buf);
  let upgrade = '';
  for (let i = 0; i < f.count; i++) {
    const k = f.kind[i]!;
    if (k === H_UPGRADE) upgrade += upgrade === '' ? fieldValue(f, i) : `, ${fieldValue(f, i)}`;
    if ((k & H_HOP) !== 0 || k === H_HOST) continue;
    // A Connection option naming Content-Length must not strip the framing of the body we forward.
    if (k !== H_CONTENT_LENGTH && namedInConnection(f, i, h.named)) continue;
    if (touched?.has(fieldName(f, i).toLowerCase())) continue;
    b.copy(f.at[5 * i]!, f.at[5 * i + F_LINE_END]!);
  }
  let suffix = '';
  if (h.upgrade) suffix += `connection: upgrade\r\nupgrade: ${upgrade}\r\n`;
  if (h.bodyKind === BODY_CHUNKED) suffix += 'transfer-encoding: chunked\r\n';
  if (touched) {
    const out = applyHeaderActions(headers ?? headerRecord(f), actions);
    for (const name of touched) {
      const v = out[name];
      if (v === undefined) continue;
      if (!isToken(name)) return `header action names an invalid field: ${name}`;
      for (const x of Array.isArray(v) ? v : [v]) {
        if (!isFieldValue(x)) return `header action sets an invalid value for ${name}`;
        suffix += `${name}: ${x}\r\n`;
      }
    }
  }
  return b.build(`${h.method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`, `${suffix}\r\n`);
}
