import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BODY_UNTIL_CLOSE } from './framing.js';
import { HEAD_ERROR, HEAD_MORE, HeadReader } from './head-reader.js';
import { clientResponseHead, parseResponseHead, type ResponseHead } from './response.js';

function parse(text: string, headRequest = false): ResponseHead | string {
  const buf = Buffer.from(text, 'latin1');
  const r = new HeadReader(16 * 1024);
  const p = r.push(buf, 0);
  if (p === HEAD_MORE || p === HEAD_ERROR) return `framing: ${r.error ?? 'more'}`;
  return parseResponseHead(r.head, r.headStart, r.headEnd, headRequest);
}

const OPTS = { chunked: false, keepAlive: true, keepAliveSeconds: 60, date: 'Thu, 01 Jan 2026 00:00:00 GMT' };

function rewrite(text: string, o: Partial<typeof OPTS> = {}, headRequest = false): string {
  const r = parse(text, headRequest);
  if (typeof r === 'string') throw new Error(r);
  return clientResponseHead(r, { ...OPTS, ...o }).toString('latin1');
}

describe('response head: framing', () => {
  it.each([
    ['Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', false, BODY_LENGTH, 5, true],
    [
      'equal duplicate Content-Length',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n',
      false,
      BODY_LENGTH,
      5,
      true,
    ],
    ['Content-Length 0', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', false, BODY_NONE, 0, true],
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', false, BODY_CHUNKED, 0, true],
    ['no length: until close', 'HTTP/1.1 200 OK\r\n\r\n', false, BODY_UNTIL_CLOSE, 0, false],
    ['HEAD: never a body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', true, BODY_NONE, 0, true],
    ['HEAD with chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', true, BODY_NONE, 0, true],
    ['204', 'HTTP/1.1 204 No Content\r\n\r\n', false, BODY_NONE, 0, true],
    ['304 with Content-Length', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n', false, BODY_NONE, 0, true],
    ['100 Continue', 'HTTP/1.1 100 Continue\r\n\r\n', false, BODY_NONE, 0, true],
    ['HTTP/1.0 close', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n', false, BODY_LENGTH, 1, false],
    [
      'HTTP/1.0 keep-alive',
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n',
      false,
      BODY_LENGTH,
      1,
      true,
    ],
    [
      'Connection: close',
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n',
      false,
      BODY_LENGTH,
      1,
      false,
    ],
    ['no reason phrase', 'HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n', false, BODY_LENGTH, 1, true],
    ['empty reason phrase', 'HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n', false, BODY_LENGTH, 1, true],
  ])('%s', (_n, text, headRequest, bodyKind, bodyLength, reusable) => {
    expect(parse(text, headRequest)).toMatchObject({ bodyKind, bodyLength, reusable });
  });

  it.each([
    [
      'CL and TE (conflicting framing)',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      'Content-Length with Transfer-Encoding',
    ],
    [
      'differing Content-Lengths',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
      'conflicting Content-Length',
    ],
    ['Content-Length list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n', 'invalid Content-Length'],
    ['TE gzip', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'unsupported transfer-encoding'],
    [
      'TE gzip, chunked',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      'unsupported transfer-encoding',
    ],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'obs-fold (line folding) in header field'],
    ['space before colon', 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n', 'invalid character in header field name'],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\n', 'framing: bare LF line ending'],
    ['HTTP/2', 'HTTP/2 200 OK\r\n\r\n', 'invalid status line version'],
    ['two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'invalid status code'],
    ['status 600', 'HTTP/1.1 600 OK\r\n\r\n', 'invalid status code'],
    ['control in reason', 'HTTP/1.1 200 O\x01K\r\n\r\n', 'invalid reason phrase'],
  ])('rejects %s', (_n, text, error) => {
    expect(parse(text)).toBe(error);
  });
});

describe('response head: what the client gets', () => {
  it('copies the status line and end-to-end fields byte for byte, drops hop-by-hop ones', () => {
    const out = rewrite(
      'HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\n' +
        'Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 3\r\nProxy-Authenticate: Basic\r\nTrailer: X\r\n' +
        'Upgrade: h2c\r\nX-Keep: Mixed Case\r\n\r\n',
    );
    expect(out).toBe(
      'HTTP/1.1 200 OK\r\nServer: x\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 3\r\nX-Keep: Mixed Case\r\n' +
        'connection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n',
    );
  });

  it('adds a date when the upstream sent none, and connection: close when the client connection ends', () => {
    expect(rewrite('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { keepAlive: false })).toBe(
      `HTTP/1.1 200 OK\r\nContent-Length: 0\r\ndate: ${OPTS.date}\r\nconnection: close\r\n\r\n`,
    );
  });

  it('re-framed bodies: chunked, Content-Length and Transfer-Encoding from upstream dropped', () => {
    expect(rewrite('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: d\r\n\r\n', { chunked: true })).toBe(
      'HTTP/1.1 200 OK\r\nDate: d\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n',
    );
  });

  it('duplicate equal Content-Length is sent once', () => {
    expect(rewrite('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDate: d\r\nContent-Length: 3\r\n\r\n')).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDate: d\r\nconnection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n',
    );
  });

  it('HEAD and 304 keep Content-Length (metadata); 204 loses it', () => {
    expect(rewrite('HTTP/1.1 200 OK\r\nContent-Length: 9\r\nDate: d\r\n\r\n', {}, true)).toContain(
      'Content-Length: 9\r\n',
    );
    expect(rewrite('HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\nDate: d\r\n\r\n')).toContain('Content-Length: 9');
    expect(rewrite('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nDate: d\r\n\r\n')).not.toContain('Content-Length');
  });

  it('an HTTP/1.0 or reason-less status line is rewritten as HTTP/1.1', () => {
    expect(rewrite('HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nDate: d\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 404 Not Found\r\n/,
    );
    expect(rewrite('HTTP/1.1 200\r\nContent-Length: 0\r\nDate: d\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 \r\n/);
  });

  it('a Connection option cannot strip the framing', () => {
    expect(rewrite('HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\nDate: d\r\n\r\n')).toContain(
      'Content-Length: 2\r\n',
    );
  });

  it('body bytes at hand are appended in the same buffer', () => {
    const r = parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: d\r\n\r\n');
    if (typeof r === 'string') throw new Error(r);
    expect(clientResponseHead(r, OPTS, Buffer.from('hi')).toString()).toMatch(/\r\n\r\nhi$/);
  });

  it('never lets a field line through that was not in the input or generated by the proxy', () => {
    const line = fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,10}$/), fc.stringMatching(/^[\x21-\x7e]{0,10}$/));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), (fields) => {
        const text = `HTTP/1.1 200 OK\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Content-Length: 0\r\n\r\n`;
        const r = parse(text);
        if (typeof r === 'string') return; // e.g. a generated Transfer-Encoding
        const out = clientResponseHead(r, OPTS).toString('latin1');
        expect(out.endsWith('\r\n\r\n')).toBe(true);
        const lines = out.split('\r\n').slice(1, -2);
        const input = new Set(text.split('\r\n'));
        for (const l of lines) expect(input.has(l) || /^(date|connection|keep-alive): /.test(l)).toBe(true);
      }),
    );
  });
});
