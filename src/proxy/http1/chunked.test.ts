import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyReader } from './body.js';
import { ChunkedDecoder, encodeChunks, LAST_CHUNK } from './chunked.js';
import { BODY_CHUNKED, BODY_LENGTH } from './framing.js';
import { splitAt } from './split.test-helper.js';

type Outcome = { error: string } | { payload: string; rest: string } | { more: string };

function decodeAll(pieces: Buffer[], maxTrailers?: number): Outcome {
  const d = new ChunkedDecoder(undefined, maxTrailers);
  const out: Buffer[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const p = d.decode(pieces[i]!, 0, pieces[i]!.length, out);
    if (p < 0) return { error: d.error! };
    if (d.done) {
      const rest = Buffer.concat([pieces[i]!.subarray(p), ...pieces.slice(i + 1)]);
      return { payload: Buffer.concat(out).toString('latin1'), rest: rest.toString('latin1') };
    }
  }
  return { more: Buffer.concat(out).toString('latin1') };
}

const one = (s: string, maxTrailers?: number) => decodeAll([Buffer.from(s, 'latin1')], maxTrailers);

describe('chunked decoder: accepted', () => {
  it.each([
    ['one chunk', '5\r\nhello\r\n0\r\n\r\n', 'hello'],
    ['several chunks', '3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n', 'abcde'],
    ['hex sizes, any case', 'a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n', '01234567890123456789'],
    ['leading zeros', '0003\r\nabc\r\n000\r\n\r\n', 'abc'],
    ['extension without value', '3;foo\r\nabc\r\n0\r\n\r\n', 'abc'],
    ['extension with token value', '3;foo=bar;baz\r\nabc\r\n0;last=1\r\n\r\n', 'abc'],
    ['extension with quoted value', '3;foo="a b;\\"c\\""\r\nabc\r\n0\r\n\r\n', 'abc'],
    ['trailers', '3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other:  two words \r\n\r\n', 'abc'],
    ['empty body', '0\r\n\r\n', ''],
    ['data containing CRLF', '4\r\n\r\n\r\n\r\n0\r\n\r\n', '\r\n\r\n'],
  ])('%s', (_n, text, payload) => {
    expect(one(text)).toEqual({ payload, rest: '' });
  });

  it('stops exactly at the end of the body', () => {
    expect(one('1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n')).toEqual({ payload: 'a', rest: 'GET / HTTP/1.1\r\n' });
  });
});

describe('chunked decoder: rejected', () => {
  it.each([
    ['non-hex size', 'zz\r\n', 'invalid chunk size'],
    ['negative size', '-1\r\n', 'invalid chunk size'],
    ['0x prefix', '0x5\r\nhello\r\n', 'invalid chunk size'],
    ['space after size', '5 \r\nhello\r\n', 'invalid chunk size'],
    ['space before size', ' 5\r\nhello\r\n', 'invalid chunk size'],
    ['empty size line', '\r\n', 'invalid chunk size'],
    ['bare LF after size', '5\nhello\r\n', 'invalid chunk size'],
    ['bare CR after size', '5\rhello\r\n', 'bare CR in chunk size line'],
    ['size too large', '100000000000000\r\n', 'chunk size too large'],
    ['whitespace in extension', '5; a=b\r\n', 'invalid chunk extension'],
    ['extension without name', '5;=b\r\n', 'invalid chunk extension'],
    ['unterminated quoted extension', '5;a="b\r\nhello\r\n', 'invalid chunk extension'],
    ['control in extension', '5;a\x01\r\n', 'invalid chunk extension'],
    ['data longer than size', '3\r\nabcd\r\n', 'chunk data not followed by CRLF'],
    ['data not followed by CRLF', '3\r\nabc\n0\r\n\r\n', 'chunk data not followed by CRLF'],
    ['trailer obs-fold', '0\r\nX: 1\r\n 2\r\n\r\n', 'invalid trailer field'],
    ['trailer space before colon', '0\r\nX : 1\r\n\r\n', 'invalid trailer field'],
    ['trailer without colon', '0\r\nX\r\n\r\n', 'invalid trailer field'],
    ['trailer bare LF', '0\r\nX: 1\n\r\n', 'invalid trailer field'],
    ['trailer NUL', '0\r\nX: \x00\r\n\r\n', 'invalid trailer field'],
    ['bare LF after last chunk', '0\r\n\n', 'invalid trailer field'],
    ['bare CR after last chunk', '0\r\n\rx', 'bare CR after the last chunk'],
  ])('%s', (_n, text, error) => {
    expect(one(text)).toEqual({ error });
  });

  it('trailer section larger than allowed', () => {
    expect(one(`0\r\nX: ${'a'.repeat(100)}\r\n\r\n`, 50)).toEqual({ error: 'trailer section too large' });
  });

  it('chunk size line longer than allowed', () => {
    expect(one(`1;${'a'.repeat(5000)}\r\n`)).toEqual({ error: 'chunk size line too long' });
  });
});

describe('chunked re-encoding', () => {
  it('frames each non-empty slice as one chunk', () => {
    const out: Buffer[] = [];
    encodeChunks([Buffer.from('abc'), Buffer.alloc(0), Buffer.alloc(17, 'x')], out);
    out.push(LAST_CHUNK);
    expect(Buffer.concat(out).toString()).toBe(`3\r\nabc\r\n11\r\n${'x'.repeat(17)}\r\n0\r\n\r\n`);
  });
});

const chunkedBody = fc
  .record({
    chunks: fc.array(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 6 }),
    ext: fc.array(fc.constantFrom('', ';a', ';a=b', ';q="x y"', ';a;b=c'), { maxLength: 7 }),
    trailers: fc.array(fc.constantFrom('X-A: 1', 'X-B:', 'Sum: a b c'), { maxLength: 3 }),
    upper: fc.boolean(),
    rest: fc.string({ maxLength: 10 }),
  })
  .map(({ chunks, ext, trailers, upper, rest }) => {
    let s = '';
    chunks.forEach((c, i) => {
      const n = Buffer.byteLength(c, 'latin1').toString(16);
      s += `${upper ? n.toUpperCase() : n}${ext[i] ?? ''}\r\n${c}\r\n`;
    });
    s += `0${ext[chunks.length] ?? ''}\r\n${trailers.map((t) => `${t}\r\n`).join('')}\r\n`;
    return { bytes: Buffer.from(s + rest, 'latin1'), payload: chunks.join(''), rest };
  });

describe('chunked decoder: properties', () => {
  it('decodes any valid body identically however it is split', () => {
    fc.assert(
      fc.property(chunkedBody, fc.array(fc.nat(), { maxLength: 8 }), ({ bytes, payload, rest }, cuts) => {
        expect(decodeAll(splitAt(bytes, cuts))).toEqual({ payload, rest });
      }),
      { numRuns: 1000 },
    );
  });

  it('any bytes give the same outcome however they are split', () => {
    const noisy = fc
      .array(fc.oneof(fc.constantFrom('\r\n', '0', '5', 'a', ';', '=', '"', ' ', 'X: 1', '\n'), fc.string()))
      .map((xs) => Buffer.from(xs.join(''), 'latin1'));
    fc.assert(
      fc.property(noisy, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        expect(decodeAll(splitAt(bytes, cuts))).toEqual(decodeAll([bytes]));
      }),
      { numRuns: 1000 },
    );
  });

  it('re-encoding the payload decodes back to it', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 6 }), (slices) => {
        const out: Buffer[] = [];
        encodeChunks(
          slices.map((s) => Buffer.from(s)),
          out,
        );
        out.push(LAST_CHUNK);
        const r = decodeAll([Buffer.concat(out)]);
        expect(r).toEqual({ payload: Buffer.concat(slices.map((s) => Buffer.from(s))).toString('latin1'), rest: '' });
      }),
    );
  });
});

describe('body reader', () => {
  it('Content-Length: exactly that many bytes, the rest is the next message', () => {
    const b = new BodyReader(BODY_LENGTH, 5);
    const out: Buffer[] = [];
    expect(b.read(Buffer.from('abc'), 0, out)).toBe(3);
    expect(b.done).toBe(false);
    expect(b.read(Buffer.from('deNEXT'), 0, out)).toBe(2);
    expect(b.done).toBe(true);
    expect(Buffer.concat(out).toString()).toBe('abcde');
  });

  it('chunked: framing errors surface as -1 with the reason', () => {
    const b = new BodyReader(BODY_CHUNKED, 0);
    expect(b.read(Buffer.from('g\r\n'), 0, [])).toBe(-1);
    expect(b.error).toBe('invalid chunk size');
  });

  it('a truncated length-delimited body is not complete at close', () => {
    const b = new BodyReader(BODY_LENGTH, 5);
    b.read(Buffer.from('ab'), 0, []);
    expect(b.end()).toBe(false);
  });
});
