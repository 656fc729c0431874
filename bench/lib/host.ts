/**
 * Host-side helpers shared by the root benchmarks (bench/datapath.ts, bench/l7-proxy.ts): processes run in a pod's
 * netns and/or pinned to a core, nginx instances with a private config/pid/temp dir, wrk/iperf3 output parsing,
 * machine facts, and a cleanup stack that removes exactly what the run created (also on SIGINT/SIGTERM).
 *
 * Not a bench script: bench/run.ts runs only the top-level `bench/*.ts` scripts.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (never throws); `timeoutMs` kills it with SIGKILL. */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const t = opts.timeoutMs ? setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs) : undefined;
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('close', (code) => {
      if (t) clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    p.on('error', (e) => resolve({ code: -1, stdout, stderr: String(e) }));
    p.stdin.on('error', () => undefined);
    p.stdin.end(opts.input ?? '');
  });
}

export async function must(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** argv prefix that runs a command inside `netns` (when given) pinned to `cpu` (when given). */
export function placed(argv: string[], where: { netns?: string; cpu?: number } = {}): [string, string[]] {
  let full = argv;
  if (where.cpu !== undefined) full = ['taskset', '-c', String(where.cpu), ...full];
  if (where.netns) full = ['ip', 'netns', 'exec', where.netns, ...full];
  return [full[0]!, full.slice(1)];
}

/** LIFO cleanup actions; `runAll` runs each once, even after errors. Also armed for SIGINT/SIGTERM. */
export class Cleanup {
  private readonly steps: { what: string; fn: () => unknown }[] = [];
  private ran = false;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    void this.runAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };

  constructor() {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  push(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }

  async runAll(): Promise<string[]> {
    const errors: string[] = [];
    if (this.ran) return errors;
    this.ran = true;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    while (this.steps.length) {
      const s = this.steps.pop()!;
      try {
        await s.fn();
      } catch (e) {
        errors.push(`${s.what}: ${(e as Error).message}`);
      }
    }
    return errors;
  }
}

/** A private temp dir under /var/tmp (something on these machines sweeps /tmp/pw-*), removed by the cleanup. */
export function tempDir(prefix: string, cleanup: Cleanup): string {
  const dir = mkdtempSync(join('/var/tmp', prefix));
  cleanup.push(`rm ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Kills a child process we started (by its pid) and waits for it to exit. */
export function stopChild(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill(signal);
  });
}

/** Waits until `check()` is true (polling), or throws after `ms`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface NginxInstance {
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts nginx with a private config in `dir` (pid, lock, logs and temp paths all inside it), `daemon off` as our
 * child (optionally in a netns and pinned to a core). `http` is the body of the http{} block; every `listen` in it
 * must name a pod IP or 127.0.0.1. Stopped with SIGQUIT-free SIGTERM (fast shutdown) by `stop()` / the cleanup.
 */
export async function startNginx(opts: {
  name: string;
  dir: string;
  http: string;
  listen: { ip: string; port: number }[];
  netns?: string;
  cpu?: number;
  cleanup: Cleanup;
}): Promise<NginxInstance> {
  for (const l of opts.listen)
    if (l.ip === '0.0.0.0' || l.ip === '*' || l.ip === '') throw new Error('nginx must listen on a specific IP');
  const d = opts.dir;
  const conf = `worker_processes 1;
pid ${d}/${opts.name}.pid;
lock_file ${d}/${opts.name}.lock;
error_log ${d}/${opts.name}.error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${d}/${opts.name}-body;
  proxy_temp_path ${d}/${opts.name}-proxy;
  fastcgi_temp_path ${d}/${opts.name}-fastcgi;
  uwsgi_temp_path ${d}/${opts.name}-uwsgi;
  scgi_temp_path ${d}/${opts.name}-scgi;
  keepalive_requests 1000000;
${opts.http}
}
`;
  const file = join(d, `${opts.name}.conf`);
  writeFileSync(file, conf);
  const [tcmd, targs] = placed(['nginx', '-t', '-q', '-p', d, '-c', file, '-e', join(d, `${opts.name}.error.log`)], {
    netns: opts.netns,
  });
  await must(tcmd, targs);
  const [cmd, args] = placed(
    ['nginx', '-p', d, '-c', file, '-e', join(d, `${opts.name}.error.log`), '-g', 'daemon off;'],
    opts,
  );
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr?.on('data', (x) => {
    err += x;
  });
  const stop = () => stopChild(p, 'SIGTERM');
  opts.cleanup.push(`nginx ${opts.name}`, stop);
  const pidFile = join(d, `${opts.name}.pid`);
  await waitFor(`nginx ${opts.name} (${err.trim()})`, () => {
    if (p.exitCode !== null) throw new Error(`nginx ${opts.name} exited: ${err.trim()}`);
    try {
      return Number(readFileSync(pidFile, 'utf8').trim()) > 0;
    } catch {
      return false;
    }
  });
  return { pid: p.pid ?? 0, dir: d, stop };
}

export interface WrkResult {
  requestsPerSec: number;
  /** Latency percentiles in ms (from `--latency`). */
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  requests: number;
  /** Socket errors and non-2xx/3xx responses. */
  errors: number;
  non2xx: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return n;
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rps) throw new Error(`cannot parse wrk output:\n${out}`);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1]!, m[2]!) : Number.NaN;
  };
  const total = /(\d+) requests in/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: pct('50'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    requests: total ? Number(total[1]) : 0,
    errors: sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

export async function wrk(
  url: string,
  o: { seconds: number; connections: number; threads?: number; headers?: string[]; netns?: string; cpu?: number },
): Promise<WrkResult> {
  const argv = [
    'wrk',
    '-t',
    String(o.threads ?? 1),
    '-c',
    String(o.connections),
    '-d',
    `${o.seconds}s`,
    '--latency',
    ...(o.headers ?? []).flatMap((h) => ['-H', h]),
    url,
  ];
  const [cmd, args] = placed(argv, o);
  const out = await must(cmd, args, { timeoutMs: (o.seconds + 30) * 1000 });
  return parseWrk(out);
}

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  memGiB: number;
  kernel: string;
  node: string;
  nft?: string;
  nginx?: string;
  wrk?: string;
  iperf3?: string;
  /** 1/5/15-minute load averages when the bench started and ended. */
  loadStart: number[];
  loadEnd?: number[];
}

function version(cmd: string, args: string[], re: RegExp): string | undefined {
  try {
    const out = execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    return re.exec(out)?.[1];
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    const text = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    return re.exec(text)?.[1];
  }
}

export function machineFacts(): MachineFacts {
  const c = cpus();
  let nginxV: string | undefined;
  try {
    // nginx -v writes to stderr
    nginxV = /nginx\/([\d.]+)/.exec(
      execFileSync('nginx', ['-v'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' }) || '',
    )?.[1];
  } catch {}
  if (!nginxV) nginxV = version('sh', ['-c', 'nginx -v 2>&1'], /nginx\/([\d.]+)/);
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    nft: version('nft', ['--version'], /v([\d.]+)/),
    nginx: nginxV,
    wrk: version('sh', ['-c', 'wrk --version 2>&1; true'], /wrk (\S+)/),
    iperf3: version('iperf3', ['--version'], /iperf ([\d.]+)/),
    loadStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

export function median(xs: number[]): number {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Median of A and B samples, their ratio B/A, and the median of the per-pair ratios (interleaved runs). */
export function compareAB(a: number[], b: number[], digits = 2) {
  const ma = median(a);
  const mb = median(b);
  const pairs = a.map((x, i) => (b[i] !== undefined ? b[i]! / x : Number.NaN));
  return {
    baselineMedian: round(ma, digits),
    podwallMedian: round(mb, digits),
    ratio: round(mb / ma, 3),
    pairedRatioMedian: round(median(pairs), 3),
    baselineRuns: a.map((x) => round(x, digits)),
    podwallRuns: b.map((x) => round(x, digits)),
  };
}

export const isRoot = process.getuid?.() === 0;

/** Whether a command exists on PATH. */
export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Host objects that still carry one of `markers` (this run's unique ids: nft table name, netns/veth id, route table
 * and rule pref): empty after a clean teardown. Other engineers' objects never match a marker.
 */
export async function leftovers(markers: string[]): Promise<string[]> {
  const lines: string[] = [];
  for (const [cmd, args] of [
    ['nft', ['list', 'tables']],
    ['ip', ['netns', 'list']],
    ['ip', ['-o', 'link', 'show']],
    ['ip', ['-4', 'rule', 'show']],
    ['ip', ['-4', 'route', 'show', 'table', 'all']],
  ] as [string, string[]][]) {
    const r = await run(cmd, args);
    lines.push(...r.stdout.split('\n'));
  }
  return lines.map((l) => l.trim()).filter((l) => l && markers.some((m) => l.includes(m)));
}
