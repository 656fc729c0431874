/**
 * Test-only: a few "pods" as network namespaces wired with the standard CNI `ptp` + `host-local` plugins (recipe
 * Q1), each running a tiny HTTP server that answers with its pod name. Deliberately small: the real pod runtime
 * lives elsewhere. Requires root.
 *
 * Hygiene: netns are named `pw-t<id>-<pod>`, host veths are renamed to `pw-<id>-<n>`, the IPAM data dir is a private
 * temp dir, the subnet is a free random 10.213.X.0/24, and teardown removes exactly what was created. ptp enables
 * net.ipv4.ip_forward; if it was 0 before, teardown restores it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TestPod {
  name: string;
  netns: string;
  ip: string;
  /** Host side veth (renamed to carry the pw prefix). */
  hostIfname: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestNet {
  id: string;
  /**
   * 10.213.X.n of the private test subnet (not a pod unless assigned). n >= 192 is routed into the first pod, so
   * use it for service IPs; other non-pod addresses are unreachable.
   */
  addr(n: number): string;
  gateway: string;
  pods: Record<string, TestPod>;
  /** TCP ports every pod server listens on. */
  ports: readonly number[];
  exec(pod: string, argv: string[], timeoutMs?: number): Promise<ExecResult>;
  /** `curl` from a pod (or from the host with pod === 'host'); body is the serving pod's name. */
  curl(
    pod: string,
    url: string,
    opts?: { timeoutS?: number; extra?: string[] },
  ): Promise<{ exit: number; code: number; body: string }>;
  /** A keep-alive HTTP client in a pod: `request()` reuses one TCP connection. */
  keepAliveClient(pod: string, host: string, port: number): Promise<KeepAliveClient>;
  /**
   * One UDP datagram of `bytes` bytes from a pod (or the host) to a pod server's UDP port (every TCP port of
   * `ports` is served over UDP too); the answer is `<pod name> <bytes received>`. Above the veth MTU (1500) the
   * datagram travels as IPv4 fragments. `ok` false: no answer within `timeoutMs`.
   */
  udp(pod: string, ip: string, port: number, opts?: { bytes?: number; timeoutMs?: number }): Promise<UdpResult>;
  teardown(): Promise<void>;
}

export interface UdpResult {
  ok: boolean;
  /** The answer, e.g. `b 4000`. */
  body: string;
}

export interface KeepAliveClient {
  request(
    path: string,
    timeoutMs: number,
  ): Promise<{ ok: boolean; body?: string; error?: string; socketReused: boolean }>;
  close(): void;
}

const SERVER = `
import http from 'node:http';
import dgram from 'node:dgram';
const name = process.argv[1];
const ports = process.argv.slice(2).map(Number);
let n = 0;
for (const p of ports) {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send(name + ' ' + m.length, r.port, r.address));
  u.bind(p, '0.0.0.0');
  const s = http.createServer((req, res) => {
    const body = name + '\\n';
    res.writeHead(200, { 'content-type': 'text/plain', 'x-pod': name, 'x-path': req.url, 'x-peer': req.socket.remoteAddress });
    res.end(body);
  });
  s.keepAliveTimeout = 60000;
  s.listen(p, '0.0.0.0', () => { if (++n === ports.length) process.stdout.write('ready\\n'); });
}
`;

const UDP_CLIENT = `
import dgram from 'node:dgram';
const [ip, port, bytes, timeoutMs] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const s = dgram.createSocket('udp4');
const timer = setTimeout(() => process.exit(1), timeoutMs);
s.on('message', (m) => { clearTimeout(timer); process.stdout.write(String(m)); s.close(); });
s.send(Buffer.alloc(bytes, 0x61), port, ip);
`;

const CLIENT = `
import http from 'node:http';
import readline from 'node:readline';
const [host, port] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let lastSocket;
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const { path, timeoutMs } = JSON.parse(line);
  let done = false;
  const finish = (o) => { if (!done) { done = true; process.stdout.write(JSON.stringify(o) + '\\n'); } };
  const req = http.request({ host, port: Number(port), path, agent }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => finish({ ok: true, body, socketReused: req.reusedSocket }));
  });
  req.on('socket', (s) => { lastSocket = s; });
  req.setTimeout(timeoutMs, () => { finish({ ok: false, error: 'timeout', socketReused: req.reusedSocket }); req.destroy(); });
  req.on('error', (e) => finish({ ok: false, error: e.message, socketReused: req.reusedSocket }));
  req.end();
});
process.stdout.write('ready\\n');
`;

async function sh(cmd: string, args: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<ExecResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.on('error', (e) => resolve({ code: -1, stdout, stderr: String(e) }));
    p.stdin.on('error', () => undefined);
    p.stdin.end(input ?? '');
  });
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

function waitReady(p: ChildProcess, what: string, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} not ready`)), ms);
    let buf = '';
    const on = (d: Buffer) => {
      buf += d;
      if (buf.includes('ready\n')) {
        clearTimeout(t);
        p.stdout?.off('data', on);
        resolve();
      }
    };
    p.stdout?.on('data', on);
    p.on('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`${what} exited ${c}`));
    });
  });
}

async function pickSubnet(): Promise<number> {
  const routes = await must('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (let i = 0; i < 50; i++) {
    const x = 1 + Math.floor(Math.random() * 250);
    if (!routes.includes(`10.213.${x}.`)) return x;
  }
  throw new Error('no free 10.213.X.0/24 subnet');
}

export async function createTestNet(podNames: string[], ports: number[] = [80, 81, 8080, 9090]): Promise<TestNet> {
  const id = randomBytes(2).toString('hex');
  const x = await pickSubnet();
  const gateway = `10.213.${x}.1`;
  // Only the IPAM state lives on disk (/var/tmp: something on this machine sweeps /tmp/pw-*); the server and
  // client programs are passed inline with `node -e`.
  const dir = mkdtempSync(join('/var/tmp', `pw-t${id}-`));
  const forwardBefore = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const conf = {
    cniVersion: '1.0.0',
    name: `pw-t${id}`,
    type: 'ptp',
    mtu: 1500,
    ipMasq: false,
    ipam: {
      type: 'host-local',
      dataDir: join(dir, 'ipam'),
      ranges: [[{ subnet: `10.213.${x}.0/24`, gateway }]],
      routes: [{ dst: '0.0.0.0/0' }],
    },
  };
  const pods: Record<string, TestPod> = {};
  const procs: ChildProcess[] = [];
  const cni = (command: 'ADD' | 'DEL', netns: string) =>
    sh('/usr/lib/cni/ptp', [], JSON.stringify(conf), {
      ...process.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: netns,
      CNI_NETNS: `/var/run/netns/${netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/usr/lib/cni',
    });

  const teardown = async () => {
    for (const p of procs) if (p.pid && p.exitCode === null) p.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
    for (const pod of Object.values(pods)) {
      await cni('DEL', pod.netns);
      await sh('ip', ['netns', 'del', pod.netns]);
    }
    if (svcRoute) await sh('ip', ['route', 'del', `10.213.${x}.192/26`, 'dev', svcRoute]);
    if (subnetRoute) await sh('ip', ['route', 'del', 'unreachable', `10.213.${x}.0/24`]);
    rmSync(dir, { recursive: true, force: true });
    if (forwardBefore === '0') writeFileSync('/proc/sys/net/ipv4/ip_forward', '0');
  };

  let subnetRoute = false;
  let svcRoute: string | undefined;
  try {
    // Safety net: addresses of the test subnet that are not pods (service and "world" IPs used by tests) must never
    // follow the default route off the machine. Pod /32 routes are more specific.
    await must('ip', ['route', 'add', 'unreachable', `10.213.${x}.0/24`]);
    subnetRoute = true;
    let n = 0;
    for (const name of podNames) {
      const netns = `pw-t${id}-${name}`;
      await must('ip', ['netns', 'add', netns]);
      pods[name] = { name, netns, ip: '', hostIfname: '' };
      const r = await cni('ADD', netns);
      if (r.code !== 0) throw new Error(`CNI ADD ${netns}: ${r.stdout}${r.stderr}`);
      const res = JSON.parse(r.stdout) as {
        ips: { address: string }[];
        interfaces: { name: string; sandbox?: string }[];
      };
      const ip = res.ips[0]!.address.split('/')[0]!;
      const veth = res.interfaces.find((i) => !i.sandbox)!.name;
      const newName = `pw-${id}-${n++}`;
      // Rename the random host veth so it carries the podwall prefix; the /32 route dies with link-down, re-add it.
      await must('ip', ['link', 'set', 'dev', veth, 'down']);
      await must('ip', ['link', 'set', 'dev', veth, 'name', newName]);
      await must('ip', ['link', 'set', 'dev', newName, 'up']);
      await must('ip', ['route', 'replace', `${ip}/32`, 'dev', newName, 'src', gateway]);
      await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      pods[name] = { name, netns, ip, hostIfname: newName };
      const p = spawn(
        'ip',
        ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', SERVER, name, ...ports.map(String)],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      procs.push(p);
      await waitReady(p, `server in ${netns}`);
    }
    // Service IPs (.192/26) need a route for host clients (nat output DNATs after the route lookup). Point it into
    // the first pod: an untranslated packet dies there instead of leaving the machine.
    const first = Object.values(pods)[0];
    if (first) {
      await must('ip', ['route', 'add', `10.213.${x}.192/26`, 'dev', first.hostIfname, 'src', gateway]);
      svcRoute = first.hostIfname;
    }
  } catch (e) {
    await teardown();
    throw e;
  }

  const exec = async (pod: string, argv: string[], timeoutMs = 15_000): Promise<ExecResult> => {
    const prefix = pod === 'host' ? [] : ['netns', 'exec', pods[pod]!.netns];
    try {
      const { stdout, stderr } = await execFileP(
        pod === 'host' ? argv[0]! : 'ip',
        [...prefix, ...(pod === 'host' ? argv.slice(1) : argv)],
        {
          timeout: timeoutMs,
        },
      );
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };

  return {
    id,
    addr: (n: number) => `10.213.${x}.${n}`,
    gateway,
    pods,
    ports,
    exec,
    async curl(pod, url, opts = {}) {
      const t = opts.timeoutS ?? 1.5;
      const r = await exec(pod, [
        'curl',
        '-s',
        '-o',
        '-',
        '-w',
        '\n%{http_code}',
        '--connect-timeout',
        String(t),
        '-m',
        String(t + 1),
        ...(opts.extra ?? []),
        url,
      ]);
      const lines = r.stdout.split('\n');
      const code = Number(lines.pop() ?? '0');
      return { exit: r.code, code, body: lines.join('\n').trim() };
    },
    async udp(pod, ip, port, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 1500;
      const argv = [process.execPath, '--input-type=module', '-e', UDP_CLIENT, ip, String(port)];
      const r = await exec(pod, [...argv, String(opts.bytes ?? 64), String(timeoutMs)], timeoutMs + 5000);
      return { ok: r.code === 0 && r.stdout !== '', body: r.stdout.trim() };
    },
    async keepAliveClient(pod, host, port) {
      const p = spawn(
        'ip',
        ['netns', 'exec', pods[pod]!.netns, process.execPath, '--input-type=module', '-e', CLIENT, host, String(port)],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      );
      procs.push(p);
      await waitReady(p, 'keep-alive client');
      let buf = '';
      const waiters: ((l: string) => void)[] = [];
      p.stdout!.on('data', (d) => {
        buf += d;
        let i = buf.indexOf('\n');
        while (i >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          waiters.shift()?.(line);
          i = buf.indexOf('\n');
        }
      });
      return {
        request(path, timeoutMs) {
          return new Promise((resolve) => {
            waiters.push((l) => resolve(JSON.parse(l)));
            p.stdin!.write(`${JSON.stringify({ path, timeoutMs })}\n`);
          });
        },
        close() {
          if (p.exitCode === null) p.kill('SIGKILL');
        },
      };
    },
    teardown,
  };
}
