/**
 * The flow store: an in-memory, append-only log with time-based retention (flows older than `maxAgeMs` are
 * evicted) and a hard cap on the number of flows (memory bound, default 50k ≈ 120 MB), plus live subscribers for
 * `observe --follow`. Eviction is amortised O(1): a moving start index, compacted when half the array is dead.
 */
import { compileFilter, type FlowFilter } from './filter.js';
import type { Flow } from './flow.js';

export interface FlowStoreOptions {
  /** Retention by age. Default 1 hour. */
  maxAgeMs?: number;
  /** Hard cap on stored flows. Default 50,000. */
  maxFlows?: number;
  now?: () => number;
}

export interface FlowQuery {
  filter?: FlowFilter;
  /** The newest N matching flows (in time order). Default: all. */
  last?: number;
}

type Subscriber = { match: (f: Flow) => boolean; cb: (f: Flow) => void };

export class FlowStore {
  private flows: Flow[] = [];
  private times: number[] = [];
  private start = 0;
  private readonly subs = new Set<Subscriber>();
  private readonly maxAgeMs: number;
  private readonly maxFlows: number;
  private readonly now: () => number;
  /** Flows ever added (including evicted ones). */
  total = 0;

  constructor(opts: FlowStoreOptions = {}) {
    this.maxAgeMs = opts.maxAgeMs ?? 3_600_000;
    this.maxFlows = opts.maxFlows ?? 50_000;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.flows.length - this.start;
  }

  add(f: Flow): void {
    const t = Date.parse(f.time);
    this.flows.push(f);
    this.times.push(Number.isNaN(t) ? this.now() : t);
    this.total++;
    this.evict();
    for (const s of this.subs) {
      if (!s.match(f)) continue;
      try {
        s.cb(f);
      } catch {
        // a broken subscriber must not stop the pipeline
      }
    }
  }

  private evict(): void {
    const cutoff = this.now() - this.maxAgeMs;
    while (this.start < this.flows.length && (this.times[this.start]! < cutoff || this.size > this.maxFlows))
      this.start++;
    if (this.start > 1024 && this.start * 2 > this.flows.length) {
      this.flows = this.flows.slice(this.start);
      this.times = this.times.slice(this.start);
      this.start = 0;
    }
  }

  /** Matching flows, oldest first (the newest `last` of them when given). */
  query(q: FlowQuery = {}): Flow[] {
    this.evict();
    const match = compileFilter(q.filter ?? {});
    const out: Flow[] = [];
    const limit = q.last ?? Number.POSITIVE_INFINITY;
    for (let i = this.flows.length - 1; i >= this.start && out.length < limit; i--) {
      const f = this.flows[i]!;
      if (match(f)) out.push(f);
    }
    return out.reverse();
  }

  /** Calls `cb` for every matching flow added from now on; returns the unsubscribe function. */
  subscribe(filter: FlowFilter, cb: (f: Flow) => void): () => void {
    const s: Subscriber = { match: compileFilter(filter), cb };
    this.subs.add(s);
    return () => {
      this.subs.delete(s);
    };
  }

  get subscribers(): number {
    return this.subs.size;
  }
}
