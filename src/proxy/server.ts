/**
 * Transparent HTTP/1.1 proxy for L7 policy (the Envoy role in Cilium). Connections arrive through nftables
 * TPROXY on a listening socket with IP_TRANSPARENT: `socket.localAddress:localPort` is the original (post-LB)
 * destination and `remoteAddress` the real client. For every request:
 *   1. node:http's strict parser (llhttp, insecureHTTPParser off) rejects smuggling vectors — Content-Length with
 *      Transfer-Encoding, bad/duplicate Content-Length, obs-fold, bare LF — with 400 and closes; oversized heads get
 *      431; a slow head gets 408 (headersTimeout). We add: one Host header, Transfer-Encoding only `chunked`,
 *      absolute-form authority must agree with Host, no CONNECT.
 *   2. The request target is normalised (src/policy/l7/path.ts); an unnormalisable target is a 400.
 *   3. The L7 policy for (client IP, original dst, port) comes from the injected L7PolicySource; no policy → deny.
 *      Allowed iff `wildcard` or some HTTP rule matches (src/policy/l7/http.ts), against the normalised path.
 *   4. Denied: `403 Forbidden`, `content-type: text/plain`, body `Access denied\r\n`; the connection stays open
 *      and the next (keep-alive or pipelined) request is checked on its own.
 *   5. Allowed: forwarded to the original destination with the *normalised* path (what was checked is what the
 *      upstream gets), header actions applied, hop-by-hop headers dropped, upstream keep-alive pooled.
 *   6. Upgrade (WebSocket): only when the upgrade request itself is allowed; then bytes are spliced.
 * Every request is reported to `onHttpEvent`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { applyHeaderActions, type HeaderAction, matchHttp } from '../policy/l7/http.js';
import { normalizePath } from '../policy/l7/path.js';
import type { HttpRule, L7Policy, RuleRef } from '../policy/types.js';
import { serverFd, setIpTransparent } from './transparent.js';

/** Where the proxy learns the L7 policy of a redirected connection. */
export interface L7PolicySource {
  lookup(srcIp: string, dstIp: string, dport: number): L7Policy | undefined;
}

export interface HttpEvent {
  time: Date;
  src: { ip: string; port: number };
  dst: { ip: string; port: number };
  method: string;
  /** Normalised path with query (or the raw target when it could not be normalised). */
  url: string;
  host: string;
  protocol: string;
  /** Status sent to the client (0 when the connection failed before a response). */
  code: number;
  latencyMs: number;
  verdict: 'forwarded' | 'denied' | 'error';
  /** Why a request was denied or failed. */
  reason?: 'policy' | 'no-policy' | 'bad-request' | 'upstream' | 'loop';
  matched?: HttpRule;
  wildcardBy?: RuleRef[];
  actions?: HeaderAction[];
  error?: string;
  upgrade?: boolean;
}

export interface ProxyOptions {
  port: number;
  /** Listen address (default 0.0.0.0). */
  host?: string;
  /** Set IP_TRANSPARENT (default true; tests of the HTTP logic without TPROXY pass false). */
  transparent?: boolean;
  policy: L7PolicySource;
  onHttpEvent?: (e: HttpEvent) => void;
  /** Time allowed for a complete request head (slowloris), default 10 s. */
  headersTimeoutMs?: number;
  /** Time allowed for a complete request, default 60 s. */
  requestTimeoutMs?: number;
  /** Max request head size, default 16 KiB (→ 431). */
  maxHeaderSize?: number;
  /** Upstream connect/response timeout, default 15 s. */
  upstreamTimeoutMs?: number;
  /**
   * Resolve the original destination of a connection. Default: the socket's local address (TPROXY). Tests
   * without TPROXY inject a mapping.
   */
  originalDst?: (socket: net.Socket) => { ip: string; port: number };
}

export interface ProxyServer {
  readonly port: number;
  readonly server: http.Server;
  close(): Promise<void>;
}

export const DENY_BODY = 'Access denied\r\n';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function bare(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

function localAddresses(): Set<string> {
  const s = new Set<string>(['127.0.0.1', '::1', '0.0.0.0']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) s.add(bare(a.address));
  return s;
}

/** Headers to forward: drop hop-by-hop ones and those named in Connection. */
function forwardHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const named = new Set(
    String(req.headers.connection ?? '')
      .split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function hostsEqual(a: string, b: string): boolean {
  const norm = (h: string) => h.toLowerCase().replace(/:80$/, '');
  return norm(a) === norm(b);
}

interface Checked {
  ok: true;
  path: string;
  host: string;
}
interface Rejected {
  ok: false;
  status: number;
  reason: HttpEvent['reason'];
  error: string;
}

/** Request-level checks the parser does not do; returns the normalised path and authority. */
function checkRequest(req: IncomingMessage): Checked | Rejected {
  const bad = (error: string): Rejected => ({ ok: false, status: 400, reason: 'bad-request', error });
  let hostCount = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hostCount++;
  if (hostCount > 1) return bad('multiple Host headers');
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && String(te).trim().toLowerCase() !== 'chunked') return bad('unsupported transfer-encoding');
  if (req.method === 'CONNECT') return bad('CONNECT is not proxied');
  let target = req.url ?? '';
  let host = req.headers.host ?? '';
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target)) {
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
    const rest = target.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/, '');
    target = rest === '' ? '/' : rest;
  }
  if (req.httpVersion !== '1.0' && !host) return bad('missing Host');
  const n = normalizePath(target);
  if (n.error !== undefined) return bad(n.error);
  return { ok: true, path: n.path, host };
}

interface Decision {
  allowed: boolean;
  reason?: HttpEvent['reason'];
  matched?: HttpRule;
  wildcardBy?: RuleRef[];
  actions: HeaderAction[];
}

function decide(policy: L7Policy | undefined, req: IncomingMessage, path: string, host: string): Decision {
  if (!policy) return { allowed: false, reason: 'no-policy', actions: [] };
  if (policy.wildcard) return { allowed: true, wildcardBy: policy.wildcardBy, actions: [] };
  const r = matchHttp(policy.http, { method: req.method ?? '', path, host, headers: req.headers });
  return r.allowed
    ? { allowed: true, matched: r.matched, actions: r.actions }
    : { allowed: false, reason: 'policy', actions: [] };
}

function writeDeny(res: ServerResponse): void {
  res.writeHead(403, 'Forbidden', { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(DENY_BODY) });
  res.end(DENY_BODY);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

function rawResponse(status: number, body: string, close = true): string {
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: text/plain\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n${close ? 'connection: close\r\n' : ''}\r\n${body}`
  );
}

export async function startProxy(opts: ProxyOptions): Promise<ProxyServer> {
  const locals = localAddresses();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 60_000 });
  const upstreamTimeout = opts.upstreamTimeoutMs ?? 15_000;
  const dstOf = opts.originalDst ?? ((s: net.Socket) => ({ ip: bare(s.localAddress), port: s.localPort ?? 0 }));
  const emit = (e: HttpEvent) => {
    try {
      opts.onHttpEvent?.(e);
    } catch {
      // observers must not break the data path
    }
  };

  const server = http.createServer({
    insecureHTTPParser: false,
    requireHostHeader: true,
    maxHeaderSize: opts.maxHeaderSize ?? 16 * 1024,
    headersTimeout: opts.headersTimeoutMs ?? 10_000,
    requestTimeout: opts.requestTimeoutMs ?? 60_000,
    connectionsCheckingInterval: Math.min(1000, opts.headersTimeoutMs ?? 1000),
    keepAliveTimeout: 60_000,
    joinDuplicateHeaders: false,
  });

  // Every client and spliced upstream socket, so close() can end them all (upgraded sockets leave node:http's
  // bookkeeping and would otherwise keep server.close() waiting).
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  server.on('connection', track);

  const base = (req: IncomingMessage) => {
    const s = req.socket;
    return {
      time: new Date(),
      src: { ip: bare(s.remoteAddress), port: s.remotePort ?? 0 },
      dst: dstOf(s),
      method: req.method ?? '',
      url: req.url ?? '',
      host: req.headers.host ?? '',
      protocol: `HTTP/${req.httpVersion}`,
    };
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const t0 = performance.now();
    const ev = base(req);
    const done = (extra: Partial<HttpEvent> & Pick<HttpEvent, 'verdict' | 'code'>) =>
      emit({ ...ev, latencyMs: performance.now() - t0, ...extra });
    if (locals.has(ev.dst.ip) && ev.dst.port === opts.port) {
      res.writeHead(403, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(DENY_BODY) });
      res.end(DENY_BODY);
      return done({ verdict: 'denied', code: 403, reason: 'loop' });
    }
    const c = checkRequest(req);
    if (!c.ok) {
      res.shouldKeepAlive = false;
      res.writeHead(c.status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`${c.error}\r\n`);
      return done({ verdict: 'denied', code: c.status, reason: c.reason, error: c.error });
    }
    ev.url = c.path;
    ev.host = c.host;
    const d = decide(opts.policy.lookup(ev.src.ip, ev.dst.ip, ev.dst.port), req, c.path, c.host);
    if (!d.allowed) {
      writeDeny(res);
      return done({ verdict: 'denied', code: 403, reason: d.reason });
    }
    const headers = applyHeaderActions(forwardHeaders(req), d.actions) as Record<string, string | string[]>;
    headers.host = c.host;
    const up = http.request({
      host: ev.dst.ip,
      port: ev.dst.port,
      method: req.method,
      path: c.path,
      headers,
      agent,
      timeout: upstreamTimeout,
    });
    let finished = false;
    const fail = (err: Error) => {
      if (finished) return;
      finished = true;
      if (!res.headersSent) {
        res.shouldKeepAlive = false;
        res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' });
        res.end('upstream connect error or disconnect/reset before headers\r\n');
      } else {
        res.destroy(err);
      }
      done({ verdict: 'error', code: res.headersSent ? res.statusCode : 503, reason: 'upstream', error: err.message });
    };
    up.on('timeout', () => up.destroy(new Error('upstream timeout')));
    up.on('error', fail);
    up.on('response', (ures) => {
      const rh: Record<string, string | string[]> = {};
      const named = new Set(
        String(ures.headers.connection ?? '')
          .split(',')
          .map((x) => x.trim().toLowerCase()),
      );
      for (const [k, v] of Object.entries(ures.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k) && !named.has(k)) rh[k] = v;
      }
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, rh);
      ures.pipe(res);
      ures.on('error', fail);
      res.on('finish', () => {
        if (finished) return;
        finished = true;
        done({
          verdict: 'forwarded',
          code: ures.statusCode ?? 0,
          matched: d.matched,
          wildcardBy: d.wildcardBy,
          actions: d.actions.length ? d.actions : undefined,
        });
      });
    });
    req.pipe(up);
  });

  // Upgrade (WebSocket): the upgrade request goes through the same checks; only then are bytes spliced.
  server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
    const t0 = performance.now();
    const ev = base(req);
    const done = (extra: Partial<HttpEvent> & Pick<HttpEvent, 'verdict' | 'code'>) =>
      emit({ ...ev, latencyMs: performance.now() - t0, upgrade: true, ...extra });
    const c = checkRequest(req);
    if (!c.ok) {
      socket.end(rawResponse(c.status, `${c.error}\r\n`));
      return done({ verdict: 'denied', code: c.status, reason: c.reason, error: c.error });
    }
    ev.url = c.path;
    ev.host = c.host;
    const d = decide(opts.policy.lookup(ev.src.ip, ev.dst.ip, ev.dst.port), req, c.path, c.host);
    if (!d.allowed || (locals.has(ev.dst.ip) && ev.dst.port === opts.port)) {
      socket.end(rawResponse(403, DENY_BODY));
      return done({ verdict: 'denied', code: 403, reason: d.reason ?? 'loop' });
    }
    const headers = applyHeaderActions({ ...req.headers }, d.actions);
    const up = net.connect({ host: ev.dst.ip, port: ev.dst.port });
    track(up);
    up.setTimeout(upstreamTimeout, () => up.destroy(new Error('upstream timeout')));
    up.on('connect', () => {
      up.setTimeout(0);
      let headText = `${req.method} ${c.path} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) {
        if (v === undefined) continue;
        for (const x of Array.isArray(v) ? v : [v]) headText += `${k}: ${x}\r\n`;
      }
      up.write(`${headText}\r\n`);
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
      done({ verdict: 'forwarded', code: 101, matched: d.matched, wildcardBy: d.wildcardBy });
    });
    up.on('error', (e) => {
      if (!socket.destroyed) socket.end(rawResponse(503, 'upstream connect error\r\n'));
      done({ verdict: 'error', code: 503, reason: 'upstream', error: e.message });
    });
    socket.on('error', () => up.destroy());
    socket.on('close', () => up.destroy());
  });

  server.on('clientError', (err: Error & { code?: string }, socket: net.Socket) => {
    const code = err.code ?? '';
    const status =
      code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ETIMEDOUT' ? 408 : 400;
    if (socket.writable && !socket.destroyed) socket.end(rawResponse(status, `${STATUS_TEXT[status]}\r\n`));
    else socket.destroy();
    emit({
      time: new Date(),
      src: { ip: bare(socket.remoteAddress), port: socket.remotePort ?? 0 },
      dst: dstOf(socket),
      method: '',
      url: '',
      host: '',
      protocol: 'HTTP/1.1',
      code: status,
      latencyMs: 0,
      verdict: 'denied',
      reason: 'bad-request',
      error: code || err.message,
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (opts.transparent !== false) {
    try {
      setIpTransparent(serverFd(server));
    } catch (e) {
      server.close();
      throw e;
    }
  }
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const sock of sockets) sock.destroy();
      }),
  };
}
