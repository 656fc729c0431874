import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgnhostIo, runAgnhost } from './agnhost.js';
import { bundlePrograms } from './bundle-programs.js';
import { parseImageRef, resolveImage } from './catalog.js';
import { createDeathstarServer, EXHAUST_PORT_PANIC } from './deathstar.js';
import { parseFlags, parseGoDuration } from './flags.js';

describe('image references', () => {
  it.each([
    ['docker.io/cilium/starwars', { registry: 'docker.io', repository: 'cilium/starwars' }],
    ['cilium/starwars:v1.0', { repository: 'cilium/starwars', tag: 'v1.0' }],
    [
      'quay.io/cilium/starwars@sha256:abc',
      { registry: 'quay.io', repository: 'cilium/starwars', digest: 'sha256:abc' },
    ],
    ['localhost:5000/x/y:1', { registry: 'localhost:5000', repository: 'x/y', tag: '1' }],
    ['docker.io/library/busybox:1.36', { registry: 'docker.io', repository: 'busybox', tag: '1.36' }],
    ['busybox', { repository: 'busybox' }],
  ])('%s', (image, want) => {
    expect(parseImageRef(image)).toMatchObject(want);
  });
});

describe('resolveImage', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await bundlePrograms(await mkdtemp(join(tmpdir(), 'pw-img-')));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['docker.io/cilium/starwars', 'deathstar'],
    ['cilium/starwars:v1.0', 'deathstar'],
    ['docker.io/tgraf/netperf', 'netperf'],
    ['tgraf/netperf:latest', 'netperf'],
    ['registry.k8s.io/e2e-test-images/agnhost:2.47', 'agnhost'],
    ['k8s.gcr.io/e2e-test-images/agnhost:2.21', 'agnhost'],
    ['registry.k8s.io/coredns/coredns:v1.11.1', 'coredns'],
    ['coredns/coredns', 'coredns'],
  ])('%s → %s', (image, name) => {
    const r = resolveImage(image, { programDir: dir });
    expect(r).toMatchObject({ kind: 'builtin', name });
    if (r.kind === 'builtin') expect(r.entry).toEqual([process.execPath, join(dir, `${name}.js`)]);
  });

  it('gives ErrImagePull with a how-to for unknown images', () => {
    const r = resolveImage('nginx:1.25', { programDir: dir });
    expect(r.kind).toBe('error');
    if (r.kind === 'error') {
      expect(r.reason).toBe('ErrImagePull');
      expect(r.message).toContain('set command: to run a host binary');
      expect(r.message).toContain('nginx');
    }
  });

  it('says how to build when the program files are missing', () => {
    const r = resolveImage('cilium/starwars', { programDir: join(dir, 'nope') });
    expect(r).toMatchObject({ kind: 'error', reason: 'ErrImagePull' });
    if (r.kind === 'error') expect(r.message).toContain('npm run build');
  });
});

describe('flags', () => {
  it('parses Go-style flags and durations', () => {
    const p = parseFlags(['--port=80', '-tcp', '--http=false', 'x', '--udp-port', '9'], {
      bools: ['tcp', 'http'],
      strings: ['port', 'udp-port'],
    });
    expect(p.error).toBeUndefined();
    expect(Object.fromEntries(p.flags)).toEqual({ port: '80', tcp: true, http: false, 'udp-port': '9' });
    expect(p.positional).toEqual(['x']);
    expect(parseFlags(['--nope'], {}).error).toContain('unknown flag');
    expect(parseGoDuration('1s')).toBe(1000);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('250ms')).toBe(250);
    expect(parseGoDuration('abc')).toBeUndefined();
  });
});

function request(port: number, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('deathstar (in process)', () => {
  it('lands ships, lists the API, 404s the rest, and explodes on the exhaust port', async () => {
    const lines: string[] = [];
    let exploded = 0;
    const s = createDeathstarServer({ log: (l) => lines.push(l), onExplode: () => exploded++ });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as net.AddressInfo).port;
    try {
      expect(await request(port, 'POST', '/v1/request-landing')).toEqual({ status: 200, body: 'Ship landed\n' });
      const info = await request(port, 'GET', '/v1');
      expect(info.status).toBe(200);
      expect(JSON.parse(info.body).api).toContain('PUT   /v1/exhaust-port');
      expect((await request(port, 'GET', '/nope')).status).toBe(404);
      expect((await request(port, 'GET', '/v1/request-landing')).status).toBe(405);
      const boom = await request(port, 'PUT', '/v1/exhaust-port');
      expect(boom).toEqual({ status: 503, body: EXHAUST_PORT_PANIC });
      expect(boom.body.startsWith('Panic: deathstar exploded\n\ngoroutine 1 [running]:\n')).toBe(true);
      await expect.poll(() => exploded).toBe(1);
      expect(lines[0]).toMatch(/ POST \/v1\/request-landing from 127\.0\.0\.1:\d+ 200$/);
    } finally {
      s.close();
    }
  });
});

function io(): AgnhostIo & { outs: string[]; errs: string[] } {
  const outs: string[] = [];
  const errs: string[] = [];
  return {
    env: {},
    hostname: 'pod-a',
    outs,
    errs,
    out: (s) => outs.push(s),
    err: (s) => errs.push(s),
    exit: () => {},
  };
}

describe('agnhost (in process)', () => {
  it('serve-hostname answers the pod name over HTTP, TCP and UDP', async () => {
    const h = await runAgnhost(['serve-hostname', '--port=0'], io());
    const port = h.ports[0]!.port;
    expect((await request(port, 'GET', '/')).body).toBe('pod-a');
    await h.close();
    const t = await runAgnhost(['serve-hostname', '--tcp', '--udp', '--http=false', '--port', '0'], io());
    const tcpPort = t.ports.find((p) => p.proto === 'tcp')!.port;
    const body = await new Promise<string>((resolve) => {
      let b = '';
      net
        .connect(tcpPort, '127.0.0.1')
        .on('data', (d) => {
          b += d;
        })
        .on('end', () => resolve(b));
    });
    expect(body).toBe('pod-a');
    await t.close();
  });

  it('connect: 0 on success, REFUSED and TIMEOUT otherwise, UDP too', async () => {
    const srv = await runAgnhost(['netexec', '--http-port=0', '--udp-port=0'], io());
    const httpPort = srv.ports.find((p) => p.proto === 'tcp')!.port;
    const udpPort = srv.ports.find((p) => p.proto === 'udp')!.port;
    try {
      expect((await runAgnhost(['connect', `127.0.0.1:${httpPort}`, '--timeout=1s'], io())).exitCode).toBe(0);
      const udpOk = await runAgnhost(['connect', `127.0.0.1:${udpPort}`, '--timeout=1s', '--protocol=udp'], io());
      expect(udpOk.exitCode).toBe(0);
      const closed = await new Promise<number>((r) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => r(p));
        });
      });
      const refused = io();
      expect((await runAgnhost(['connect', `127.0.0.1:${closed}`, '--timeout=1s'], refused)).exitCode).toBe(1);
      expect(refused.errs.join('')).toBe('REFUSED\n');
      const udpRefused = io();
      const ur = await runAgnhost(['connect', `127.0.0.1:${closed}`, '--timeout=1s', '--protocol=udp'], udpRefused);
      expect(ur.exitCode).toBe(1);
      expect(udpRefused.errs.join('')).toMatch(/^(REFUSED|TIMEOUT)/);
      const bad = io();
      expect((await runAgnhost(['connect', 'nocolon', '--timeout=1s'], bad)).exitCode).toBe(1);
      expect(bad.errs.join('')).toMatch(/^UNKNOWN/);
      // netexec endpoints
      expect((await request(httpPort, 'GET', '/hostname')).body).toBe('pod-a');
      expect((await request(httpPort, 'GET', '/echo?msg=hi')).body).toBe('hi');
      expect((await request(httpPort, 'GET', '/clientip')).body).toMatch(/^127\.0\.0\.1:\d+$/);
      const dial = await request(
        httpPort,
        'GET',
        `/dial?request=hostname&protocol=http&host=127.0.0.1&port=${httpPort}&tries=2`,
      );
      expect(JSON.parse(dial.body)).toEqual({ responses: ['pod-a', 'pod-a'], errors: [] });
    } finally {
      await srv.close();
    }
  });

  it('porter serves SERVE_PORT_<n> values; unknown subcommands fail like cobra', async () => {
    const free = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const x = io();
    x.env = { [`SERVE_PORT_${free}`]: 'foo' };
    const p = await runAgnhost(['porter'], x);
    expect((await request(free, 'GET', '/')).body).toBe('foo');
    await p.close();
    const u = io();
    expect((await runAgnhost(['frobnicate'], u)).exitCode).toBe(1);
    expect(u.errs.join('')).toContain('unknown command "frobnicate" for "agnhost"');
  });
});

describe('built programs run as processes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await bundlePrograms(await mkdtemp(join(tmpdir(), 'pw-img-')));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('deathstar exits with code 2 after the exhaust port', async () => {
    const child = spawn(process.execPath, [join(dir, 'deathstar.js'), '--port=0', '--host=127.0.0.1'], {
      env: { ...process.env, DEATHSTAR_EXPLODE_DELAY_MS: '50' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const exit = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await expect.poll(() => /:(\d+)\n/.exec(out)?.[1], { timeout: 5000 }).toBeDefined();
      const port = Number(/:(\d+)\n/.exec(out)![1]);
      expect((await request(port, 'PUT', '/v1/exhaust-port')).status).toBe(503);
      expect(await exit).toBe(2);
      expect(err).toContain('panic: deathstar exploded');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('agnhost connect runs as a program and exits with its code', async () => {
    const child = spawn(process.execPath, [join(dir, 'agnhost.js'), 'connect', '127.0.0.1:1', '--timeout=1s']);
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    expect(await new Promise((r) => child.on('exit', (c) => r(c)))).toBe(1);
    expect(err).toBe('REFUSED\n');
  });
});
