/**
 * Lifecycle of the podwall daemon on the host: where its files live under $PODWALL_HOME, how to tell whether it
 * runs, how to wait for it to be ready, how to stop it, and how to remove everything it created on the host
 * (processes, sockets, runtime files; later issues add their netns/links/nft cleaners to HOST_CLEANERS).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
// issue 6 (enforcement): the nft table and TPROXY ip rule/route a crashed daemon left are removed by `down`.
import { ENFORCEMENT_CLEANER, hasMountUnder } from './enforcement/cleaner.js';
// issue 5 (workloads): the node's pods (netns, veth, routes, /etc/netns) are removed by `down`.
import { nodeHostCleaner } from './workloads/host-cleaner.js';

export const DEFAULT_HOME = '/var/lib/podwall';

export function resolveHome(home?: string): string {
  return home ?? process.env.PODWALL_HOME ?? DEFAULT_HOME;
}

export interface HomePaths {
  home: string;
  kubeconfig: string;
  /** Runtime files (pid, state, sockets): removed by `down`. */
  runDir: string;
  pidFile: string;
  stateFile: string;
  logDir: string;
  logFile: string;
  db: string;
  pkiDir: string;
  /** Persistent settings (the API port, so clients survive restarts). */
  configFile: string;
}

export function homePaths(home: string): HomePaths {
  return {
    home,
    kubeconfig: join(home, 'kubeconfig'),
    runDir: join(home, 'run'),
    pidFile: join(home, 'run', 'podwall.pid'),
    stateFile: join(home, 'run', 'daemon.json'),
    logDir: join(home, 'logs'),
    logFile: join(home, 'logs', 'podwall.log'),
    db: join(home, 'state.db'),
    pkiDir: join(home, 'pki'),
    configFile: join(home, 'config.json'),
  };
}

/** What a running daemon publishes in run/daemon.json. */
export interface DaemonState {
  pid: number;
  url: string;
  startedAt: string;
  version: string;
  components: string[];
}

export function readState(home: string): DaemonState | undefined {
  try {
    return JSON.parse(readFileSync(homePaths(home).stateFile, 'utf8')) as DaemonState;
  } catch {
    return undefined;
  }
}

export function writeState(home: string, state: DaemonState): void {
  const p = homePaths(home);
  mkdirSync(p.runDir, { recursive: true });
  writeFileSync(p.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  writeFileSync(p.pidFile, `${state.pid}\n`);
}

export function readPid(home: string): number | undefined {
  try {
    const n = Number(readFileSync(homePaths(home).pidFile, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PIDs of daemon processes for this home, found from /proc (not only the pid file, which a crash may leave stale). */
export function findDaemonProcesses(home: string): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  const parents = new Map<number, number>();
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--home');
      if (argv.includes('up') && argv.includes('--foreground') && i >= 0 && argv[i + 1] === home) {
        out.push(Number(e));
        parents.set(Number(e), parentPid(e));
      }
    } catch {
      // process went away
    }
  }
  // A child the daemon is spawning shows the daemon's own command line between fork and exec: not a daemon.
  return out.filter((pid) => !out.includes(parents.get(pid) ?? -1)).sort((a, b) => a - b);
}

/** The parent pid from /proc/<pid>/stat (the field after the parenthesised command name). */
function parentPid(pid: string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** GET /readyz over HTTPS (anonymous), trusting our CA. */
export function checkReady(url: string, ca?: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/readyz`, { ca, timeout: timeoutMs, rejectUnauthorized: ca !== undefined }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

function caOf(home: string): string | undefined {
  try {
    return readFileSync(join(homePaths(home).pkiDir, 'ca.crt'), 'utf8');
  } catch {
    return undefined;
  }
}

/** The running daemon of this home, if its process is alive and its API answers /readyz. */
export async function runningDaemon(home: string): Promise<DaemonState | undefined> {
  const state = readState(home);
  if (!state || !isAlive(state.pid)) return undefined;
  return (await checkReady(state.url, caOf(home))) ? state : undefined;
}

/** Polls until the daemon of `home` is ready, or `abort()` says to give up. */
export async function waitReady(
  home: string,
  opts: { timeoutMs?: number; abort?: () => string | undefined } = {},
): Promise<DaemonState> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const why = opts.abort?.();
    if (why) throw new Error(why);
    const s = await runningDaemon(home);
    if (s) return s;
    if (Date.now() > deadline)
      throw new Error(`podwall did not become ready within ${(opts.timeoutMs ?? 30_000) / 1000}s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A cleaner removes one kind of host object podwall created and returns what it removed. */
export interface HostCleaner {
  name: string;
  clean(home: string): Promise<string[]>;
}

/** Host cleaners run by `podwall down`; the node/datapath issues add netns, links and nft table cleaners here. */
export const HOST_CLEANERS: HostCleaner[] = [nodeHostCleaner, ENFORCEMENT_CLEANER];

/** Stops the daemon (SIGTERM, then SIGKILL after `timeoutMs`) and removes runtime files. Returns what it did. */
export async function stopDaemon(home: string, timeoutMs = 10_000): Promise<string[]> {
  const done: string[] = [];
  const pids = new Set<number>(findDaemonProcesses(home));
  const filePid = readPid(home);
  if (filePid && isAlive(filePid) && pids.size === 0) {
    // The pid file names a live process that is not ours (pid reuse): leave it alone.
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + timeoutMs;
  while ([...pids].some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids) {
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
        done.push(`killed process ${pid}`);
      } catch {
        // gone
      }
    } else done.push(`stopped process ${pid}`);
  }
  while ([...pids].some(isAlive)) await new Promise((r) => setTimeout(r, 20));
  for (const c of HOST_CLEANERS) {
    try {
      done.push(...(await c.clean(home)));
    } catch (e) {
      done.push(`${c.name}: cleanup failed: ${(e as Error).message}`);
    }
  }
  const p = homePaths(home);
  if (existsSync(p.runDir)) {
    rmSync(p.runDir, { recursive: true, force: true });
    done.push(`removed ${p.runDir}`);
  }
  return done;
}

/** Removes the stored state too (`down --purge`): database, PKI, kubeconfig, settings and logs. */
export function purgeHome(home: string): string[] {
  const p = homePaths(home);
  const removed: string[] = [];
  for (const f of [p.db, `${p.db}-wal`, `${p.db}-shm`, p.kubeconfig, p.configFile]) {
    if (existsSync(f)) {
      rmSync(f, { force: true });
      removed.push(`removed ${f}`);
    }
  }
  for (const d of [p.pkiDir, p.logDir]) {
    if (existsSync(d)) {
      rmSync(d, { recursive: true, force: true });
      removed.push(`removed ${d}`);
    }
  }
  // The components' own state (pod runtime, CNI config and cache, DNS snapshot, node identity, datapath record):
  // written by podwall under its home, useless once the store is gone. Never a directory something is still
  // mounted under (a bpffs the cleaner could not unmount stays, and so does its directory).
  for (const name of ['runtime', 'cni', 'dns', 'enforcement', 'run', 'node.json']) {
    const f = join(home, name);
    if (!existsSync(f) || hasMountUnder(f)) continue;
    rmSync(f, { recursive: true, force: true });
    removed.push(`removed ${f}`);
  }
  return removed;
}

/** A snapshot of what podwall has on the host for `home` (used by tests to prove `down` removes everything). */
export function hostState(home: string): { processes: number[]; runtimeFiles: string[] } {
  const p = homePaths(home);
  let runtimeFiles: string[] = [];
  try {
    runtimeFiles = readdirSync(p.runDir).map((f) => join(p.runDir, f));
  } catch {
    runtimeFiles = [];
  }
  return { processes: findDaemonProcesses(home), runtimeFiles };
}
