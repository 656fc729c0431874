/**
 * A controller work queue in the manner of client-go's: keys are deduplicated while queued, one key is never
 * processed by two workers at once (a key added while it is processed runs again afterwards), failed keys are
 * retried with exponential back-off, and `addAfter` schedules a later look (deadlines, minReadySeconds).
 */

export interface WorkQueueOptions {
  /** Workers running at once. Default 1. */
  concurrency?: number;
  /** First retry delay after a failure; doubles per failure up to `maxRetryMs`. */
  baseRetryMs?: number;
  maxRetryMs?: number;
  onError?(key: string, err: unknown): void;
}

/** What a handler may return: ask for another look later. */
export type SyncResult = undefined | { requeueAfterMs?: number };

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: (key: string) => Promise<SyncResult>,
    private readonly opts: WorkQueueOptions = {},
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds `key` after `ms` (an earlier pending timer for the key wins). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    if (this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref?.();
    this.timers.set(key, t);
  }

  get length(): number {
    return this.queue.length + this.processing.size;
  }

  /** Resolves when nothing is queued or processing (timers not counted). */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    await Promise.allSettled([...this.running]);
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 1;
    while (!this.stopped && this.running.size < limit && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      const p: Promise<void> = this.process(key).finally(() => {
        this.running.delete(p);
        this.processing.delete(key);
        if (this.dirty.delete(key)) this.add(key);
        this.pump();
        if (this.length === 0) {
          const w = this.idleWaiters;
          this.idleWaiters = [];
          for (const f of w) f();
        }
      });
      this.running.add(p);
    }
  }

  private async process(key: string): Promise<void> {
    try {
      const r = await this.handler(key);
      this.failures.delete(key);
      if (r && r.requeueAfterMs !== undefined) this.addAfter(key, r.requeueAfterMs);
    } catch (e) {
      if (this.stopped) return;
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.opts.onError?.(key, e);
      const base = this.opts.baseRetryMs ?? 20;
      this.addAfter(key, Math.min(base * 2 ** (n - 1), this.opts.maxRetryMs ?? 30_000));
    }
  }
}
