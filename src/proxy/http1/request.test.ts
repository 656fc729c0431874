import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fieldName, fieldValue } from './fields.js';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE } from './framing.js';
import { HEAD_ERROR, HEAD_MORE, HeadReader } from './head-reader.js';
import { EXPECT_CONTINUE, EXPECT_NONE, EXPECT_OTHER, parseRequestHead, type RequestHead } from './request.js';
import { splitAt } from './split.test-helper.js';

/** Everything a caller can observe of one parse, as plain data (for equality across splits). */
function summary(h: RequestHead | string) {
  if (typeof h === 'string') return { error: h };
  const fields: [string, string][] = [];
  for (let i = 0; i < h.fields.count; i++) fields.push([fieldName(h.fields, i), fieldValue(h.fields, i)]);
  const { fields: _f, fieldsStart: _s, ...rest } = h;
  return { ...rest, fields };
}

type Outcome = { framing: string } | { more: true } | { head: ReturnType<typeof summary>; rest: string };

/** Feed the pieces through a HeadReader as a socket would deliver them, then parse the head. */
function feed(pieces: Buffer[], max = 16 * 1024): Outcome {
  const r = new HeadReader(max);
  for (let i = 0; i < pieces.length; i++) {
    const p = r.push(pieces[i]!, 0);
    if (p === HEAD_MORE) continue;
    if (p === HEAD_ERROR) return { framing: r.error! };
    const head = summary(parseRequestHead(r.head, r.headStart, r.headEnd));
    const rest = Buffer.concat([pieces[i]!.subarray(p), ...pieces.slice(i + 1)]).toString('latin1');
    return { head, rest };
  }
  return { more: true };
}

const one = (s: string, max?: number) => feed([Buffer.from(s, 'latin1')], max);

describe('request head: accepted', () => {
  it.each([
    [
      'origin-form GET',
      'GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n',
      { method: 'GET', target: '/a?b=c', minor: 1, host: 'x' },
    ],
    ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', { minor: 0, hostCount: 0, keepAlive: false }],
    ['HTTP/1.0 keep-alive', 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n', { keepAlive: true }],
    ['HTTP/1.1 close', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { keepAlive: false }],
    ['absolute-form target kept raw', 'GET http://h/p HTTP/1.1\r\n\r\n', { target: 'http://h/p', hostCount: 0 }],
    ['OWS around value trimmed', 'GET / HTTP/1.1\r\nHost: \t x \t\r\n\r\n', { host: 'x' }],
    [
      'empty value',
      'GET / HTTP/1.1\r\nHost: x\r\nX-E:\r\n\r\n',
      {
        fields: [
          ['Host', 'x'],
          ['X-E', ''],
        ],
      },
    ],
    [
      'obs-text in value',
      'GET / HTTP/1.1\r\nHost: x\r\nX: caf\xe9\r\n\r\n',
      {
        fields: [
          ['Host', 'x'],
          ['X', 'caf\xe9'],
        ],
      },
    ],
    [
      'Content-Length',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n',
      { bodyKind: BODY_LENGTH, bodyLength: 12 },
    ],
    [
      'Content-Length 0 is no body',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 000\r\n\r\n',
      { bodyKind: BODY_NONE },
    ],
    [
      'chunked (any case)',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n',
      { bodyKind: BODY_CHUNKED, teError: false },
    ],
    [
      'TE gzip flagged for the checks',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
      { teError: true },
    ],
    ['TE list flagged', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', { teError: true }],
    [
      'two TE fields flagged',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
      { teError: true },
    ],
    [
      'HTTP/1.0 chunked closes after',
      'POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n',
      { bodyKind: BODY_CHUNKED, keepAlive: false },
    ],
    ['two Host counted', 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', { hostCount: 2, host: 'a' }],
    [
      'upgrade',
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n',
      { upgrade: true },
    ],
    [
      'Upgrade without Connection: upgrade is no upgrade',
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n',
      { upgrade: false },
    ],
    [
      'Connection names fields',
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Secret ,, Foo\r\n\r\n',
      { named: ['x-secret', 'foo'] },
    ],
    ['Expect 100-continue', 'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n', { expect: EXPECT_CONTINUE }],
    ['Expect other', 'POST / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n', { expect: EXPECT_OTHER }],
    ['Expect ignored on HTTP/1.0', 'POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n', { expect: EXPECT_NONE }],
    ['leading empty lines skipped', '\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n', { method: 'GET' }],
    ['known non-GET method', 'M-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\n', { method: 'M-SEARCH', target: '*' }],
  ])('%s', (_n, text, want) => {
    const o = one(text);
    expect(o).toHaveProperty('head');
    expect((o as { head: object }).head).toMatchObject(want);
  });

  it('bytes after the head are left for the body / next request', () => {
    expect(one('GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n')).toMatchObject({ rest: 'GET /2 HTTP/1.1\r\n' });
  });

  it('an incomplete head asks for more', () => {
    expect(one('GET / HTTP/1.1\r\nHost: x\r\n')).toEqual({ more: true });
    expect(one('GET / HTTP/1.1\r\nHost: x\r\n\r')).toEqual({ more: true });
  });
});

describe('request head: rejected', () => {
  it.each([
    ['bare LF in request line', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 'bare LF line ending'],
    ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: x\r\n\n', 'bare LF line ending'],
    ['bare LF only', 'GET / HTTP/1.1\nHost: x\n\n', 'bare LF line ending'],
    ['head larger than max', `GET / HTTP/1.1\r\nX: ${'a'.repeat(200)}\r\n\r\n`, 'head too large'],
  ])('framing: %s', (_n, text, error) => {
    expect(one(text, 128)).toEqual({ framing: error });
  });

  it('a head too large is refused before it completes (nothing is buffered past max)', () => {
    expect(one(`GET / HTTP/1.1\r\nX: ${'a'.repeat(500)}`, 128)).toEqual({ framing: 'head too large' });
  });

  it.each([
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n', 'obs-fold (line folding) in header field'],
    ['obs-fold on the first field', 'GET / HTTP/1.1\r\n Host: x\r\n\r\n', 'obs-fold (line folding) in header field'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 'invalid character in header field name'],
    ['tab before colon', 'GET / HTTP/1.1\r\nHost\t: x\r\n\r\n', 'invalid character in header field name'],
    ['non-token name', 'GET / HTTP/1.1\r\nHo(st: x\r\n\r\n', 'invalid character in header field name'],
    ['empty name', 'GET / HTTP/1.1\r\n: x\r\n\r\n', 'invalid header field name'],
    ['no colon', 'GET / HTTP/1.1\r\nHost\r\n\r\n', 'invalid character in header field name'],
    ['NUL in value', 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n', 'invalid character in header field value'],
    ['bare CR in value', 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n', 'bare CR in header field'],
    ['DEL in value', 'GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n', 'invalid character in header field value'],
    ['lower-case method is no known method', 'get / HTTP/1.1\r\n\r\n', 'unknown method'],
    ['unknown method', 'FOO / HTTP/1.1\r\n\r\n', 'unknown method'],
    ['two spaces', 'GET  / HTTP/1.1\r\n\r\n', 'invalid request target'],
    ['space in target', 'GET /a b HTTP/1.1\r\n\r\n', 'unsupported HTTP version'],
    ['non-ASCII target', 'GET /caf\xe9 HTTP/1.1\r\n\r\n', 'invalid request target'],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 'unsupported HTTP version'],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n', 'unsupported HTTP version'],
    ['lower-case version', 'GET / http/1.1\r\n\r\n', 'unsupported HTTP version'],
    ['trailing space after version', 'GET / HTTP/1.1 \r\n\r\n', 'invalid request line'],
    ['CL with sign', 'POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n', 'invalid Content-Length'],
    ['CL hex', 'POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n', 'invalid Content-Length'],
    ['CL list', 'POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n', 'invalid Content-Length'],
    ['CL empty', 'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n', 'invalid Content-Length'],
    ['CL inner space', 'POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n', 'invalid Content-Length'],
    ['CL too long', 'POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n', 'invalid Content-Length'],
    [
      'two equal CL',
      'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n',
      'multiple Content-Length fields',
    ],
    [
      'two different CL',
      'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
      'multiple Content-Length fields',
    ],
    [
      'CL and TE',
      'POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      'Content-Length with Transfer-Encoding',
    ],
    [
      'TE and CL',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n',
      'Content-Length with Transfer-Encoding',
    ],
    [
      'HTTP/1.0 CL and TE',
      'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n',
      'Content-Length with Transfer-Encoding',
    ],
  ])('%s → 400', (_n, text, error) => {
    expect(one(text)).toMatchObject({ head: { error } });
  });
});

// ---- properties ----

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/);
const target = fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/);
const request = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
    target,
    minor: fc.constantFrom(0, 1),
    fields: fc.array(fc.tuple(token, value), { maxLength: 8 }),
    cl: fc.option(fc.nat(99999), { nil: undefined }),
    chunked: fc.boolean(),
    leading: fc.nat(2),
    rest: fc.string({ maxLength: 20 }),
  })
  .map(({ method, target, minor, fields, cl, chunked, leading, rest }) => {
    let s = `${'\r\n'.repeat(leading)}${method} ${target} HTTP/1.${minor}\r\n`;
    for (const [n, v] of fields) s += `${n}: ${v}\r\n`;
    if (cl !== undefined) s += `Content-Length: ${cl}\r\n`;
    if (chunked) s += 'Transfer-Encoding: chunked\r\n';
    return Buffer.from(`${s}\r\n${rest}`, 'latin1');
  });

describe('request head: properties', () => {
  it('a request split at arbitrary byte boundaries parses exactly as the unsplit one', () => {
    fc.assert(
      fc.property(request, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        expect(feed(splitAt(bytes, cuts))).toEqual(feed([bytes]));
      }),
      { numRuns: 1000 },
    );
  });

  it('any bytes split at arbitrary boundaries give the same outcome (parse, error, or need-more)', () => {
    const noisy = fc
      .array(fc.oneof(fc.constantFrom('\r', '\n', '\r\n', ' ', ':', 'GET / HTTP/1.1', 'Host: x', '\t'), fc.string()))
      .map((xs) => Buffer.from(xs.join(''), 'latin1'));
    fc.assert(
      fc.property(noisy, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        expect(feed(splitAt(bytes, cuts), 256)).toEqual(feed([bytes], 256));
      }),
      { numRuns: 1000 },
    );
  });

  it('generated valid requests parse with their fields in order', () => {
    fc.assert(
      fc.property(request, (bytes) => {
        const o = feed([bytes]);
        expect(o).toHaveProperty('head');
        const h = (o as { head: { error?: string; fields?: [string, string][] } }).head;
        // Only the framing checks can reject a generated request (a CL together with chunked).
        if (h.error !== undefined) expect(h.error).toBe('Content-Length with Transfer-Encoding');
      }),
      { numRuns: 500 },
    );
  });
});
