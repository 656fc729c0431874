/**
 * Strict, incremental decoder of the chunked transfer coding (RFC 9112 §7.1), byte-exact across any split of the
 * input. Chunk-size lines are `1*HEXDIG *( ";" token [ "=" ( token / quoted-string ) ] ) CRLF` — no whitespace
 * anywhere (stricter than the grammar's BWS: lenient chunk-line parsing is a known smuggling vector), no bare CR or
 * LF, no sign or `0x`; chunk data must be followed by exactly CRLF; trailer fields follow the header field rules
 * (token name, colon, no obs-fold). The payload is handed out as slices of the input; extensions and trailers are
 * validated and dropped (the encoder re-frames the payload, so the next hop never sees what we did not check).
 */
import {
  BACKSLASH,
  COLON,
  CR,
  DQUOTE,
  EQUALS,
  FIELD_CHAR,
  HEX,
  HTAB,
  LF,
  QDTEXT,
  SEMICOLON,
  SP,
  TCHAR,
} from './chars.js';

const S_SIZE_FIRST = 0;
const S_SIZE = 1;
const S_EXT_NAME_FIRST = 2;
const S_EXT_NAME = 3;
const S_EXT_VALUE_FIRST = 4;
const S_EXT_TOKEN = 5;
const S_EXT_QUOTED = 6;
const S_EXT_QUOTED_ESC = 7;
const S_EXT_AFTER_QUOTED = 8;
const S_SIZE_LF = 9;
const S_DATA = 10;
const S_DATA_CR = 11;
const S_DATA_LF = 12;
const S_TRAILER_START = 13;
const S_TRAILER_NAME = 14;
const S_TRAILER_VALUE = 15;
const S_TRAILER_LF = 16;
const S_END_LF = 17;
const S_DONE = 18;

/** 2^44: a larger chunk (16 TiB) is an error; keeps sizes exact integers. */
const MAX_SIZE_BEFORE_SHIFT = 2 ** 44;

export class ChunkedDecoder {
  done = false;
  error: string | undefined;
  private state = S_SIZE_FIRST;
  /** Chunk size while reading the size line, then the data bytes still to come. */
  private size = 0;
  private lineBytes = 0;
  private trailerBytes = 0;

  /**
   * @param maxLine longest chunk-size line (with extensions)
   * @param maxTrailers largest trailer section
   */
  constructor(
    private readonly maxLine = 4096,
    private readonly maxTrailers = 16 * 1024,
  ) {}

  /**
   * Decode buf[from, end); payload slices are pushed to `out`. Returns the offset after the last byte consumed:
   * `end`, or less once the message is complete (`done`; the rest belongs to the next message), or -1 on a
   * framing error (`error`).
   */
  decode(buf: Buffer, from: number, end: number, out: Buffer[]): number {
    let p = from;
    while (p < end) {
      const s = this.state;
      if (s === S_DATA) {
        const n = Math.min(this.size, end - p);
        out.push(buf.subarray(p, p + n));
        p += n;
        this.size -= n;
        if (this.size === 0) this.state = S_DATA_CR;
        continue;
      }
      const b = buf[p++]!;
      if (s < S_SIZE_LF && ++this.lineBytes > this.maxLine) return this.fail('chunk size line too long');
      if (s >= S_TRAILER_START && ++this.trailerBytes > this.maxTrailers) return this.fail('trailer section too large');
      switch (s) {
        case S_SIZE_FIRST: {
          const h = HEX[b]!;
          if (h < 0) return this.fail('invalid chunk size');
          this.size = h;
          this.state = S_SIZE;
          break;
        }
        case S_SIZE: {
          const h = HEX[b]!;
          if (h >= 0) {
            if (this.size >= MAX_SIZE_BEFORE_SHIFT) return this.fail('chunk size too large');
            this.size = this.size * 16 + h;
          } else if (b === SEMICOLON) this.state = S_EXT_NAME_FIRST;
          else if (b === CR) this.state = S_SIZE_LF;
          else return this.fail('invalid chunk size');
          break;
        }
        case S_EXT_NAME_FIRST:
          if (TCHAR[b] !== 1) return this.fail('invalid chunk extension');
          this.state = S_EXT_NAME;
          break;
        case S_EXT_NAME:
          if (TCHAR[b] === 1) break;
          if (b === EQUALS) this.state = S_EXT_VALUE_FIRST;
          else if (b === SEMICOLON) this.state = S_EXT_NAME_FIRST;
          else if (b === CR) this.state = S_SIZE_LF;
          else return this.fail('invalid chunk extension');
          break;
        case S_EXT_VALUE_FIRST:
          if (TCHAR[b] === 1) this.state = S_EXT_TOKEN;
          else if (b === DQUOTE) this.state = S_EXT_QUOTED;
          else return this.fail('invalid chunk extension');
          break;
        case S_EXT_TOKEN:
          if (TCHAR[b] === 1) break;
          if (b === SEMICOLON) this.state = S_EXT_NAME_FIRST;
          else if (b === CR) this.state = S_SIZE_LF;
          else return this.fail('invalid chunk extension');
          break;
        case S_EXT_QUOTED:
          if (b === DQUOTE) this.state = S_EXT_AFTER_QUOTED;
          else if (b === BACKSLASH) this.state = S_EXT_QUOTED_ESC;
          else if (QDTEXT[b] !== 1) return this.fail('invalid chunk extension');
          break;
        case S_EXT_QUOTED_ESC:
          // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
          if (b !== HTAB && (b < SP || b === 0x7f)) return this.fail('invalid chunk extension');
          this.state = S_EXT_QUOTED;
          break;
        case S_EXT_AFTER_QUOTED:
          if (b === SEMICOLON) this.state = S_EXT_NAME_FIRST;
          else if (b === CR) this.state = S_SIZE_LF;
          else return this.fail('invalid chunk extension');
          break;
        case S_SIZE_LF:
          if (b !== LF) return this.fail('bare CR in chunk size line');
          this.lineBytes = 0;
          this.state = this.size === 0 ? S_TRAILER_START : S_DATA;
          break;
        case S_DATA_CR:
          if (b !== CR) return this.fail('chunk data not followed by CRLF');
          this.state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (b !== LF) return this.fail('chunk data not followed by CRLF');
          this.state = S_SIZE_FIRST;
          break;
        case S_TRAILER_START:
          // A line starting with SP/HTAB would be obs-fold; an empty name is not a token either.
          if (b === CR) this.state = S_END_LF;
          else if (TCHAR[b] === 1) this.state = S_TRAILER_NAME;
          else return this.fail('invalid trailer field');
          break;
        case S_TRAILER_NAME:
          if (TCHAR[b] === 1) break;
          if (b === COLON) this.state = S_TRAILER_VALUE;
          else return this.fail('invalid trailer field');
          break;
        case S_TRAILER_VALUE:
          if (b === CR) this.state = S_TRAILER_LF;
          else if (FIELD_CHAR[b] !== 1) return this.fail('invalid trailer field');
          break;
        case S_TRAILER_LF:
          if (b !== LF) return this.fail('bare CR in trailer field');
          this.state = S_TRAILER_START;
          break;
        case S_END_LF:
          if (b !== LF) return this.fail('bare CR after the last chunk');
          this.state = S_DONE;
          this.done = true;
          return p;
        default:
          return this.fail('data after the end of the chunked body');
      }
    }
    return p;
  }

  private fail(e: string): number {
    this.error = e;
    return -1;
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');
/** The last chunk with no trailers: what the re-encoder sends at the end. */
export const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** Re-encode payload slices as chunks (one chunk per non-empty slice), appended to `out`. */
export function encodeChunks(payload: readonly Buffer[], out: Buffer[]): void {
  for (const s of payload) {
    if (s.length === 0) continue;
    out.push(Buffer.from(`${s.length.toString(16)}\r\n`, 'latin1'), s, CRLF);
  }
}
