/**
 * The upstream side of one client connection: a keep-alive connection to the original destination, opened lazily
 * and reused for that client's next requests (a request is written only after the previous response finished, so
 * responses can never be attributed to the wrong request). Each response head is parsed strictly for its framing;
 * the head is re-serialised for the client and the body streamed through (re-chunked when its length is not
 * known). Bytes the upstream sends that belong to no request — after a response, or a second response — mean the
 * upstream and the proxy disagree on framing: the connection is dropped, never read further.
 */
import net from 'node:net';
import type { Exchange } from './exchange.js';
import { BodyReader } from './http1/body.js';
import { encodeChunks, LAST_CHUNK } from './http1/chunked.js';
import { BODY_CHUNKED, BODY_NONE, BODY_UNTIL_CLOSE } from './http1/framing.js';
import { HEAD_ERROR, HEAD_MORE, HeadReader } from './http1/head-reader.js';
import { clientResponseHead, parseResponseHead, type ResponseHead } from './http1/response.js';
import { writeParts } from './io.js';
import { httpDate, KEEP_ALIVE_SECONDS } from './responses.js';

/** Largest upstream response head (Node's http client default, which the proxy used before). */
const RESPONSE_HEAD_MAX = 16 * 1024;
/** Body bytes up to this size are copied into the head's buffer: one write per small response. */
const INLINE_BODY_MAX = 4096;

/** What the upstream side needs from the client connection it serves. */
export interface UpstreamOwner {
  /** Write to the client; when its buffer fills, the owner pauses this upstream until it drains. */
  toClient(parts: Buffer | Buffer[]): void;
  /** The response ended; `reusable`: the connection may carry the next request. */
  responseComplete(up: Upstream, ex: Exchange, reusable: boolean): void;
  /** 101 to an allowed upgrade request: from now on bytes are spliced. */
  upgraded(up: Upstream, ex: Exchange, head: Buffer, rest: Buffer): void;
  /** The connection failed or closed with `ex` unanswered or half answered. `retry`: it is safe to resend. */
  upstreamFailed(up: Upstream, ex: Exchange, error: string, retry: boolean): void;
  upstreamClosed(up: Upstream): void;
  upstreamDrained(): void;
}

export class Upstream {
  readonly socket: net.Socket;
  /** The exchange whose response is awaited or streaming. */
  private ex: Exchange | undefined;
  /** Responses completed on this connection (> 0: a reused keep-alive connection). */
  private completed = 0;
  private readonly reader = new HeadReader(RESPONSE_HEAD_MAX);
  private resp: ResponseHead | undefined;
  private body: BodyReader | undefined;
  private chunkedOut = false;
  /** Any byte of the current response arrived. */
  private gotBytes = false;
  private error: string | undefined;
  /** Counts reads and writes; the timeout sweep compares it between ticks. */
  private activity = 0;
  private seenActivity = -1;
  private quietSince = 0;

  constructor(
    private readonly owner: UpstreamOwner,
    dst: { ip: string; port: number },
  ) {
    this.socket = net.connect({ host: dst.ip, port: dst.port, noDelay: true });
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (e: Error) => {
      this.error ??= e.message;
    });
    this.socket.on('close', () => this.onClose());
    this.socket.on('drain', () => owner.upstreamDrained());
  }

  /** Send a request head; false when the socket buffer is full. */
  send(ex: Exchange, head: Buffer): boolean {
    this.ex = ex;
    this.resp = undefined;
    this.body = undefined;
    this.gotBytes = false;
    this.activity++;
    return this.socket.write(head);
  }

  /** Request body bytes; false when the socket buffer is full. */
  write(parts: Buffer[]): boolean {
    this.activity++;
    return writeParts(this.socket, parts);
  }

  /** Drop the connection without reporting anything (the owner is done with it). */
  destroy(): void {
    this.ex = undefined;
    this.socket.destroy();
  }

  /** Called by the sweep while a response is awaited: fail after `timeoutMs` without reads or writes. */
  tick(now: number, timeoutMs: number): void {
    if (this.ex === undefined) return;
    if (this.activity !== this.seenActivity) {
      this.seenActivity = this.activity;
      this.quietSince = now;
    } else if (now - this.quietSince > timeoutMs) this.fail('upstream timeout');
  }

  /** Hand the socket over for splicing (after a 101): no more parsing, no more callbacks. */
  detach(): net.Socket {
    this.ex = undefined;
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    this.socket.removeAllListeners('drain');
    return this.socket;
  }

  private fail(error: string): void {
    this.error = error;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.activity++;
    const ex = this.ex;
    // Bytes while no response is expected: the upstream is out of step with us. Never forward them.
    if (ex === undefined || ex.responseDone) {
      this.fail('unsolicited data from upstream');
      return;
    }
    this.gotBytes = true;
    let off = 0;
    while (this.resp === undefined) {
      const r = this.reader.push(chunk, off);
      if (r === HEAD_MORE) return;
      if (r === HEAD_ERROR) {
        this.fail(`invalid response head: ${this.reader.error}`);
        return;
      }
      const rd = this.reader;
      const resp = parseResponseHead(rd.head, rd.headStart, rd.headEnd, ex.head.method === 'HEAD');
      if (typeof resp === 'string') {
        rd.reset();
        this.fail(`invalid response head: ${resp}`);
        return;
      }
      off = r;
      if (resp.status === 101) {
        const head = rd.head.subarray(rd.headStart, rd.headEnd);
        rd.reset();
        if (!ex.head.upgrade) {
          this.fail('101 Switching Protocols without an upgrade request');
          return;
        }
        this.ex = undefined;
        this.owner.upgraded(this, ex, head, chunk.subarray(off));
        return;
      }
      rd.reset();
      // 100 Continue, 103 Early Hints: dropped, as Node's client did (the proxy answers Expect itself).
      if (resp.status < 200) {
        if (off === chunk.length) return;
        continue;
      }
      this.startResponse(ex, resp, chunk, off);
      return;
    }
    const payload: Buffer[] = [];
    off = this.body!.read(chunk, off, payload);
    if (off < 0) {
      this.fail(`invalid response body: ${this.body!.error}`);
      return;
    }
    const done = this.body!.done;
    this.owner.toClient(this.frame(payload, done));
    if (done) this.finish(ex, off === chunk.length);
  }

  private startResponse(ex: Exchange, resp: ResponseHead, chunk: Buffer, off: number): void {
    this.resp = resp;
    const hasBody = resp.bodyKind !== BODY_NONE;
    const unframed = resp.bodyKind === BODY_CHUNKED || resp.bodyKind === BODY_UNTIL_CLOSE;
    // HTTP/1.0 clients cannot take chunked: they get the raw payload and the close delimits it.
    this.chunkedOut = hasBody && unframed && ex.head.minor === 1;
    if (hasBody && unframed && ex.head.minor === 0) ex.keepAlive = false;
    const payload: Buffer[] = [];
    let done = true;
    if (hasBody) {
      const body = new BodyReader(resp.bodyKind, resp.bodyLength);
      this.body = body;
      off = body.read(chunk, off, payload);
      // Nothing was sent to the client yet: the owner answers 503.
      if (off < 0) {
        this.fail(`invalid response body: ${body.error}`);
        return;
      }
      done = body.done;
    }
    const parts = this.frame(payload, done);
    ex.status = resp.status;
    ex.responseStarted = true;
    const tail = parts.length === 1 && parts[0]!.length <= INLINE_BODY_MAX ? parts[0] : undefined;
    const head = clientResponseHead(
      resp,
      { chunked: this.chunkedOut, keepAlive: ex.keepAlive, keepAliveSeconds: KEEP_ALIVE_SECONDS, date: httpDate() },
      tail,
    );
    if (tail !== undefined || parts.length === 0) this.owner.toClient(head);
    else this.owner.toClient([head, ...parts]);
    if (done) this.finish(ex, off === chunk.length);
  }

  private frame(payload: Buffer[], done: boolean): Buffer[] {
    if (!this.chunkedOut) return payload;
    const out: Buffer[] = [];
    encodeChunks(payload, out);
    if (done) out.push(LAST_CHUNK);
    return out;
  }

  /** `clean`: nothing followed the response in the last read. */
  private finish(ex: Exchange, clean: boolean): void {
    const reusable = clean && this.resp!.reusable;
    this.resp = undefined;
    this.body = undefined;
    this.ex = undefined;
    this.completed++;
    // Last: the owner may send the next request on this connection right away.
    this.owner.responseComplete(this, ex, reusable);
  }

  private onClose(): void {
    const ex = this.ex;
    this.ex = undefined;
    this.owner.upstreamClosed(this);
    if (ex === undefined || ex.responseDone) return;
    if (this.body?.end()) {
      // An until-close body ends here.
      if (this.chunkedOut) this.owner.toClient(LAST_CHUNK);
      this.resp = undefined;
      this.body = undefined;
      this.completed++;
      this.owner.responseComplete(this, ex, false);
      return;
    }
    // A reused connection the upstream closed (keep-alive timeout) before any byte of the response: a bodiless
    // request never reached the application; resend it once on a new connection.
    const retry = !this.gotBytes && this.completed > 0 && !ex.retried && ex.head.bodyKind === BODY_NONE;
    const error =
      this.error ?? (this.resp === undefined ? 'upstream closed before the response' : 'upstream closed mid-response');
    this.owner.upstreamFailed(this, ex, error, retry);
  }
}
