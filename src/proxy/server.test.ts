import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpRule, L7Policy } from '../policy/types.js';
import { DENY_BODY, type HttpEvent, type ProxyServer, startProxy } from './server.js';

const ref = { kind: 'CiliumNetworkPolicy' as const, namespace: 'default', name: 'rule1', path: 'spec.ingress[0]' };
const rule = (r: Partial<HttpRule>, i: number): HttpRule => ({
  ...r,
  ref,
  httpPath: `spec.ingress[0].toPorts[0].rules.http[${i}]`,
});
const RULES: HttpRule[] = [
  rule({ method: 'POST', path: '/v1/request-landing' }, 0),
  rule({ method: 'GET', path: '/public(/.*)?' }, 1),
  rule({ method: 'GET', path: '/ws', headers: [{ name: 'Upgrade' }] }, 2),
  rule({ method: 'GET', path: '/rewrite', headerMatches: [{ name: 'X-Env', value: 'prod', mismatch: 'REPLACE' }] }, 3),
  rule({ method: 'GET', path: '/host', host: 'deathstar' }, 4),
];

let upstream: http.Server;
const upgraded: import('node:stream').Duplex[] = [];
let upstreamPort = 0;
const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders }[] = [];
let proxy: ProxyServer;
const events: HttpEvent[] = [];
let policy: L7Policy | undefined = { http: RULES, dns: [], wildcard: false, wildcardBy: [] };

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`ok ${req.url}`);
  });
  upstream.on('upgrade', (req, socket) => {
    upgraded.push(socket);
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.on('data', (d) => socket.write(`echo:${d}`));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
  proxy = await startProxy({
    port: 0,
    host: '127.0.0.1',
    transparent: false,
    headersTimeoutMs: 500,
    maxHeaderSize: 4096,
    upstreamTimeoutMs: 2000,
    originalDst: () => ({ ip: '127.0.0.1', port: upstreamPort }),
    policy: { lookup: () => policy },
    onHttpEvent: (e) => events.push(e),
  });
});

afterAll(async () => {
  await proxy.close();
  upstream.closeAllConnections();
  for (const u of upgraded) u.destroy();
  await new Promise((r) => upstream.close(r));
});

/** Send raw bytes, collect everything until the server closes or `ms` passes. */
function raw(data: string, ms = 400): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(proxy.port, '127.0.0.1');
    let text = '';
    let closed = false;
    s.on('data', (d) => {
      text += d;
    });
    s.on('close', () => {
      closed = true;
      clearTimeout(t);
      resolve({ text, closed });
    });
    s.on('error', () => undefined);
    const t = setTimeout(() => {
      s.destroy();
      resolve({ text, closed });
    }, ms);
    s.write(data);
  });
}

const req = (method: string, target: string, extra = '', version = '1.1') =>
  `${method} ${target} HTTP/${version}\r\nHost: deathstar\r\n${extra}\r\n`;

function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}

describe('L7 proxy', () => {
  it('forwards an allowed request and reports it', async () => {
    const before = seen.length;
    const r = await raw(req('POST', '/v1/request-landing', 'content-length: 0\r\n'));
    expect(statuses(r.text)).toEqual([200]);
    expect(r.text).toContain('ok /v1/request-landing');
    expect(seen.slice(before).map((x) => x.url)).toEqual(['/v1/request-landing']);
    const ev = events.at(-1)!;
    expect(ev).toMatchObject({ method: 'POST', url: '/v1/request-landing', code: 200, verdict: 'forwarded' });
    expect(ev.matched?.httpPath).toBe('spec.ingress[0].toPorts[0].rules.http[0]');
    expect(ev.dst).toEqual({ ip: '127.0.0.1', port: upstreamPort });
  });

  it('denies with exactly Cilium/Envoy 403 and the upstream never sees it', async () => {
    const before = seen.length;
    const r = await raw(req('PUT', '/v1/exhaust-port', 'content-length: 0\r\n'));
    expect(r.text.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true);
    expect(r.text.toLowerCase()).toContain('content-type: text/plain\r\n');
    expect(r.text.toLowerCase()).toContain('content-length: 15\r\n');
    expect(r.text.endsWith(`\r\n\r\n${DENY_BODY}`)).toBe(true);
    expect(r.closed).toBe(false); // keep-alive
    expect(seen.length).toBe(before);
    expect(events.at(-1)).toMatchObject({ verdict: 'denied', code: 403, reason: 'policy' });
  });

  it.each([
    ['/v1/request-landing/../exhaust-port', 'POST', 403, undefined],
    ['/public/%2e%2e/admin', 'GET', 403, undefined],
    ['/public/%2E%2E/%2e%2e/admin', 'GET', 403, undefined],
    ['//public//x', 'GET', 200, '/public/x'],
    ['/public/./a/../b', 'GET', 200, '/public/b'],
    ['/%70ublic/x', 'GET', 200, '/public/x'],
    ['/public/x?q=/../admin', 'GET', 200, '/public/x?q=/../admin'],
    ['/public/..;/admin', 'GET', 400, undefined],
    ['/public/x%2F..%2F..%2Fadmin', 'GET', 400, undefined],
    ['/public/x#frag', 'GET', 400, undefined],
    ['/public;x', 'GET', 403, undefined],
    ['http://deathstar/public/abs', 'GET', 200, '/public/abs'],
    ['http://other/public/abs', 'GET', 400, undefined],
  ])('path %s (%s) → %d, upstream gets the checked path', async (target, method, code, upstreamPath) => {
    const before = seen.length;
    const r = await raw(req(method, target, 'content-length: 0\r\n'));
    expect(statuses(r.text)).toEqual([code]);
    expect(seen.slice(before).map((x) => x.url)).toEqual(upstreamPath ? [upstreamPath] : []);
  });

  it('host rule matches the authority', async () => {
    expect(statuses((await raw(req('GET', '/host'))).text)).toEqual([200]);
    const r = await raw('GET /host HTTP/1.1\r\nHost: evil\r\n\r\n');
    expect(statuses(r.text)).toEqual([403]);
  });

  it.each([
    ['CL+TE', 'POST /public/x HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different CL', 'POST /public/x HTTP/1.1\r\nHost: d\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['TE not chunked', 'POST /public/x HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['obs-fold', 'GET /public/x HTTP/1.1\r\nHost: d\r\nX-A: 1\r\n  folded\r\n\r\n'],
    ['bare LF', 'GET /public/x HTTP/1.1\nHost: d\n\n'],
    ['two Host headers', 'GET /public/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['no Host (1.1)', 'GET /public/x HTTP/1.1\r\n\r\n'],
  ])('smuggling vector %s → 400 and close, upstream untouched', async (_n, data) => {
    const before = seen.length;
    const r = await raw(data);
    expect(statuses(r.text)).toEqual([400]);
    expect(r.closed).toBe(true);
    expect(seen.length).toBe(before);
  });

  it('oversized headers → 431', async () => {
    const r = await raw(req('GET', '/public/x', `X-Big: ${'a'.repeat(8000)}\r\n`));
    expect(statuses(r.text)).toEqual([431]);
    expect(r.closed).toBe(true);
  });

  it('slowloris: an incomplete head is cut by the header timeout', async () => {
    const t0 = Date.now();
    const r = await raw('GET /public/x HTTP/1.1\r\nHost: d\r\nX-Slow: 1', 4000);
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3500);
    expect(statuses(r.text)).toEqual([408]);
  });

  it('HTTP/1.0 is checked and answered', async () => {
    const r = await raw('GET /public/x HTTP/1.0\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 200/);
    expect(r.closed).toBe(true);
    expect(statuses((await raw('GET /admin HTTP/1.0\r\n\r\n')).text)).toEqual([403]);
  });

  it('a denied request does not let the next pipelined request through unchecked', async () => {
    const before = seen.length;
    // The denied POST's body *looks like* a request: it must be consumed as body, not parsed as a request.
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: d\r\n\r\n';
    const r = await raw(
      req('POST', '/admin', `content-length: ${smuggled.length}\r\n`) +
        smuggled +
        req('GET', '/public/1') +
        req('GET', '/admin2') +
        req('GET', '/public/2'),
    );
    expect(statuses(r.text)).toEqual([403, 200, 403, 200]);
    expect(seen.slice(before).map((x) => x.url)).toEqual(['/public/1', '/public/2']);
  });

  it('keep-alive: every request on one connection is checked', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ code: number; reused: boolean }>((resolve, reject) => {
        const r = http.get(
          { host: '127.0.0.1', port: proxy.port, path, agent, headers: { host: 'deathstar' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ code: res.statusCode ?? 0, reused: r.reusedSocket }));
          },
        );
        r.on('error', reject);
      });
    expect(await get('/public/a')).toEqual({ code: 200, reused: false });
    expect(await get('/admin')).toEqual({ code: 403, reused: true });
    expect(await get('/public/b')).toEqual({ code: 200, reused: true });
    agent.destroy();
  });

  it('header actions are applied before forwarding', async () => {
    const before = seen.length;
    expect(statuses((await raw(req('GET', '/rewrite', 'X-Env: dev\r\n'))).text)).toEqual([200]);
    expect(seen[before]!.headers['x-env']).toBe('prod');
    expect(events.at(-1)!.actions?.[0]).toMatchObject({ kind: 'REPLACE', name: 'X-Env' });
  });

  it('upgrade is spliced only when the upgrade request is allowed', async () => {
    const ok = await raw(req('GET', '/ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\n'));
    expect(ok.text).toContain('101 Switching Protocols');
    const denied = await raw(req('GET', '/ws-admin', 'Connection: Upgrade\r\nUpgrade: websocket\r\n'));
    expect(statuses(denied.text)).toEqual([403]);
    expect(denied.text.endsWith(DENY_BODY)).toBe(true);
    expect(denied.closed).toBe(true);
  });

  it('hop-by-hop headers are not forwarded', async () => {
    const before = seen.length;
    await raw(req('GET', '/public/h', 'Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nProxy-Connection: x\r\n'));
    expect(seen[before]!.headers['x-secret']).toBeUndefined();
    expect(seen[before]!.headers['proxy-connection']).toBeUndefined();
  });

  it('visibility-only (wildcard) policy admits everything; no policy denies everything', async () => {
    policy = { http: [], dns: [], wildcard: true, wildcardBy: [ref] };
    try {
      expect(statuses((await raw(req('DELETE', '/anything'))).text)).toEqual([200]);
      expect(events.at(-1)!.wildcardBy).toEqual([ref]);
      policy = undefined;
      expect(statuses((await raw(req('GET', '/public/x'))).text)).toEqual([403]);
      expect(events.at(-1)).toMatchObject({ reason: 'no-policy' });
    } finally {
      policy = { http: RULES, dns: [], wildcard: false, wildcardBy: [] };
    }
  });

  it('upstream down → 503', async () => {
    const p2 = await startProxy({
      port: 0,
      host: '127.0.0.1',
      transparent: false,
      originalDst: () => ({ ip: '127.0.0.1', port: 1 }),
      policy: { lookup: () => ({ http: [], dns: [], wildcard: true, wildcardBy: [] }) },
    });
    try {
      const r = await new Promise<number>((resolve) =>
        http.get({ host: '127.0.0.1', port: p2.port, path: '/' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }),
      );
      expect(r).toBe(503);
    } finally {
      await p2.close();
    }
  });
});
