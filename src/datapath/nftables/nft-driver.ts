/**
 * The nftables Driver: pure rendering (render.ts) + one runner (runner.ts) + the TPROXY policy routing.
 * The first apply replaces the whole table atomically; later applies send only the diff. If an incremental
 * transaction fails (the kernel state drifted, e.g. someone deleted an element), the driver falls back to a full
 * replacement, which is still one atomic batch.
 */
import { randomInt } from 'node:crypto';
import type { ApplyStats, DesiredState, Driver } from '../types.js';
import {
  DEFAULT_RENDER_OPTIONS,
  diff,
  dumpModel,
  GENERATION_LIMIT,
  generationMove,
  type NftModel,
  type NftTransaction,
  nextGeneration,
  type RenderOptions,
  renderFull,
  renderModel,
  renderTeardown,
  transactionText,
  withGeneration,
} from './render.js';
import { createNftRunner, type NftRunner } from './runner.js';
import { DEFAULT_TPROXY_ROUTING, TproxyRouting, type TproxyRoutingSpec } from './tproxy-routing.js';

export interface NftDriverOptions {
  /** Table name; production `podwall`, tests a unique `pw-test-<random>`. */
  table?: string;
  nflogGroup?: number;
  /** TPROXY fwmark bit, ip rule pref and route table. */
  tproxy?: Partial<TproxyRoutingSpec>;
  /** Do not install the ip rule/route (e.g. a second driver sharing them). Default true. */
  manageRouting?: boolean;
  runner?: NftRunner;
}

export interface NftDriver extends Driver {
  readonly options: Readonly<RenderOptions>;
  readonly runner: NftRunner;
  /**
   * The last transaction sent (for tests, benchmarks and `podwall status`): `ms` is the kernel transaction
   * (libnftables, wall time), `renderMs` the pure part before it (render, diff).
   */
  readonly last?: { tx: NftTransaction; ms: number; renderMs: number };
}

export function createNftDriver(opts: NftDriverOptions = {}): NftDriver {
  const routingSpec: TproxyRoutingSpec = { ...DEFAULT_TPROXY_ROUTING, ...opts.tproxy };
  const options: RenderOptions = {
    table: opts.table ?? DEFAULT_RENDER_OPTIONS.table,
    nflogGroup: opts.nflogGroup ?? DEFAULT_RENDER_OPTIONS.nflogGroup,
    tproxyMark: routingSpec.mark,
  };
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(options.table)) throw new Error(`invalid table name ${options.table}`);
  const runner = opts.runner ?? createNftRunner();
  const routing = opts.manageRouting === false ? undefined : new TproxyRouting(routingSpec);
  let model: NftModel | undefined;
  // A fresh random generation per driver: connections marked by an earlier agent are re-judged once.
  let generation = 1 + randomInt(GENERATION_LIMIT - 1);
  let last: { tx: NftTransaction; ms: number; renderMs: number } | undefined;
  let renderStart = 0;

  async function send(tx: NftTransaction): Promise<void> {
    const t0 = performance.now();
    if (tx.commands.length) await runner.run(transactionText(tx));
    last = { tx, ms: performance.now() - t0, renderMs: t0 - renderStart };
  }

  return {
    options,
    runner,
    get last() {
      return last;
    },
    async apply(state: DesiredState): Promise<ApplyStats> {
      renderStart = performance.now();
      let next = renderModel(state, options, generation);
      let tx: NftTransaction;
      // What the desired state changed; the generation move (four elements) is bookkeeping on top of it.
      let changes: number;
      if (model) {
        const policyTx = diff(model, next);
        changes = policyTx.changes;
        if (changes === 0) return { changes: 0, full: false };
        // Something changed: move the policy generation in the same batch so cached verdicts are re-judged.
        const from = generation;
        generation = nextGeneration(generation);
        next = withGeneration(next, generation);
        tx = { ...policyTx, commands: [...policyTx.commands, ...generationMove(options.table, from, generation)] };
        try {
          await send(tx);
        } catch {
          generation = nextGeneration(generation);
          next = withGeneration(next, generation);
          tx = renderFull(next);
          changes = tx.changes;
          await send(tx);
        }
      } else {
        tx = renderFull(next);
        changes = tx.changes;
        await send(tx);
      }
      model = next;
      if (routing) await routing.install();
      return { changes, full: tx.full };
    },
    async teardown(): Promise<void> {
      await runner.run(`${renderTeardown(options.table).join('\n')}\n`);
      model = undefined;
      if (routing) await routing.remove();
    },
    async dump(): Promise<string> {
      return model ? dumpModel(model) : '';
    },
  };
}
