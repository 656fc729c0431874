/**
 * One client connection: a strictly sequential state machine over the byte stream.
 *
 *   HEAD ──head──▶ local answer (403 / 417 / 400…) ──body?──▶ BODY (read and dropped) ──▶ HEAD
 *        └──────▶ forwarded ──body?──▶ BODY (streamed upstream) ──▶ WAIT (response) ──▶ HEAD
 *                                                                        └─101──▶ TUNNEL
 *
 * The next request head is parsed only when the previous exchange is over (bytes that arrive meanwhile are held,
 * with backpressure), so pipelined requests are checked one by one and in order, a body is always consumed as a
 * body (a request hidden in a denied request's body is never parsed as a request), and responses go out in
 * request order. Timeouts (head, request, keep-alive idle, upstream) are checked by the server's sweep, not by a
 * timer per request.
 */
import type net from 'node:net';
import { checkRequest } from './check.js';
import { decide } from './decision.js';
import { Exchange } from './exchange.js';
import { hostOfDestination, upstreamRequestHead } from './forward.js';
import { BodyReader } from './http1/body.js';
import { encodeChunks, LAST_CHUNK } from './http1/chunked.js';
import { BODY_CHUNKED, BODY_NONE } from './http1/framing.js';
import { HEAD_ERROR, HEAD_MORE, HeadReader } from './http1/head-reader.js';
import { EXPECT_CONTINUE, EXPECT_OTHER, parseRequestHead } from './http1/request.js';
import { writeParts } from './io.js';
import {
  CONTINUE_100,
  denyResponse,
  STATUS_TEXT,
  textResponse,
  UPSTREAM_ERROR_BODY,
  UPSTREAM_UPGRADE_ERROR_BODY,
} from './responses.js';
import type { HttpEvent, L7PolicySource } from './types.js';
import { Upstream, type UpstreamOwner } from './upstream.js';

/** What every connection of one proxy shares. */
export interface ProxyContext {
  readonly policy: L7PolicySource;
  readonly emit: ((e: HttpEvent) => void) | undefined;
  readonly maxHeaderSize: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly upstreamTimeoutMs: number;
  readonly originalDst: (socket: net.Socket) => { ip: string; port: number };
  /** The destination is this proxy itself (a redirect loop). */
  readonly isLoop: (dst: { ip: string; port: number }) => boolean;
  readonly connections: Set<ClientConnection>;
}

const ST_HEAD = 0;
const ST_BODY = 1;
const ST_WAIT = 2;
const ST_TUNNEL = 3;
const ST_CLOSING = 4;
const ST_CLOSED = 5;

/** Reasons the client socket is paused (reading resumes when none is left). */
const P_UPSTREAM = 1;
const P_HELD = 2;

/** Bytes held while a response is awaited before the client is paused (pipelining needs only a little). */
const HOLD_MAX = 64 * 1024;
/** After our FIN, wait this long for the client's before destroying (reading on avoids a RST eating the answer). */
const LINGER_MS = 2000;

export function bareIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export class ClientConnection implements UpstreamOwner {
  private state = ST_HEAD;
  private readonly reader: HeadReader;
  private ex: Exchange | undefined;
  private up: Upstream | undefined;
  private tunnel: net.Socket | undefined;
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  private pauseMask = 0;
  /** The upstream is paused because the client's write buffer is full. */
  private upPaused = false;
  /** performance.now() when the current head started (-1: none); a new connection counts as started. */
  private headStart: number;
  /** When the current request started (-1: no request being received). */
  private requestStart: number;
  /** When the connection became idle between requests (-1: not idle). */
  private idleSince = -1;
  private readonly src: { ip: string; port: number };
  private readonly dst: { ip: string; port: number };
  private readonly loop: boolean;
  /** The client sent FIN (half-close): answer what it sent, then close. */
  private clientEnded = false;
  /** consume() calls on the stack: the FIN is handled only once every byte received before it was consumed. */
  private busy = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: ProxyContext,
  ) {
    this.reader = new HeadReader(ctx.maxHeaderSize);
    this.src = { ip: bareIp(socket.remoteAddress), port: socket.remotePort ?? 0 };
    this.dst = ctx.originalDst(socket);
    this.loop = ctx.isLoop(this.dst);
    // As in Node's server: a new connection must deliver a head within headersTimeout.
    this.headStart = this.requestStart = performance.now();
    ctx.connections.add(this);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('drain', () => this.onClientDrain());
    socket.on('end', () => this.onClientEnd());
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => this.onClose());
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ── client bytes ──────────────────────────────────────────────────────────────────────────────────────────────

  private onData(buf: Buffer): void {
    const st = this.state;
    if (st === ST_HEAD || st === ST_BODY) this.consume(buf, 0);
    else if (st === ST_WAIT) this.hold(buf);
    // CLOSING: read and dropped, so the client's FIN is seen.
  }

  private consume(buf: Buffer, off: number): void {
    this.busy++;
    try {
      this.consumeBytes(buf, off);
    } finally {
      this.busy--;
    }
  }

  private consumeBytes(buf: Buffer, off: number): void {
    const n = buf.length;
    while (off < n) {
      const st = this.state;
      if (st === ST_HEAD) {
        if (this.headStart < 0) {
          this.headStart = this.requestStart = performance.now();
          this.idleSince = -1;
        }
        const r = this.reader.push(buf, off);
        if (r === HEAD_MORE) return;
        if (r === HEAD_ERROR) {
          const tooLarge = this.reader.error === 'head too large';
          this.rejectHead(tooLarge ? 431 : 400, this.reader.error!);
          return;
        }
        off = r;
        this.onHead();
      } else if (st === ST_BODY) {
        off = this.onBody(buf, off);
        if (off < 0) return;
      } else {
        if (st === ST_WAIT) this.hold(off === 0 ? buf : buf.subarray(off));
        return;
      }
    }
  }

  private hold(buf: Buffer): void {
    if (this.held === undefined) this.held = [buf];
    else this.held.push(buf);
    this.heldBytes += buf.length;
    if (this.heldBytes > HOLD_MAX) this.pause(P_HELD);
  }

  private onHead(): void {
    const rd = this.reader;
    const t0 = this.headStart;
    this.headStart = -1;
    const h = parseRequestHead(rd.head, rd.headStart, rd.headEnd);
    rd.reset();
    if (typeof h === 'string') {
      this.rejectHead(400, h);
      return;
    }
    const ex = new Exchange(h, t0);
    this.ex = ex;
    // Node's server answered 100-continue itself before anything else; the upstream's own 100 is dropped.
    if (h.expect === EXPECT_CONTINUE) this.socket.write(CONTINUE_100);
    if (h.expect === EXPECT_OTHER) {
      this.answer(ex, textResponse(417, '', ex.keepAlive), 'denied', 417, 'bad-request', 'unsupported expectation');
      return;
    }
    if (this.loop && !h.upgrade) {
      this.answer(ex, denyResponse(ex.keepAlive), 'denied', 403, 'loop');
      return;
    }
    const c = checkRequest(h);
    if (!c.ok) {
      ex.keepAlive = false;
      this.answer(ex, textResponse(c.status, `${c.error}\r\n`, false), 'denied', c.status, c.reason, c.error);
      return;
    }
    ex.url = c.path;
    ex.host = c.host;
    let policy: ReturnType<L7PolicySource['lookup']>;
    try {
      policy = this.ctx.policy.lookup(this.src.ip, this.dst.ip, this.dst.port);
    } catch {
      policy = undefined; // fail closed
    }
    const { decision: d, headers } = decide(policy, h.method, c.path, c.host, h.fields);
    ex.decision = d;
    if (h.upgrade && (!d.allowed || this.loop)) {
      // A denied upgrade closes the connection (the client would otherwise switch protocols on its side).
      ex.keepAlive = false;
      this.answer(ex, denyResponse(false), 'denied', 403, d.reason ?? 'loop');
      return;
    }
    if (!d.allowed) {
      this.answer(ex, denyResponse(ex.keepAlive), 'denied', 403, d.reason);
      return;
    }
    const host = c.host || hostOfDestination(this.dst.ip, this.dst.port);
    const head = upstreamRequestHead(h, c.path, host, d.actions, headers);
    if (typeof head === 'string') {
      this.answer(ex, denyResponse(ex.keepAlive), 'denied', 403, 'policy', head);
      return;
    }
    this.forward(ex, head);
  }

  /** A response the proxy makes itself; the request's body (if any) is then read and dropped. */
  private answer(
    ex: Exchange,
    response: Buffer,
    verdict: HttpEvent['verdict'],
    code: number,
    reason?: HttpEvent['reason'],
    error?: string,
  ): void {
    ex.status = code;
    ex.responseStarted = ex.responseDone = true;
    this.socket.write(response);
    this.report(ex, verdict, code, reason, error);
    if (!ex.keepAlive) {
      this.closeGracefully();
      return;
    }
    const h = ex.head;
    if (h.bodyKind === BODY_NONE) {
      ex.requestDone = true;
      this.finishExchange();
    } else {
      ex.body = new BodyReader(h.bodyKind, h.bodyLength, this.ctx.maxHeaderSize);
      this.state = ST_BODY;
    }
  }

  private forward(ex: Exchange, head: Buffer): void {
    const h = ex.head;
    ex.forward = true;
    ex.upstreamHead = head;
    if (h.bodyKind === BODY_NONE) {
      ex.requestDone = true;
      this.requestStart = -1;
    } else ex.body = new BodyReader(h.bodyKind, h.bodyLength, this.ctx.maxHeaderSize);
    this.up ??= new Upstream(this, this.dst);
    if (!this.up.send(ex, head)) this.pause(P_UPSTREAM);
    this.state = ex.requestDone ? ST_WAIT : ST_BODY;
  }

  /** Returns the offset after the body bytes consumed, or -1 when the connection is being closed. */
  private onBody(buf: Buffer, off: number): number {
    const ex = this.ex!;
    const body = ex.body!;
    const payload: Buffer[] = [];
    const p = body.read(buf, off, payload);
    if (p < 0) {
      this.badBody(ex, body.error ?? 'invalid body');
      return -1;
    }
    const up = this.up;
    if (ex.forward && !ex.responseDone && up !== undefined) {
      let parts = payload;
      if (ex.head.bodyKind === BODY_CHUNKED) {
        parts = [];
        encodeChunks(payload, parts);
        if (body.done) parts.push(LAST_CHUNK);
      }
      if (parts.length > 0 && !up.write(parts)) this.pause(P_UPSTREAM);
    }
    if (body.done) {
      ex.requestDone = true;
      this.requestStart = -1;
      if (ex.responseDone) this.finishExchange();
      else this.state = ST_WAIT;
    }
    return p;
  }

  private badBody(ex: Exchange, error: string): void {
    if (ex.forward) this.dropUpstream();
    if (ex.responseStarted && !ex.responseDone) {
      // Half a response is out: only an abort tells the client something went wrong.
      this.report(ex, 'error', ex.status, 'bad-request', error);
      this.socket.destroy();
    } else if (ex.responseDone) this.closeGracefully();
    else {
      ex.keepAlive = false;
      this.answer(ex, textResponse(400, `${STATUS_TEXT[400]}\r\n`, false), 'denied', 400, 'bad-request', error);
    }
  }

  /** The exchange is over on both sides: next request, or close. */
  private finishExchange(): void {
    const ex = this.ex;
    this.ex = undefined;
    this.requestStart = -1;
    if (ex !== undefined && !ex.keepAlive) {
      this.closeGracefully();
      return;
    }
    this.state = ST_HEAD;
    const held = this.held;
    if (held !== undefined) {
      this.held = undefined;
      this.heldBytes = 0;
      this.resume(P_HELD);
      for (const b of held) this.consume(b, 0);
    }
    if (this.state !== ST_HEAD) return;
    if (this.clientEnded) {
      if (this.busy === 0) this.onClientEnd();
    } else if (this.headStart < 0) this.idleSince = performance.now();
  }

  /**
   * The client half-closed (the server socket allows half-open connections, as Node's http server did): requests
   * already received are answered, then the connection is closed. A request cut short by the FIN is an error.
   */
  private onClientEnd(): void {
    this.clientEnded = true;
    const st = this.state;
    if (st === ST_HEAD) {
      if (this.reader.pending) this.rejectHead(400, 'connection closed in the middle of a request head');
      else this.closeGracefully();
    } else if (st === ST_BODY) this.badBody(this.ex!, 'connection closed in the middle of a request body');
    // WAIT: finishExchange comes back here once the response is out. TUNNEL: pipe() forwards the FIN.
  }

  // ── upstream callbacks ────────────────────────────────────────────────────────────────────────────────────────

  toClient(parts: Buffer | Buffer[]): void {
    if (this.state === ST_CLOSED) return;
    const ok = Array.isArray(parts) ? writeParts(this.socket, parts) : this.socket.write(parts);
    if (!ok && !this.upPaused && this.up !== undefined) {
      this.upPaused = true;
      this.up.socket.pause();
    }
  }

  responseComplete(up: Upstream, ex: Exchange, reusable: boolean): void {
    // An upstream that answered before the whole request body was sent is mid-request: never reuse it.
    if (!reusable || !ex.requestDone) this.dropUpstream(up);
    ex.responseDone = true;
    this.report(ex, 'forwarded', ex.status);
    if (ex.requestDone) this.finishExchange();
    else this.resume(P_UPSTREAM); // the rest of the body is read and dropped
  }

  upgraded(up: Upstream, ex: Exchange, head: Buffer, rest: Buffer): void {
    ex.status = 101;
    ex.responseStarted = ex.responseDone = true;
    this.report(ex, 'forwarded', 101);
    if (this.state >= ST_CLOSING) {
      up.destroy();
      return;
    }
    this.state = ST_TUNNEL;
    this.ex = undefined;
    this.up = undefined;
    this.headStart = this.requestStart = this.idleSince = -1;
    const us = up.detach();
    this.tunnel = us;
    this.socket.write(rest.length > 0 ? Buffer.concat([head, rest]) : head);
    // Bytes the client sent after the upgrade request (allowed by then) go first.
    if (this.held !== undefined) for (const b of this.held) us.write(b);
    this.held = undefined;
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('drain');
    this.pauseMask = 0;
    this.upPaused = false;
    us.on('close', () => this.socket.destroy());
    this.socket.pipe(us);
    us.pipe(this.socket);
  }

  upstreamFailed(up: Upstream, ex: Exchange, error: string, retry: boolean): void {
    if (this.state >= ST_CLOSING || this.ex !== ex) return;
    if (retry && ex.upstreamHead !== undefined) {
      ex.retried = true;
      this.up = new Upstream(this, this.dst);
      if (!this.up.send(ex, ex.upstreamHead)) this.pause(P_UPSTREAM);
      return;
    }
    if (this.up === up) this.up = undefined;
    if (!ex.responseStarted) {
      ex.keepAlive = false;
      ex.status = 503;
      this.socket.write(textResponse(503, ex.head.upgrade ? UPSTREAM_UPGRADE_ERROR_BODY : UPSTREAM_ERROR_BODY, false));
      this.report(ex, 'error', 503, 'upstream', error);
      this.closeGracefully();
    } else {
      this.report(ex, 'error', ex.status, 'upstream', error);
      this.socket.destroy();
    }
  }

  upstreamClosed(up: Upstream): void {
    if (this.up !== up) return;
    this.up = undefined;
    this.upPaused = false;
    this.resume(P_UPSTREAM);
  }

  upstreamDrained(): void {
    this.resume(P_UPSTREAM);
  }

  private onClientDrain(): void {
    if (this.upPaused) {
      this.upPaused = false;
      this.up?.socket.resume();
    }
  }

  private dropUpstream(up: Upstream | undefined = this.up): void {
    if (up === undefined) return;
    if (this.up === up) {
      this.up = undefined;
      this.upPaused = false;
      this.resume(P_UPSTREAM);
    }
    up.destroy();
  }

  // ── flow control, timeouts, closing ───────────────────────────────────────────────────────────────────────────

  private pause(bit: number): void {
    if (this.pauseMask === 0) this.socket.pause();
    this.pauseMask |= bit;
  }

  private resume(bit: number): void {
    if ((this.pauseMask & bit) === 0) return;
    this.pauseMask &= ~bit;
    if (this.pauseMask === 0 && this.state < ST_CLOSED) this.socket.resume();
  }

  /** Called by the server's sweep. */
  tick(now: number): void {
    const st = this.state;
    const ctx = this.ctx;
    if (st === ST_HEAD) {
      if (this.headStart >= 0) {
        if (now - this.headStart > ctx.headersTimeoutMs) {
          this.timeout('headers timeout');
          return;
        }
      } else if (this.idleSince >= 0 && now - this.idleSince > ctx.keepAliveTimeoutMs) {
        this.destroy();
        return;
      }
    }
    if (
      (st === ST_HEAD || st === ST_BODY) &&
      this.requestStart >= 0 &&
      now - this.requestStart > ctx.requestTimeoutMs
    ) {
      this.timeout('request timeout');
      return;
    }
    const ex = this.ex;
    if (ex?.forward && !ex.responseDone) this.up?.tick(now, ctx.upstreamTimeoutMs);
  }

  private timeout(what: string): void {
    const ex = this.ex;
    if (ex === undefined) {
      this.socket.write(textResponse(408, `${STATUS_TEXT[408]}\r\n`, false));
      this.bareEvent(408, what);
      this.closeGracefully();
      return;
    }
    if (ex.responseDone) {
      // a dropped body came too slowly
      this.closeGracefully();
      return;
    }
    this.dropUpstream();
    if (ex.responseStarted) {
      this.report(ex, 'error', ex.status, undefined, what);
      this.destroy();
      return;
    }
    ex.keepAlive = false;
    this.answer(ex, textResponse(408, `${STATUS_TEXT[408]}\r\n`, false), 'denied', 408, 'bad-request', what);
  }

  /** A head the parser rejects: answered with the status text and closed (reported without method, as before). */
  private rejectHead(status: number, error: string): void {
    this.socket.write(textResponse(status, `${STATUS_TEXT[status]}\r\n`, false));
    this.bareEvent(status, error);
    this.closeGracefully();
  }

  /** Send FIN, keep reading (and dropping) until the client closes too, or LINGER_MS. */
  private closeGracefully(): void {
    if (this.state >= ST_CLOSING) return;
    this.state = ST_CLOSING;
    this.held = undefined;
    this.dropUpstream();
    this.pauseMask = 0;
    this.socket.resume();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private onClose(): void {
    this.state = ST_CLOSED;
    this.ctx.connections.delete(this);
    this.tunnel?.destroy();
    const ex = this.ex;
    this.ex = undefined;
    if (ex !== undefined && !ex.reported)
      this.report(ex, 'error', ex.status, undefined, 'client closed the connection');
    this.dropUpstream();
  }

  // ── events ────────────────────────────────────────────────────────────────────────────────────────────────────

  private report(
    ex: Exchange,
    verdict: HttpEvent['verdict'],
    code: number,
    reason?: HttpEvent['reason'],
    error?: string,
  ): void {
    if (ex.reported) return;
    ex.reported = true;
    const emit = this.ctx.emit;
    if (emit === undefined) return;
    const h = ex.head;
    const e: HttpEvent = {
      time: new Date(performance.timeOrigin + ex.t0),
      src: { ...this.src },
      dst: { ...this.dst },
      method: h.method,
      url: ex.url,
      host: ex.host,
      protocol: h.minor === 1 ? 'HTTP/1.1' : 'HTTP/1.0',
      code,
      latencyMs: performance.now() - ex.t0,
      verdict,
    };
    if (reason !== undefined) e.reason = reason;
    const d = ex.decision;
    if (verdict === 'forwarded' && d !== undefined) {
      if (d.matched !== undefined) e.matched = d.matched;
      if (d.wildcardBy !== undefined) e.wildcardBy = d.wildcardBy;
      if (d.actions.length > 0) e.actions = d.actions;
    }
    if (error !== undefined) e.error = error;
    if (h.upgrade) e.upgrade = true;
    this.safeEmit(e);
  }

  /** A rejection before a request could be read (parser error, head timeout): no method, as before. */
  private bareEvent(code: number, error: string): void {
    if (this.ctx.emit === undefined) return;
    this.safeEmit({
      time: new Date(),
      src: { ...this.src },
      dst: { ...this.dst },
      method: '',
      url: '',
      host: '',
      protocol: 'HTTP/1.1',
      code,
      latencyMs: 0,
      verdict: 'denied',
      reason: 'bad-request',
      error,
    });
  }

  private safeEmit(e: HttpEvent): void {
    try {
      this.ctx.emit?.(e);
    } catch {
      // observers must not break the data path
    }
  }
}
