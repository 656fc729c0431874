/**
 * Applies nft scripts atomically. Preferred: libnftables in-process through koffi (`nft_run_cmd_from_buffer`,
 * ~0.5 ms per small transaction, run on the calling thread; large scripts run on koffi's worker thread so the event
 * loop — and the in-process L7 proxy — keeps serving). Fallback: `nft -f -` (one process per transaction, ~10–40 ms). Either way one script is one
 * netlink batch: all of it applies or none of it does.
 */
import { spawn } from 'node:child_process';
import koffi, { type LibraryHandle } from 'koffi';

export interface NftRunner {
  readonly kind: 'libnftables' | 'cli';
  /** Run a script (text or JSON); resolves with nft's output, rejects with NftError. Calls are serialised. */
  run(script: string): Promise<string>;
  close(): void;
}

export class NftError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly script: string,
  ) {
    super(message);
    this.name = 'NftError';
  }
}

/** Heuristic on nft's messages: the table (or an object in it) does not exist. */
export function isNotFound(e: unknown): boolean {
  return e instanceof NftError && /No such file or directory/.test(e.stderr);
}

type KoffiFn = ReturnType<LibraryHandle['func']>;

interface NftLib {
  ctxNew: KoffiFn;
  bufferOutput: KoffiFn;
  bufferError: KoffiFn;
  getOutput: KoffiFn;
  getError: KoffiFn;
  runCmd: KoffiFn;
  ctxFree: KoffiFn;
}

let lib: NftLib | undefined | null;

function loadLib(): NftLib | undefined {
  if (lib !== undefined) return lib ?? undefined;
  try {
    const l = koffi.load('libnftables.so.1');
    lib = {
      ctxNew: l.func('void *nft_ctx_new(uint32_t flags)'),
      bufferOutput: l.func('int nft_ctx_buffer_output(void *ctx)'),
      bufferError: l.func('int nft_ctx_buffer_error(void *ctx)'),
      getOutput: l.func('const char *nft_ctx_get_output_buffer(void *ctx)'),
      getError: l.func('const char *nft_ctx_get_error_buffer(void *ctx)'),
      runCmd: l.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)'),
      ctxFree: l.func('void nft_ctx_free(void *ctx)'),
    };
  } catch {
    lib = null;
  }
  return lib ?? undefined;
}

class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/** Scripts up to this size run synchronously (see LibNftRunner.run). */
const SYNC_SCRIPT_LIMIT = 16 * 1024;

class LibNftRunner implements NftRunner {
  readonly kind = 'libnftables' as const;
  private ctx: unknown;
  private readonly serial = new Serial();

  constructor(private readonly l: NftLib) {
    this.ctx = l.ctxNew(0);
    if (!this.ctx) throw new Error('nft_ctx_new failed');
    l.bufferOutput(this.ctx);
    l.bufferError(this.ctx);
  }

  run(script: string): Promise<string> {
    return this.serial.run(
      () =>
        new Promise<string>((resolve, reject) => {
          if (!this.ctx) return reject(new Error('runner closed'));
          const done = (rc: number) => {
            const out = (this.l.getOutput(this.ctx) as string | null) ?? '';
            const errText = (this.l.getError(this.ctx) as string | null) ?? '';
            if (rc !== 0) return reject(new NftError(`nft failed: ${firstLine(errText)}`, errText, script));
            resolve(out);
          };
          // A small transaction (an incremental update: ~0.5–3 ms in the kernel) runs on the calling thread: the
          // hop to koffi's worker and back through a busy event loop cost more than the transaction itself.
          // Large ones (full loads, 100 ms and more) run on the worker so the event loop keeps serving.
          if (script.length <= SYNC_SCRIPT_LIMIT) return done(this.l.runCmd(this.ctx, script) as number);
          this.l.runCmd.async(this.ctx, script, (err: unknown, rc: number) => {
            if (err) return reject(err);
            done(rc);
          });
        }),
    );
  }

  close(): void {
    if (this.ctx) {
      const ctx = this.ctx;
      this.ctx = undefined;
      // Wait for queued work before freeing.
      void this.serial.run(async () => this.l.ctxFree(ctx));
    }
  }
}

function firstLine(s: string): string {
  return s.split('\n').find((x) => x.trim()) ?? 'unknown error';
}

class CliNftRunner implements NftRunner {
  readonly kind = 'cli' as const;
  private readonly serial = new Serial();
  constructor(private readonly nftPath = 'nft') {}

  run(script: string): Promise<string> {
    return this.serial.run(
      () =>
        new Promise<string>((resolve, reject) => {
          const json = script.trimStart().startsWith('{');
          const p = spawn(this.nftPath, json ? ['-j', '-f', '-'] : ['-f', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          p.stdout.on('data', (d) => {
            out += d;
          });
          p.stderr.on('data', (d) => {
            err += d;
          });
          p.on('error', reject);
          p.on('close', (code) => {
            if (code === 0) resolve(out);
            else reject(new NftError(`nft failed: ${firstLine(err)}`, err, script));
          });
          p.stdin.end(script);
        }),
    );
  }

  close(): void {}
}

/** libnftables via koffi when loadable, else the `nft` binary. */
export function createNftRunner(opts: { prefer?: 'libnftables' | 'cli' } = {}): NftRunner {
  if (opts.prefer !== 'cli') {
    const l = loadLib();
    if (l) return new LibNftRunner(l);
  }
  return new CliNftRunner();
}
