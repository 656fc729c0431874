/**
 * Test harness for end-to-end tests: an in-process control plane on a random loopback port with a fresh temp
 * home, and a runner for the real kubectl binaries (`kubectl.1.32`, `kubectl.1.33`, found beside the `kubectl`
 * dispatcher on PATH). kubectl runs asynchronously: the server shares this process's event loop.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePki, type Pki, renderKubeconfig } from '../certs.js';
import type { NodeBackend } from '../node-backend.js';
import { type ApiServer, startApiServer } from '../server.js';
import { SqliteStore } from '../storage.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SEED = resolve(REPO, '../shared/seed');

/** Directory of the version-specific kubectl clients, or undefined when kubectl is not installed. */
export function kubectlDir(): string | undefined {
  try {
    const link = execFileSync('sh', ['-c', 'readlink -f "$(command -v kubectl)"'], { encoding: 'utf8' }).trim();
    return link ? dirname(link) : undefined;
  } catch {
    return undefined;
  }
}

export function kubectlBinary(version: string): string | undefined {
  const dir = kubectlDir();
  const p = dir ? join(dir, `kubectl.${version}`) : undefined;
  return p && existsSync(p) ? p : undefined;
}

export interface TestCluster {
  home: string;
  kubeconfig: string;
  pki: Pki;
  server: ApiServer;
  store: SqliteStore;
  stop(): Promise<void>;
}

export async function startTestCluster(
  opts: { nodeBackend?: NodeBackend; historyLimit?: number; port?: number; home?: string } = {},
): Promise<TestCluster> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'pw-e2e-'));
  mkdirSync(home, { recursive: true });
  const pki = ensurePki(join(home, 'pki'));
  const store = new SqliteStore({ path: join(home, 'state.db'), historyLimit: opts.historyLimit });
  const server = await startApiServer({ store, pki, port: opts.port ?? 0, nodeBackend: opts.nodeBackend });
  const kubeconfig = join(home, 'kubeconfig');
  writeFileSync(kubeconfig, renderKubeconfig({ server: server.url, pki }));
  return {
    home,
    kubeconfig,
    pki,
    server,
    store,
    stop: async () => {
      await server.close();
      store.close();
    },
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a kubectl binary against the cluster; HOME points into the temp home so caches stay there. */
export function runKubectl(
  bin: string,
  c: { home: string; kubeconfig: string },
  args: string[],
  stdin?: string,
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      bin,
      args,
      {
        env: { PATH: process.env.PATH ?? '', HOME: join(c.home, 'kubectl-home'), KUBECONFIG: c.kubeconfig },
        timeout: 30_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
  });
}

/** Starts a long-running kubectl (e.g. `get -w`) and collects its output until `stop()`. */
export function spawnKubectl(bin: string, c: { home: string; kubeconfig: string }, args: string[]) {
  const child = spawn(bin, args, {
    env: { PATH: process.env.PATH ?? '', HOME: join(c.home, 'kubectl-home'), KUBECONFIG: c.kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return {
    output: () => out,
    errors: () => err,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGKILL');
      }),
  };
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}
