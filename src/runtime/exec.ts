/**
 * The one seam through which the runtime runs host tools (`ip`, CNI plugins, `sysctl`). Asynchronous so that
 * starting many pods at once does not block the event loop; output is collected whole (these tools print little).
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  /** Exit code; -1 when the program could not be started or was killed by a signal. */
  code: number;
  stdout: string;
  stderr: string;
  /** Set when spawning failed (ENOENT, EACCES...). */
  spawnError?: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** A function with `run`'s shape; tests substitute one to check argv/stdin without touching the host. */
export type Runner = (file: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

export const run: Runner = (file, args, opts = {}) =>
  new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const child = spawn(file, args as string[], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            child.kill('SIGKILL');
          }, opts.timeoutMs)
        : undefined;
    const done = (r: RunResult) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve(r);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (err) => done({ code: -1, stdout, stderr, spawnError: err.message }));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });

/** Runs and returns stdout, or throws with the tool's stderr (for steps whose failure is a bug, not user input). */
export async function runOk(file: string, args: readonly string[], opts?: RunOptions): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    throw new Error(`${file} ${args.join(' ')}: ${r.spawnError ?? (r.stderr.trim() || `exit ${r.code}`)}`);
  }
  return r.stdout;
}
