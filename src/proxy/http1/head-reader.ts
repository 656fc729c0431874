/**
 * Finds where a message head (start line, header fields, empty line) ends in a byte stream that arrives in
 * arbitrary pieces. It only frames: every LF must follow a CR (a bare LF is an error at once, not after a timeout),
 * the head may not exceed `max` bytes, and empty lines before the start line are skipped (RFC 9112 §2.2). The
 * content of the lines is validated by the parsers once the head is complete.
 *
 * The common case, a head inside one `data` chunk, costs one `indexOf` per line and no copy: `head` is then the
 * chunk itself. Only a head split across chunks is held and concatenated.
 */
import { CR, LF } from './chars.js';

/** push() result: the head is not complete yet. */
export const HEAD_MORE = -1;
/** push() result: framing error, see `error`. */
export const HEAD_ERROR = -2;

export type HeadFramingError = 'head too large' | 'bare LF line ending';

const EMPTY = Buffer.alloc(0);

export class HeadReader {
  /** After push() returned an offset: the head is head[headStart, headEnd), headEnd just after the empty line. */
  head: Buffer = EMPTY;
  headStart = 0;
  headEnd = 0;
  error: HeadFramingError | undefined;
  private parts: Buffer[] = [];
  /** Bytes of this head held in `parts` (the logical offset of the next byte). */
  private held = 0;
  /** Logical offset where the current line starts. */
  private lineStart = 0;
  /** The last held byte is a CR (a chunk may end between CR and LF). */
  private lastCR = false;
  /** Only empty lines so far: they precede the start line and are skipped. */
  private leading = true;
  private skip = 0;

  constructor(private readonly max: number) {}

  /** Bytes of an incomplete head are held (for timeouts: a head has started). */
  get pending(): boolean {
    return this.held > 0;
  }

  reset(): void {
    if (this.parts.length) this.parts = [];
    this.held = 0;
    this.lineStart = 0;
    this.lastCR = false;
    this.leading = true;
    this.skip = 0;
    this.head = EMPTY;
    this.error = undefined;
  }

  /**
   * Consume buf[from..]. Returns the offset in `buf` just after the head (then `head`, `headStart`, `headEnd` are
   * set), HEAD_MORE (everything was consumed and held), or HEAD_ERROR.
   */
  push(buf: Buffer, from: number): number {
    // Logical offset (from the first byte of this head) of buf[i] is base + i.
    const base = this.held - from;
    let pos = from;
    for (;;) {
      const lf = buf.indexOf(LF, pos);
      if (lf < 0) break;
      if (!(lf > from ? buf[lf - 1] === CR : this.lastCR)) return this.fail('bare LF line ending');
      const abs = base + lf;
      // The whole head, skipped empty lines included, counts: it is what we hold in memory.
      if (abs + 1 > this.max) return this.fail('head too large');
      if (abs - 1 === this.lineStart) {
        if (!this.leading) return this.complete(buf, from, lf + 1);
        this.skip = abs + 1;
      } else {
        this.leading = false;
      }
      this.lineStart = abs + 1;
      pos = lf + 1;
    }
    if (base + buf.length > this.max) return this.fail('head too large');
    if (buf.length > from) {
      this.parts.push(from === 0 ? buf : buf.subarray(from));
      this.held = base + buf.length;
      this.lastCR = buf[buf.length - 1] === CR;
    }
    return HEAD_MORE;
  }

  private complete(buf: Buffer, from: number, end: number): number {
    if (this.parts.length === 0) {
      this.head = buf;
      this.headStart = from + this.skip;
      this.headEnd = end;
    } else {
      this.parts.push(buf.subarray(from, end));
      this.head = Buffer.concat(this.parts);
      this.parts = [];
      this.headStart = this.skip;
      this.headEnd = this.head.length;
    }
    return end;
  }

  private fail(e: HeadFramingError): number {
    this.error = e;
    return HEAD_ERROR;
  }
}
