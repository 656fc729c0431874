/**
 * The agnhost subcommands podwall's conformance runs need, shaped like the upstream
 * (kubernetes/test/images/agnhost): `serve-hostname`, `porter`, `netexec`, `connect`, `pause`, `dns-suffix`,
 * `dns-server-list`. The image dispatches on args[0]. Servers answer with the pod name (`$HOSTNAME`).
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { parseFlags, parseGoDuration } from './flags.js';

export interface AgnhostIo {
  env: NodeJS.ProcessEnv;
  hostname: string;
  out: (s: string) => void;
  err: (s: string) => void;
  /** For netexec's /exit. */
  exit: (code: number) => void;
}

export interface AgnhostRun {
  /** Set when the subcommand finished; undefined while it serves. */
  exitCode?: number;
  /** Stops every server the subcommand started. */
  close(): Promise<void>;
  /** TCP/UDP ports actually bound (useful with port 0 in tests). */
  ports: { proto: 'tcp' | 'udp'; port: number }[];
}

const USAGE = `agnhost (podwall built-in): a subset of the Kubernetes e2e test image.

Usage:
  agnhost [command]

Available Commands:
  connect          Attempts a TCP or UDP connection and returns useful errors
  dns-server-list  Prints the nameservers of /etc/resolv.conf
  dns-suffix       Prints the search domains of /etc/resolv.conf
  netexec          Creates HTTP(S), UDP, and (optionally) SCTP servers with various endpoints
  pause            Pauses (sleeps until terminated)
  porter           Serves requested data on ports specified in environment variables
  serve-hostname   Serves the hostname over TCP, UDP and/or HTTP
`;

const finished = (code: number): AgnhostRun => ({ exitCode: code, close: async () => {}, ports: [] });

export async function runAgnhost(argv: readonly string[], io: AgnhostIo): Promise<AgnhostRun> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.out(USAGE);
      return finished(0);
    case 'serve-hostname':
      return serveHostname(rest, io);
    case 'porter':
      return porter(io);
    case 'netexec':
      return netexec(rest, io);
    case 'connect':
      return finished(await connect(rest, io));
    case 'pause':
      io.out('Paused\n');
      return { close: async () => {}, ports: [] };
    case 'dns-suffix':
    case 'dns-server-list': {
      let conf = '';
      try {
        conf = readFileSync('/etc/resolv.conf', 'utf8');
      } catch {}
      const key = cmd === 'dns-suffix' ? 'search' : 'nameserver';
      const vals = conf
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((w) => w[0] === key)
        .flatMap((w) => w.slice(1));
      io.out(`${vals.join(cmd === 'dns-suffix' ? ',' : ',')}`);
      return finished(0);
    }
    default:
      io.err(`Error: unknown command "${cmd}" for "agnhost"\nRun 'agnhost --help' for usage.\n`);
      return finished(1);
  }
}

type Closer = () => Promise<void>;

/** Peer address the way Go prints it: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as plain IPv4. */
const peer = (a: string | undefined) => (a ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');

function listenTcp(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

function bindUdp(sock: dgram.Socket, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, () => {
      sock.off('error', reject);
      resolve(sock.address().port);
    });
  });
}

const closeServer =
  (s: net.Server): Closer =>
  () =>
    new Promise((r) => {
      s.close(() => r());
      (s as http.Server).closeAllConnections?.();
    });
const closeUdp =
  (s: dgram.Socket): Closer =>
  () =>
    new Promise((r) => s.close(() => r()));

async function serveHostname(argv: readonly string[], io: AgnhostIo): Promise<AgnhostRun> {
  const p = parseFlags(argv, { bools: ['tcp', 'udp', 'http', 'close'], strings: ['port'] });
  if (p.error) {
    io.err(`Error: ${p.error}\n`);
    return finished(1);
  }
  const tcp = p.flags.get('tcp') === true;
  const udp = p.flags.get('udp') === true;
  const httpOn = p.flags.get('http') ?? true;
  const close = p.flags.get('close') === true;
  const port = Number(p.flags.get('port') ?? 9376);
  if (tcp && httpOn) {
    io.err("Can't serve TCP and HTTP on the same port\n");
    return finished(1);
  }
  const closers: Closer[] = [];
  const ports: AgnhostRun['ports'] = [];
  if (tcp) {
    const s = net.createServer((c) => {
      io.out(`TCP request from ${peer(c.remoteAddress)}\n`);
      c.on('error', () => {});
      c.end(io.hostname);
    });
    ports.push({ proto: 'tcp', port: await listenTcp(s, port) });
    closers.push(closeServer(s));
  }
  if (udp) {
    const s = dgram.createSocket('udp4');
    s.on('message', (_m, r) => {
      io.out(`UDP request from ${r.address}\n`);
      s.send(io.hostname, r.port, r.address);
    });
    ports.push({ proto: 'udp', port: await bindUdp(s, port) });
    closers.push(closeUdp(s));
  }
  if (httpOn) {
    const s = http.createServer((req, res) => {
      io.out(`HTTP request from ${peer(req.socket.remoteAddress)}\n`);
      if (close) res.setHeader('Connection', 'close');
      res.end(io.hostname);
    });
    ports.push({ proto: 'tcp', port: await listenTcp(s, port) });
    closers.push(closeServer(s));
  }
  io.out(`Serving on port ${port}.\n`);
  return { close: async () => void (await Promise.all(closers.map((c) => c()))), ports };
}

async function porter(io: AgnhostIo): Promise<AgnhostRun> {
  const closers: Closer[] = [];
  const ports: AgnhostRun['ports'] = [];
  for (const [k, v] of Object.entries(io.env)) {
    const m = /^SERVE_PORT_(\d+)$/.exec(k);
    if (!m || v === undefined) continue;
    const s = http.createServer((_req, res) => res.end(v));
    ports.push({ proto: 'tcp', port: await listenTcp(s, Number(m[1])) });
    closers.push(closeServer(s));
    io.out(`Serving on port ${m[1]}\n`);
  }
  if (closers.length === 0) io.err('no SERVE_PORT_<n> variables set; nothing to serve\n');
  return { close: async () => void (await Promise.all(closers.map((c) => c()))), ports };
}

async function netexec(argv: readonly string[], io: AgnhostIo): Promise<AgnhostRun> {
  const p = parseFlags(argv, {
    strings: ['http-port', 'udp-port', 'sctp-port', 'delay-shutdown', 'tls-cert-file', 'tls-private-key-file'],
    bools: ['http-override'],
  });
  if (p.error) {
    io.err(`Error: ${p.error}\n`);
    return finished(1);
  }
  const httpPort = Number(p.flags.get('http-port') ?? 8080);
  const udpPort = Number(p.flags.get('udp-port') ?? 8081);
  const closers: Closer[] = [];
  const ports: AgnhostRun['ports'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = (k: string) => url.searchParams.get(k) ?? '';
    const text = (s: string, status = 200) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(s);
    };
    const json = (o: unknown, status = 200) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    io.out(`GET ${url.pathname}${url.search} from ${peer(req.socket.remoteAddress)}\n`);
    switch (url.pathname) {
      case '/':
        return text(`NOW: ${new Date().toISOString()}`);
      case '/clientip':
        return text(`${peer(req.socket.remoteAddress)}:${req.socket.remotePort}`);
      case '/echo':
        return text(q('msg'));
      case '/hostname':
      case '/hostName':
        return text(io.hostname);
      case '/healthz':
        return text('ok');
      case '/header':
        return text(String(req.headers[q('key').toLowerCase()] ?? ''));
      case '/exit': {
        const code = Number(q('code') || '0');
        text('');
        setTimeout(() => io.exit(code), 10);
        return;
      }
      case '/shell':
        execFile('/bin/sh', ['-c', q('cmd')], { timeout: 30_000 }, (err, stdout, stderr) => {
          if (err) json({ output: stdout, error: `${err.message}${stderr}` }, 417);
          else json({ output: stdout });
        });
        return;
      case '/dial':
        void dial(url.searchParams).then((r) => json(r, r.errors.length > 0 && r.responses.length === 0 ? 400 : 200));
        return;
      default:
        return text('404 page not found\n', 404);
    }
  });
  ports.push({ proto: 'tcp', port: await listenTcp(server, httpPort) });
  closers.push(closeServer(server));
  if (udpPort >= 0) {
    const s = dgram.createSocket('udp4');
    s.on('message', (m, r) => {
      const msg = m.toString().trim();
      let reply = '';
      if (msg === 'hostname' || msg === 'hostName') reply = io.hostname;
      else if (msg.startsWith('echo ')) reply = msg.slice(5);
      else if (msg === 'clientip') reply = `${r.address}:${r.port}`;
      s.send(reply, r.port, r.address);
    });
    ports.push({ proto: 'udp', port: await bindUdp(s, udpPort) });
    closers.push(closeUdp(s));
  }
  io.out(`Started HTTP server on port ${httpPort}\nStarted UDP server on port ${udpPort}\n`);
  return { close: async () => void (await Promise.all(closers.map((c) => c()))), ports };
}

/** netexec `/dial`: the target is asked `request` over http or udp, `tries` times. */
async function dial(params: URLSearchParams): Promise<{ responses: string[]; errors: string[] }> {
  const host = params.get('host') ?? '';
  const port = Number(params.get('port') ?? '0');
  const request = params.get('request') ?? 'hostname';
  const protocol = params.get('protocol') ?? 'http';
  const tries = Math.max(1, Number(params.get('tries') ?? '1'));
  const responses: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < tries; i++) {
    try {
      if (protocol === 'udp') responses.push(await udpAsk(host, port, request, 1000));
      else responses.push(await httpAsk(host, port, request, 1000));
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  return { responses, errors };
}

function httpAsk(host: string, port: number, request: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const path = request.startsWith('/') ? request : `/${request}`;
    const req = http.get({ host, port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout dialing ${host}:${port}`)));
    req.on('error', reject);
  });
}

function udpAsk(host: string, port: number, request: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error(`timeout reading from udp ${host}:${port}`));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m.toString());
    });
    s.on('error', (e) => {
      clearTimeout(t);
      s.close();
      reject(e);
    });
    s.send(`${request}\n`, port, host);
  });
}

/** `agnhost connect host:port --timeout=1s --protocol=tcp|udp`: exit 0 on success, 1 with a fixed prefix else. */
async function connect(argv: readonly string[], io: AgnhostIo): Promise<number> {
  const p = parseFlags(argv, { strings: ['timeout', 'protocol', 'udp-data'] });
  if (p.error || p.positional.length !== 1) {
    io.err(`UNKNOWN: ${p.error ?? 'accepts 1 arg(s), received ' + p.positional.length}\n`);
    return 1;
  }
  const dest = p.positional[0]!;
  const timeout = parseGoDuration(String(p.flags.get('timeout') ?? '0'));
  if (timeout === undefined) {
    io.err(`UNKNOWN: invalid duration "${p.flags.get('timeout')}"\n`);
    return 1;
  }
  const protocol = String(p.flags.get('protocol') ?? 'tcp');
  const m = /^(.*):(\d+)$/.exec(dest);
  if (!m) {
    io.err(`UNKNOWN: address ${dest}: missing port in address\n`);
    return 1;
  }
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const port = Number(m[2]);
  let ip = host;
  if (!net.isIP(host)) {
    try {
      ip = (await lookup(host, { family: 4 })).address;
    } catch (e) {
      io.err(`DNS: lookup ${host}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  if (protocol === 'tcp' || protocol === '') return connectTcp(ip, port, timeout, io);
  if (protocol === 'udp') return connectUdp(ip, port, timeout, String(p.flags.get('udp-data') ?? 'hostname'), io);
  if (protocol === 'sctp') {
    io.err('OTHER: SCTP is not available on this kernel (CONFIG_IP_SCTP unset)\n');
    return 1;
  }
  io.err(`Unsupported protocol\n${protocol}`);
  return 1;
}

function connectTcp(ip: string, port: number, timeoutMs: number, io: AgnhostIo): Promise<number> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: ip, port });
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            sock.destroy();
            io.err('TIMEOUT\n');
            resolve(1);
          }, timeoutMs)
        : undefined;
    sock.on('connect', () => {
      if (timer) clearTimeout(timer);
      sock.destroy();
      resolve(0);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (e.code === 'ECONNREFUSED') io.err('REFUSED\n');
      else if (e.code === 'ETIMEDOUT') io.err('TIMEOUT\n');
      else io.err(`OTHER: dial tcp ${ip}:${port}: ${e.message}\n`);
      resolve(1);
    });
  });
}

function connectUdp(ip: string, port: number, timeoutMs: number, data: string, io: AgnhostIo): Promise<number> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    let done = false;
    const finish = (code: number, msg?: string) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (msg) io.err(msg);
      sock.close();
      resolve(code);
    };
    const timer =
      timeoutMs > 0
        ? setTimeout(() => finish(1, `TIMEOUT: read udp ${ip}:${port}: i/o timeout\n`), timeoutMs)
        : undefined;
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') finish(1, `REFUSED: read udp ${ip}:${port}: connection refused\n`);
      else finish(1, `UNKNOWN: ${e.message}\n`);
    });
    sock.on('message', (m) => {
      if (m.length === 0) {
        finish(1, 'OTHER: No data received from the server. Cannot guarantee the server received the request.\n');
      } else finish(0);
    });
    sock.connect(port, ip, () => {
      sock.send(`${data}\n`);
    });
  });
}
