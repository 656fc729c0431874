/**
 * Reads one message body of a known framing from a byte stream, handing out the payload as slices of the input
 * (never buffering it): Content-Length counts bytes down, chunked goes through the strict decoder, until-close takes
 * everything until the peer closes (the caller calls `end()` then).
 */
import { ChunkedDecoder } from './chunked.js';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE, type BodyKind } from './framing.js';

export class BodyReader {
  done: boolean;
  error: string | undefined;
  private remaining: number;
  private readonly chunked: ChunkedDecoder | undefined;

  constructor(
    readonly kind: BodyKind,
    length: number,
    maxTrailers?: number,
  ) {
    this.remaining = kind === BODY_LENGTH ? length : 0;
    this.done = kind === BODY_NONE || (kind === BODY_LENGTH && length === 0);
    this.chunked = kind === BODY_CHUNKED ? new ChunkedDecoder(undefined, maxTrailers) : undefined;
  }

  /**
   * Consume body bytes from buf[from..]; payload slices are pushed to `out`. Returns the offset after the body
   * bytes consumed (the rest of `buf` belongs to the next message once `done`), or -1 on a framing error.
   */
  read(buf: Buffer, from: number, out: Buffer[]): number {
    if (this.done) return from;
    const end = buf.length;
    if (this.kind === BODY_LENGTH) {
      const n = Math.min(this.remaining, end - from);
      if (n > 0) out.push(from === 0 && n === end ? buf : buf.subarray(from, from + n));
      this.remaining -= n;
      if (this.remaining === 0) this.done = true;
      return from + n;
    }
    if (this.kind === BODY_UNTIL_CLOSE) {
      if (end > from) out.push(from === 0 ? buf : buf.subarray(from));
      return end;
    }
    const d = this.chunked!;
    const p = d.decode(buf, from, end, out);
    if (p < 0) this.error = d.error;
    else if (d.done) this.done = true;
    return p;
  }

  /** The peer closed: complete for until-close bodies; for the others the body was truncated. */
  end(): boolean {
    if (this.kind === BODY_UNTIL_CLOSE) this.done = true;
    return this.done;
  }
}
