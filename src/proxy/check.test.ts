import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizePath } from '../policy/l7/path.js';
import { checkRequest, isNormalPath } from './check.js';
import { HeadReader } from './http1/head-reader.js';
import { parseRequestHead, type RequestHead } from './http1/request.js';

function head(text: string): RequestHead {
  const r = new HeadReader(16 * 1024);
  const buf = Buffer.from(text, 'latin1');
  if (r.push(buf, 0) < 0) throw new Error(r.error);
  const h = parseRequestHead(r.head, r.headStart, r.headEnd);
  if (typeof h === 'string') throw new Error(h);
  return h;
}

describe('isNormalPath (fast path of normalizePath)', () => {
  it.each([
    ['/', true],
    ['/public/index.html', true],
    ["/a-b_c~d!$&'()*+,;=:@/e", true],
    ['/a?q=/../x#', false],
    ['/a?q=/../x', true],
    ['/a//b', false],
    ['/a/./b', false],
    ['/a/../b', false],
    ['/.well-known/x', false],
    ['/a%2eb', false],
    ['/a\\b', false],
    ['/a"b', false],
    ['a/b', false],
    ['', false],
  ])('%s → %s', (p, want) => {
    expect(isNormalPath(p)).toBe(want);
  });

  it('agrees with normalizePath: when it says normal, normalizePath returns the target unchanged', () => {
    const ch = fc.constantFrom(...'/.%?#;\\:@aZ09-_~'.split(''), 'ab', '..', '%2e', '%2F', '//', '"', '\x7f');
    const path = fc.array(ch, { maxLength: 16 }).map((xs) => `/${xs.join('')}`);
    fc.assert(
      fc.property(path, (p) => {
        if (isNormalPath(p)) expect(normalizePath(p)).toEqual({ path: p });
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with normalizePath on printable ASCII targets', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\/[\x21-\x7e]{0,24}$/), (p) => {
        if (isNormalPath(p)) expect(normalizePath(p)).toEqual({ path: p });
      }),
      { numRuns: 5000 },
    );
  });
});

describe('checkRequest', () => {
  it.each([
    ['origin-form', 'GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n', { ok: true, path: '/b', host: 'h' }],
    ['absolute-form', 'GET http://h:80/p?q HTTP/1.1\r\nHost: h\r\n\r\n', { ok: true, path: '/p?q', host: 'h' }],
    ['absolute-form, empty path', 'GET http://h HTTP/1.1\r\n\r\n', { ok: true, path: '/', host: 'h' }],
    ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', { ok: true, path: '/', host: '' }],
    ['multiple Host', 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', { ok: false, error: 'multiple Host headers' }],
    ['missing Host', 'GET / HTTP/1.1\r\n\r\n', { ok: false, error: 'missing Host' }],
    ['empty Host', 'GET / HTTP/1.1\r\nHost:\r\n\r\n', { ok: false, error: 'missing Host' }],
    [
      'TE not chunked',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n',
      { ok: false, error: 'unsupported transfer-encoding' },
    ],
    [
      'HTTP/1.0 TE not chunked',
      'POST / HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n',
      { ok: false, error: 'unsupported transfer-encoding' },
    ],
    [
      'CONNECT',
      'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n',
      { ok: false, status: 400, error: 'CONNECT is not proxied' },
    ],
    ['https scheme', 'GET https://h/ HTTP/1.1\r\n\r\n', { ok: false, error: 'unsupported scheme' }],
    ['userinfo', 'GET http://u:p@h/ HTTP/1.1\r\n\r\n', { ok: false, error: 'userinfo in target' }],
    ['Host disagrees with authority', 'GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n', { ok: false }],
    ['fragment', 'GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n', { ok: false, error: 'fragment in request target' }],
    [
      'encoded slash',
      'GET /a%2fb HTTP/1.1\r\nHost: h\r\n\r\n',
      { ok: false, error: 'encoded slash or backslash in path' },
    ],
    [
      'asterisk-form',
      'OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n',
      { ok: false, error: 'request target is not an absolute path' },
    ],
  ])('%s', (_n, text, want) => {
    expect(checkRequest(head(text))).toMatchObject(want);
  });
});
