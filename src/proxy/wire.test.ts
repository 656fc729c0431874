/**
 * The proxy on the wire: raw bytes in, raw bytes out, against a real Node upstream and a scripted (misbehaving)
 * upstream. Each case names the property it pins down.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HttpRule, L7Policy } from '../policy/types.js';
import { DENY_BODY, type HttpEvent, type ProxyServer, startProxy } from './server.js';

const ref = { kind: 'CiliumNetworkPolicy' as const, namespace: 'default', name: 'wire', path: 'spec.ingress[0]' };
const rule = (r: Partial<HttpRule>, i: number): HttpRule => ({ ...r, ref, httpPath: `http[${i}]` });
const RULES: L7Policy = {
  http: [
    rule({ method: 'GET', path: '/public(/.*)?' }, 0),
    rule({ method: 'POST', path: '/upload' }, 1),
    rule({ method: 'GET', path: '/ws' }, 2),
    rule({ method: 'HEAD', path: '/public(/.*)?' }, 3),
  ],
  dns: [],
  wildcard: false,
  wildcardBy: [],
};
const WILDCARD: L7Policy = { http: [], dns: [], wildcard: true, wildcardBy: [] };

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const BIG = randomBytes(3 * 1024 * 1024);

interface Seen {
  method?: string;
  url?: string;
  version: string;
  rawHeaders: string[];
  bodyLength: number;
  bodySha: string;
  trailers: Record<string, string | undefined>;
}

let upstream: http.Server;
let upstreamPort = 0;
let upstreamConnections = 0;
const seen: Seen[] = [];
const upgradedSockets: import('node:stream').Duplex[] = [];

/** A TCP "upstream" whose answer each test scripts. */
let scripted: net.Server;
let scriptedPort = 0;
let scriptedConnections = 0;
let script: (s: net.Socket, request: string) => void = () => undefined;
const scriptedSockets = new Set<net.Socket>();

let policy: L7Policy | undefined = RULES;
const events: HttpEvent[] = [];
let proxy: ProxyServer;
let evil: ProxyServer;

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      seen.push({
        method: req.method,
        url: req.url,
        version: req.httpVersion,
        rawHeaders: req.rawHeaders,
        bodyLength: body.length,
        bodySha: sha(body),
        trailers: req.trailers,
      });
      if (req.url === '/public/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length });
        res.end(BIG);
      } else if (req.url === '/public/bigchunked') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let i = 0; i < BIG.length; i += 100_000) res.write(BIG.subarray(i, i + 100_000));
        res.end();
      } else if (req.url === '/upload') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${body.length} ${sha(body)}`);
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(`ok ${req.url}`) });
        res.end(req.method === 'HEAD' ? undefined : `ok ${req.url}`);
      }
    });
  });
  upstream.on('connection', () => upstreamConnections++);
  upstream.on('upgrade', (req, socket) => {
    upgradedSockets.push(socket);
    seen.push({
      method: req.method,
      url: req.url,
      version: req.httpVersion,
      rawHeaders: req.rawHeaders,
      bodyLength: 0,
      bodySha: '',
      trailers: {},
    });
    if (req.headers['x-refuse']) {
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\nno');
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\nhello');
    socket.on('data', (d) => socket.write(`echo:${d}`));
  });
  upstream.keepAliveTimeout = 300;
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as net.AddressInfo).port;

  scripted = net.createServer((s) => {
    scriptedConnections++;
    scriptedSockets.add(s);
    s.on('close', () => scriptedSockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', (d) => script(s, d.toString('latin1')));
  });
  await new Promise<void>((r) => scripted.listen(0, '127.0.0.1', r));
  scriptedPort = (scripted.address() as net.AddressInfo).port;

  proxy = await startProxy({
    port: 0,
    host: '127.0.0.1',
    transparent: false,
    headersTimeoutMs: 400,
    requestTimeoutMs: 1200,
    maxHeaderSize: 4096,
    upstreamTimeoutMs: 2000,
    originalDst: () => ({ ip: '127.0.0.1', port: upstreamPort }),
    policy: { lookup: () => policy },
    onHttpEvent: (e) => events.push(e),
  });
  evil = await startProxy({
    port: 0,
    host: '127.0.0.1',
    transparent: false,
    upstreamTimeoutMs: 400,
    originalDst: () => ({ ip: '127.0.0.1', port: scriptedPort }),
    policy: { lookup: () => WILDCARD },
    onHttpEvent: (e) => events.push(e),
  });
});

afterAll(async () => {
  await proxy.close();
  await evil.close();
  upstream.closeAllConnections();
  for (const u of upgradedSockets) u.destroy();
  for (const s of scriptedSockets) s.destroy();
  await new Promise((r) => upstream.close(r));
  await new Promise((r) => scripted.close(r));
});

beforeEach(() => {
  policy = RULES;
});

interface RawResult {
  text: string;
  bytes: Buffer;
  closed: boolean;
}

/** Send `pieces` (with `gapMs` between them), collect everything until the server closes or `ms` passes. */
function raw(port: number, pieces: string | (string | Buffer)[], ms = 400, gapMs = 0): Promise<RawResult> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let closed = false;
    const done = () => {
      clearTimeout(t);
      const bytes = Buffer.concat(got);
      resolve({ bytes, text: bytes.toString('latin1'), closed });
    };
    s.on('data', (d: Buffer) => got.push(d));
    s.on('close', () => {
      closed = true;
      done();
    });
    s.on('error', () => undefined);
    const t = setTimeout(() => {
      s.destroy();
      done();
    }, ms);
    const list = typeof pieces === 'string' ? [pieces] : pieces;
    let i = 0;
    const next = () => {
      if (i >= list.length || s.destroyed) return;
      const p = list[i++]!;
      s.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
      if (gapMs > 0) setTimeout(next, gapMs);
      else next();
    };
    next();
  });
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: deathstar\r\n${extra}\r\n`;

/** Body of the first response in `text` when it is Content-Length delimited. */
function firstBody(text: string): string {
  const h = text.indexOf('\r\n\r\n');
  const m = /content-length: (\d+)/i.exec(text.slice(0, h));
  return m ? text.slice(h + 4, h + 4 + Number(m[1])) : '';
}

describe('wire: request strictness', () => {
  it.each([
    ['space between name and colon', 'GET /public/x HTTP/1.1\r\nHost: d\r\nX-A : 1\r\n\r\n'],
    ['non-token header name', 'GET /public/x HTTP/1.1\r\nHost: d\r\nX[A]: 1\r\n\r\n'],
    ['NUL in a header value', 'GET /public/x HTTP/1.1\r\nHost: d\r\nX-A: a\x00b\r\n\r\n'],
    ['bare CR in a header value', 'GET /public/x HTTP/1.1\r\nHost: d\r\nX-A: a\rb\r\n\r\n'],
    ['bare LF between fields', 'GET /public/x HTTP/1.1\r\nHost: d\nX-A: 1\r\n\r\n'],
    ['obs-fold', 'GET /public/x HTTP/1.1\r\nHost: d\r\nX-A: 1\r\n\tfolded\r\n\r\n'],
    ['Content-Length with a sign', 'POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: +2\r\n\r\nab'],
    ['Content-Length not digits', 'POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: 2a\r\n\r\nab'],
    ['Content-Length list', 'POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: 2, 2\r\n\r\nab'],
    [
      'two equal Content-Lengths',
      'POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab',
    ],
    [
      'Content-Length with Transfer-Encoding',
      'POST /upload HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
    ],
    ['Transfer-Encoding identity', 'POST /upload HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: identity\r\n\r\n'],
    [
      'two Transfer-Encoding fields',
      'POST /upload HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['HTTP/1.0 Transfer-Encoding gzip', 'POST /upload HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['unknown method', 'BREW /public/x HTTP/1.1\r\nHost: d\r\n\r\n'],
    ['HTTP/2.0 request line', 'GET /public/x HTTP/2.0\r\nHost: d\r\n\r\n'],
    ['non-ASCII target', 'GET /public/caf\xe9 HTTP/1.1\r\nHost: d\r\n\r\n'],
    ['repeated Host', 'GET /public/x HTTP/1.1\r\nHost: d\r\nHost: d\r\n\r\n'],
    ['missing Host on HTTP/1.1', 'GET /public/x HTTP/1.1\r\nX: 1\r\n\r\n'],
    ['https absolute-form', 'GET https://d/public/x HTTP/1.1\r\nHost: d\r\n\r\n'],
    ['userinfo in absolute-form', 'GET http://u@d/public/x HTTP/1.1\r\nHost: d\r\n\r\n'],
  ])('%s → 400 and close, upstream untouched', async (_n, data) => {
    const before = seen.length;
    const r = await raw(proxy.port, data);
    expect(statuses(r.text)).toEqual([400]);
    expect(r.text).toMatch(/\r\nconnection: close\r\n/);
    expect(r.closed).toBe(true);
    expect(seen.length).toBe(before);
    expect(events.at(-1)).toMatchObject({ verdict: 'denied', code: 400, reason: 'bad-request' });
  });

  it('CONNECT → 400 "CONNECT is not proxied" and close', async () => {
    const r = await raw(proxy.port, 'CONNECT deathstar:443 HTTP/1.1\r\nHost: deathstar:443\r\n\r\n');
    expect(statuses(r.text)).toEqual([400]);
    expect(r.text.endsWith('\r\n\r\nCONNECT is not proxied\r\n')).toBe(true);
    expect(r.closed).toBe(true);
    expect(events.at(-1)).toMatchObject({ method: 'CONNECT', code: 400, error: 'CONNECT is not proxied' });
  });

  it('a parser rejection is reported without method, a check rejection with it', async () => {
    await raw(proxy.port, 'GET /public/x HTTP/1.1\r\nHost : d\r\n\r\n');
    expect(events.at(-1)).toMatchObject({ method: '', url: '', code: 400, reason: 'bad-request' });
    await raw(proxy.port, 'GET /public/x#f HTTP/1.1\r\nHost: d\r\n\r\n');
    expect(events.at(-1)).toMatchObject({
      method: 'GET',
      url: '/public/x#f',
      code: 400,
      error: 'fragment in request target',
    });
  });

  it('head larger than maxHeaderSize → 431 even before it is complete', async () => {
    const r = await raw(proxy.port, `GET /public/x HTTP/1.1\r\nHost: d\r\nX-Big: ${'a'.repeat(5000)}`);
    expect(statuses(r.text)).toEqual([431]);
    expect(r.closed).toBe(true);
  });

  it('a head split into single bytes is still parsed', async () => {
    const r = await raw(proxy.port, get('/public/bytes').split(''), 1500, 1);
    expect(statuses(r.text)).toEqual([200]);
    expect(firstBody(r.text)).toBe('ok /public/bytes');
  });

  it('leading empty lines before a request are ignored', async () => {
    const r = await raw(proxy.port, `\r\n\r\n${get('/public/lead')}`);
    expect(statuses(r.text)).toEqual([200]);
  });
});

describe('wire: forwarding', () => {
  it('HTTP/1.0 is accepted and forwarded as HTTP/1.1 (Host: the original destination)', async () => {
    const before = seen.length;
    const r = await raw(proxy.port, 'GET /public/ten HTTP/1.0\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.closed).toBe(true);
    expect(seen[before]).toMatchObject({ version: '1.1', url: '/public/ten' });
    expect(seen[before]!.rawHeaders.slice(0, 2)).toEqual(['host', `127.0.0.1:${upstreamPort}`]);
    expect(events.at(-1)).toMatchObject({ protocol: 'HTTP/1.0', verdict: 'forwarded' });
  });

  it('HTTP/1.0 keep-alive stays open for a length-delimited response', async () => {
    const req = 'GET /public/k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n';
    const r = await raw(proxy.port, [req, req]);
    expect(statuses(r.text)).toEqual([200, 200]);
    expect(r.closed).toBe(false);
  });

  it('Connection: close ends the connection after the response', async () => {
    const r = await raw(proxy.port, get('/public/c', 'Connection: close\r\n') + get('/public/never'));
    expect(statuses(r.text)).toEqual([200]);
    expect(r.closed).toBe(true);
  });

  it('hop-by-hop fields and fields named in Connection are not forwarded; end-to-end ones are, byte for byte', async () => {
    const before = seen.length;
    await raw(
      proxy.port,
      get(
        '/public/h',
        'Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nTrailer: X\r\n' +
          'Proxy-Authorization: Basic x\r\nUpgrade: h2c\r\nX-Mixed-Case: Value  With  Spaces\r\n',
      ),
    );
    const names = seen[before]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const n of ['connection', 'x-secret', 'keep-alive', 'te', 'trailer', 'proxy-authorization', 'upgrade'])
      expect(names).not.toContain(n);
    expect(seen[before]!.rawHeaders).toContain('X-Mixed-Case');
    expect(seen[before]!.rawHeaders).toContain('Value  With  Spaces');
  });

  it('the response keeps end-to-end fields and drops the upstream hop-by-hop ones', async () => {
    script = (s) =>
      s.write(
        'HTTP/1.1 200 OK\r\nX-Up: 1\r\nConnection: X-Private\r\nX-Private: p\r\nKeep-Alive: timeout=1\r\n' +
          'Proxy-Authenticate: x\r\nContent-Length: 2\r\n\r\nhi',
      );
    const r = await raw(evil.port, get('/x'));
    const head = r.text.slice(0, r.text.indexOf('\r\n\r\n'));
    expect(head).toContain('X-Up: 1');
    expect(head).not.toMatch(/x-private|timeout=1|proxy-authenticate/i);
    expect(r.text.endsWith('\r\n\r\nhi')).toBe(true);
  });

  it('pipelined allowed requests are answered in order over one upstream connection', async () => {
    const before = seen.length;
    const conns = upstreamConnections;
    const r = await raw(proxy.port, get('/public/1') + get('/public/2') + get('/public/3'));
    expect(statuses(r.text)).toEqual([200, 200, 200]);
    expect([...r.text.matchAll(/ok (\/public\/\d)/g)].map((m) => m[1])).toEqual([
      '/public/1',
      '/public/2',
      '/public/3',
    ]);
    expect(seen.slice(before).map((x) => x.url)).toEqual(['/public/1', '/public/2', '/public/3']);
    expect(upstreamConnections - conns).toBe(1);
  });

  it('a new policy answer applies to the next request on the same connection', async () => {
    const s = net.connect(proxy.port, '127.0.0.1');
    const texts: string[] = [];
    s.on('data', (d) => texts.push(d.toString()));
    await new Promise((r) => s.once('connect', r));
    s.write(get('/public/p1'));
    await new Promise((r) => setTimeout(r, 150));
    policy = undefined;
    s.write(get('/public/p2'));
    await new Promise((r) => setTimeout(r, 150));
    s.destroy();
    expect(statuses(texts.join(''))).toEqual([200, 403]);
    expect(events.at(-1)).toMatchObject({ url: '/public/p2', reason: 'no-policy' });
  });

  it('Expect: 100-continue gets the interim 100 from the proxy, then the response', async () => {
    const r = await raw(
      proxy.port,
      'POST /upload HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
    );
    expect(statuses(r.text)).toEqual([100, 200]);
  });

  it('an unknown expectation → 417, the body is dropped, the connection stays usable', async () => {
    const r = await raw(
      proxy.port,
      `POST /upload HTTP/1.1\r\nHost: d\r\nExpect: coffee\r\nContent-Length: 3\r\n\r\nabc${get('/public/e')}`,
    );
    expect(statuses(r.text)).toEqual([417, 200]);
    expect(r.closed).toBe(false);
  });

  it('a stale keep-alive upstream connection (closed by the upstream) is replaced transparently', async () => {
    const s = net.connect(proxy.port, '127.0.0.1');
    let text = '';
    s.on('data', (d) => {
      text += d;
    });
    await new Promise((r) => s.once('connect', r));
    s.write(get('/public/s1'));
    await new Promise((r) => setTimeout(r, 500)); // > upstream keepAliveTimeout (300 ms)
    s.write(get('/public/s2'));
    await new Promise((r) => setTimeout(r, 200));
    s.destroy();
    expect(statuses(text)).toEqual([200, 200]);
  });
});

describe('wire: request bodies', () => {
  it('a 3 MiB Content-Length body is streamed upstream intact', async () => {
    const r = await raw(
      proxy.port,
      [`POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: ${BIG.length}\r\n\r\n`, BIG],
      3000,
    );
    expect(firstBody(r.text) || r.text.slice(r.text.indexOf('\r\n\r\n') + 4)).toContain(`${BIG.length} ${sha(BIG)}`);
  });

  it('a chunked body (extensions, trailers) is decoded and re-chunked upstream; trailers are not forwarded', async () => {
    const before = seen.length;
    const body = '5;ext=1\r\nhello\r\n6;q="a b"\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
    const r = await raw(proxy.port, `POST /upload HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    expect(statuses(r.text)).toEqual([200]);
    expect(seen[before]).toMatchObject({ bodyLength: 11, bodySha: sha(Buffer.from('hello world')), trailers: {} });
  });

  it('a 3 MiB chunked body in many chunks arrives intact', async () => {
    const pieces: Buffer[] = [Buffer.from('POST /upload HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n')];
    for (let i = 0; i < BIG.length; i += 65_000) {
      const c = BIG.subarray(i, i + 65_000);
      pieces.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
    }
    pieces.push(Buffer.from('0\r\n\r\n'));
    const r = await raw(proxy.port, pieces, 3000);
    expect(r.text).toContain(`${BIG.length} ${sha(BIG)}`);
  });

  it.each([
    ['non-hex chunk size', 'zz\r\nabc\r\n0\r\n\r\n'],
    ['chunk size with whitespace', '3 \r\nabc\r\n0\r\n\r\n'],
    ['chunk data not followed by CRLF', '3\r\nabcX\r\n0\r\n\r\n'],
    ['bare LF after the chunk size', '3\nabc\r\n0\r\n\r\n'],
    ['obs-fold in a trailer', '3\r\nabc\r\n0\r\nX: 1\r\n 2\r\n\r\n'],
  ])('chunked request body with %s → 400 and close', async (_n, body) => {
    const r = await raw(proxy.port, `POST /upload HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    expect(statuses(r.text)).toEqual([400]);
    expect(r.closed).toBe(true);
  });

  it('a denied request with a chunked body hiding a request: the body is consumed as body', async () => {
    const before = seen.length;
    const hidden = 'GET /public/smuggled HTTP/1.1\r\nHost: d\r\n\r\n';
    const body = `${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`;
    const r = await raw(
      proxy.port,
      `POST /admin HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n${body}${get('/public/after')}`,
    );
    expect(statuses(r.text)).toEqual([403, 200]);
    expect(seen.slice(before).map((x) => x.url)).toEqual(['/public/after']);
  });

  it('the exact deny response, and the connection stays usable', async () => {
    const r = await raw(proxy.port, get('/admin') + get('/public/ok'));
    const deny = r.text.slice(0, r.text.indexOf(DENY_BODY) + DENY_BODY.length);
    expect(deny.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true);
    expect(deny).toMatch(/\r\ncontent-type: text\/plain\r\n/);
    expect(deny).toMatch(/\r\ncontent-length: 15\r\n/);
    expect(deny.endsWith(`\r\n\r\n${DENY_BODY}`)).toBe(true);
    expect(statuses(r.text)).toEqual([403, 200]);
    expect(r.closed).toBe(false);
  });
});

describe('wire: response bodies', () => {
  it('a 3 MiB Content-Length response is streamed intact', async () => {
    const r = await raw(proxy.port, get('/public/big', 'Connection: close\r\n'), 3000);
    const body = r.bytes.subarray(r.bytes.indexOf('\r\n\r\n') + 4);
    expect(sha(body)).toBe(sha(BIG));
  });

  it('a 3 MiB chunked response is re-chunked intact', async () => {
    const r = await raw(proxy.port, get('/public/bigchunked', 'Connection: close\r\n'), 3000);
    const i = r.bytes.indexOf('\r\n\r\n');
    expect(r.text.slice(0, i).toLowerCase()).toContain('transfer-encoding: chunked');
    const { ChunkedDecoder } = await import('./http1/chunked.js');
    const d = new ChunkedDecoder();
    const out: Buffer[] = [];
    d.decode(r.bytes, i + 4, r.bytes.length, out);
    expect(d.done).toBe(true);
    expect(sha(Buffer.concat(out))).toBe(sha(BIG));
  });

  it('HEAD: the head only, the connection stays in step', async () => {
    const r = await raw(proxy.port, `HEAD /public/h HTTP/1.1\r\nHost: d\r\n\r\n${get('/public/after-head')}`);
    expect(statuses(r.text)).toEqual([200, 200]);
    expect(r.text).toContain('ok /public/after-head');
    expect(r.text).not.toContain('ok /public/h\r');
  });
});

describe('wire: a misbehaving upstream cannot desync the client', () => {
  it.each([
    [
      'Content-Length with Transfer-Encoding',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'],
    ['Transfer-Encoding gzip', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx'],
    ['an invalid status line', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['bare LF line endings', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: 1\r\n 2\r\nContent-Length: 0\r\n\r\n'],
    ['101 to a request that asked for no upgrade', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
    ['an invalid chunk size in the first read', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['a close before the response', ''],
  ])('upstream sends %s → 503, both connections closed', async (_n, response) => {
    script = (s) => (response ? s.end(response) : s.destroy());
    const r = await raw(evil.port, get('/x') + get('/y'));
    expect(statuses(r.text)).toEqual([503]);
    expect(r.text).toContain('upstream connect error or disconnect/reset before headers');
    expect(r.closed).toBe(true);
    expect(events.at(-1)).toMatchObject({ verdict: 'error', code: 503, reason: 'upstream' });
  });

  it('a second, unsolicited response after the first is dropped with its connection', async () => {
    const conns = scriptedConnections;
    script = (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged');
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond'));
    };
    const c = net.connect(evil.port, '127.0.0.1');
    let text = '';
    c.on('data', (d) => {
      text += d;
    });
    await new Promise((r) => c.once('connect', r));
    c.write(get('/one'));
    await new Promise((r) => setTimeout(r, 150));
    script = (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh');
    c.write(get('/two'));
    await new Promise((r) => setTimeout(r, 150));
    c.destroy();
    expect(text).not.toContain('forged');
    expect(text).not.toContain('second');
    expect(statuses(text)).toEqual([200, 200]);
    expect(text).toContain('first');
    expect(text).toContain('fresh');
    expect(scriptedConnections - conns).toBe(2);
  });

  it('an upstream that answers before the request body is complete: the rest of the body is still read as body', async () => {
    const conns = scriptedConnections;
    script = (s) => s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig');
    const hidden = get('/hidden');
    const r = await raw(
      evil.port,
      [`POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: ${hidden.length}\r\n\r\n`, hidden, get('/next')],
      800,
      100,
    );
    expect(statuses(r.text)).toEqual([413, 413]);
    // The half-sent request's upstream connection is not reused: /next went over a new one.
    expect(scriptedConnections - conns).toBe(2);
    expect(events.filter((e) => e.url === '/hidden')).toEqual([]);
  });

  it('upstream closing in the middle of a Content-Length body → the client connection is aborted', async () => {
    script = (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    const r = await raw(evil.port, get('/x'));
    expect(statuses(r.text)).toEqual([200]);
    expect(r.closed).toBe(true);
    expect(events.at(-1)).toMatchObject({ verdict: 'error', code: 200, reason: 'upstream' });
  });

  it('a body delimited by the upstream closing is re-chunked; the client connection stays usable', async () => {
    script = (s) => s.end('HTTP/1.0 200 OK\r\n\r\nuntil close');
    const r = await raw(evil.port, get('/x') + get('/y'));
    expect(r.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.text).toContain('transfer-encoding: chunked');
    expect(r.text).toContain('b\r\nuntil close\r\n0\r\n\r\n');
    expect(statuses(r.text)).toEqual([200, 200]);
  });

  it('interim 1xx responses are dropped, the final one forwarded', async () => {
    script = (s) =>
      s.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n');
    const r = await raw(evil.port, get('/x'));
    expect(statuses(r.text)).toEqual([204]);
  });

  it('no response within upstreamTimeoutMs → 503', async () => {
    script = () => undefined;
    const t0 = Date.now();
    const r = await raw(evil.port, get('/x'), 3000);
    expect(statuses(r.text)).toEqual([503]);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(events.at(-1)).toMatchObject({ verdict: 'error', error: 'upstream timeout' });
  });

  it('upstream down → 503', async () => {
    const down = await startProxy({
      port: 0,
      host: '127.0.0.1',
      transparent: false,
      originalDst: () => ({ ip: '127.0.0.1', port: 1 }),
      policy: { lookup: () => WILDCARD },
    });
    try {
      const r = await raw(down.port, get('/x'));
      expect(statuses(r.text)).toEqual([503]);
      expect(r.closed).toBe(true);
    } finally {
      await down.close();
    }
  });
});

describe('wire: timeouts', () => {
  it('a connection that sends nothing gets 408 after headersTimeoutMs', async () => {
    const r = await raw(proxy.port, [], 2500);
    expect(statuses(r.text)).toEqual([408]);
    expect(r.closed).toBe(true);
  });

  it('an idle keep-alive connection is not timed out by requestTimeoutMs (after a forwarded or a denied request)', async () => {
    const r = await raw(proxy.port, [get('/public/idle'), get('/admin'), get('/public/idle2')], 4000, 1600);
    expect(statuses(r.text)).toEqual([200, 403, 200]);
    expect(r.closed).toBe(false);
  });

  it('a request body that never completes gets 408 after requestTimeoutMs', async () => {
    const t0 = Date.now();
    const r = await raw(proxy.port, 'POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: 10\r\n\r\nabc', 4000);
    expect(statuses(r.text)).toEqual([408]);
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });
});

describe('wire: upgrade', () => {
  it('allowed upgrade answered 101: bytes spliced both ways, including bytes sent right after the request', async () => {
    const r = await raw(proxy.port, [get('/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\n'), 'ping'], 600, 50);
    expect(r.text).toContain('101 Switching Protocols');
    expect(r.text).toContain('hello');
    expect(r.text).toContain('echo:ping');
    expect(events.at(-1)).toMatchObject({ verdict: 'forwarded', code: 101, upgrade: true });
  });

  it('upgrade refused by the upstream: no splice, the next request is checked as a request', async () => {
    const r = await raw(
      proxy.port,
      get('/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\nX-Refuse: 1\r\n') + get('/admin'),
    );
    expect(statuses(r.text)).toEqual([400, 403]);
  });

  it('denied upgrade → 403 and close, upstream untouched', async () => {
    const before = seen.length;
    const r = await raw(proxy.port, get('/ws-admin', 'Connection: Upgrade\r\nUpgrade: websocket\r\n'));
    expect(statuses(r.text)).toEqual([403]);
    expect(r.text.endsWith(DENY_BODY)).toBe(true);
    expect(r.closed).toBe(true);
    expect(seen.length).toBe(before);
  });
});

describe('wire: loop protection and events', () => {
  it('a connection whose original destination is the proxy itself is denied (reason loop)', async () => {
    const got: HttpEvent[] = [];
    let port = 0;
    const self = await startProxy({
      port: 0,
      host: '127.0.0.1',
      transparent: false,
      originalDst: () => ({ ip: '127.0.0.1', port }),
      policy: { lookup: () => WILDCARD },
      onHttpEvent: (e) => got.push(e),
    });
    port = self.port;
    try {
      const r = await raw(self.port, get('/x') + get('/y'));
      expect(statuses(r.text)).toEqual([403, 403]);
      expect(r.text.endsWith(DENY_BODY)).toBe(true);
      expect(got.map((e) => e.reason)).toEqual(['loop', 'loop']);
    } finally {
      await self.close();
    }
  });

  it('a forwarded request is reported with every HttpEvent field', async () => {
    await raw(proxy.port, get('/public//ev/../e'));
    const e = events.at(-1)!;
    expect(e).toMatchObject({
      src: { ip: '127.0.0.1' },
      dst: { ip: '127.0.0.1', port: upstreamPort },
      method: 'GET',
      url: '/public/e',
      host: 'deathstar',
      protocol: 'HTTP/1.1',
      code: 200,
      verdict: 'forwarded',
      matched: RULES.http[0],
    });
    expect(e.time).toBeInstanceOf(Date);
    expect(Math.abs(e.time.getTime() - Date.now())).toBeLessThan(5000);
    expect(e.latencyMs).toBeGreaterThanOrEqual(0);
    expect(e.src.port).toBeGreaterThan(0);
    expect(e.reason).toBeUndefined();
  });

  it('a client that disconnects while its request is in flight is reported as an error', async () => {
    script = () => undefined;
    const s = net.connect(evil.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write(get('/slow'));
    await new Promise((r) => setTimeout(r, 100));
    s.resetAndDestroy(); // an abort (RST); a FIN alone is a half-close, and the response would still be awaited
    await new Promise((r) => setTimeout(r, 100));
    expect(events.at(-1)).toMatchObject({
      url: '/slow',
      verdict: 'error',
      code: 0,
      error: 'client closed the connection',
    });
  });
});

describe('wire: half-close', () => {
  /** Send, then FIN (half-close), and read until the proxy closes. */
  function halfClose(data: string): Promise<{ text: string; closed: boolean }> {
    return new Promise((resolve) => {
      const s = net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
      let text = '';
      s.on('data', (d) => {
        text += d;
      });
      s.on('error', () => undefined);
      const t = setTimeout(() => {
        s.destroy();
        resolve({ text, closed: false });
      }, 1000);
      s.on('end', () => {
        clearTimeout(t);
        s.end();
        resolve({ text, closed: true });
      });
      s.end(data);
    });
  }

  it('a client that sends FIN right after its requests still gets every response, then a close', async () => {
    const r = await halfClose(get('/public/hc1') + get('/admin') + get('/public/hc2'));
    expect(statuses(r.text)).toEqual([200, 403, 200]);
    expect(r.closed).toBe(true);
  });

  it('FIN in the middle of a request head → 400 and close', async () => {
    const r = await halfClose('GET /public/x HTTP/1.1\r\nHost: d\r\n');
    expect(statuses(r.text)).toEqual([400]);
    expect(r.closed).toBe(true);
  });

  it('FIN in the middle of a request body → 400 and close', async () => {
    const r = await halfClose('POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: 10\r\n\r\nabc');
    expect(statuses(r.text)).toEqual([400]);
    expect(r.closed).toBe(true);
  });
});
