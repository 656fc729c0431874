/**
 * Probes from inside a pod, the way the upstream netpol e2e does: exec in the from-pod's first container
 * `/agnhost connect <addr>:<port> --timeout=1s --protocol=tcp|udp`; connected iff it exits 0. Each probe is
 * retried every second for up to ten seconds until it matches the expectation (policies are eventually
 * consistent); probes run concurrently with a bound.
 *
 * `/agnhost` is the image's binary on a real cluster. podwall's node runs built-in images as Node programs and its
 * exec runs host binaries, where there is no `/agnhost`: when exec answers "executable file not found" the probe
 * switches (once, for the rest of the run) to the built-in agnhost program's own entry — the same code the pod's
 * containers run — still through pods/exec.
 */
import { resolveImage } from '../images/catalog.js';
import type { ExecOutcome, LiveApi } from './api.js';
import { AGNHOST_IMAGE } from './topology.js';

export interface ProbeFrom {
  namespace: string;
  pod: string;
  container: string;
}

export interface ConnectTarget {
  address: string;
  port: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

export interface AttemptResult {
  connected: boolean;
  /** Exec-level failure (the probe could not run): never counts as either verdict. */
  error?: string;
  /** agnhost's own words (TIMEOUT, REFUSED, …) or the exec error. */
  detail: string;
}

export interface PolledResult extends AttemptResult {
  attempts: number;
  elapsedMs: number;
}

export interface PollOptions {
  intervalMs: number;
  timeoutMs: number;
}

export const UPSTREAM_POLL: PollOptions = { intervalMs: 1000, timeoutMs: 10_000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function notFound(o: ExecOutcome): boolean {
  return o.exitCode === 127 || /executable file not found|no such file or directory/i.test(o.stderr + (o.error ?? ''));
}

/** Runs agnhost subcommands in pods through exec, with the `/agnhost` → built-in fallback described above. */
export class Agnhost {
  private prefix: string[] = ['/agnhost'];
  private switched = false;
  execs = 0;

  constructor(
    private readonly api: LiveApi,
    private readonly opts: { execTimeoutMs?: number; programDir?: string; log?: (s: string) => void } = {},
  ) {}

  /** The command prefix in use (`/agnhost`, or the built-in program's entry). */
  get command(): readonly string[] {
    return this.prefix;
  }

  async exec(from: ProbeFrom, args: string[]): Promise<ExecOutcome> {
    const run = () => {
      this.execs++;
      return this.api.exec(
        from.namespace,
        from.pod,
        from.container,
        [...this.prefix, ...args],
        this.opts.execTimeoutMs ?? 20_000,
      );
    };
    let o = await run();
    if (!this.switched && notFound(o)) {
      const r = resolveImage(AGNHOST_IMAGE, this.opts.programDir ? { programDir: this.opts.programDir } : {});
      if (r.kind === 'builtin') {
        this.switched = true;
        this.prefix = r.entry;
        this.opts.log?.(
          `/agnhost is not executable in pods here; probing with the built-in agnhost (${r.entry.join(' ')})`,
        );
        o = await run();
      }
    }
    return o;
  }

  async connect(from: ProbeFrom, to: ConnectTarget, timeout = '1s'): Promise<AttemptResult> {
    const o = await this.exec(from, [
      'connect',
      `${to.address}:${to.port}`,
      `--timeout=${timeout}`,
      `--protocol=${to.protocol}`,
    ]);
    if (o.error) return { connected: false, error: o.error, detail: o.error };
    const words = (o.stderr || o.stdout).trim().split('\n')[0] ?? '';
    if (o.exitCode === 0) return { connected: true, detail: 'connected' };
    if (notFound(o)) return { connected: false, error: words || 'agnhost not found', detail: words };
    return { connected: false, detail: words || `exit ${o.exitCode}` };
  }
}

/** Repeats `attempt` every `intervalMs` until its outcome is `expect` (and not an error) or `timeoutMs` passed. */
export async function pollUntil(
  attempt: () => Promise<AttemptResult>,
  expect: boolean,
  o: PollOptions,
): Promise<PolledResult> {
  const t0 = Date.now();
  let attempts = 0;
  for (;;) {
    const started = Date.now();
    const r = await attempt();
    attempts++;
    const elapsedMs = Date.now() - t0;
    if ((!r.error && r.connected === expect) || elapsedMs >= o.timeoutMs) return { ...r, attempts, elapsedMs };
    const wait = o.intervalMs - (Date.now() - started);
    if (wait > 0) await sleep(Math.min(wait, Math.max(0, o.timeoutMs - elapsedMs)));
  }
}

/** Maps `items` through `fn` with at most `concurrency` calls in flight; results keep the input order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return out;
}
