/**
 * Differential test (Cilium FuzzDistillPolicy, style-anchors §2): random clusters are compiled once, and for every
 * random flow the compiled map state (`evaluateFlow`) must agree with the naive oracle — per direction (egress of the
 * source, ingress of the destination) and for the flow as a whole.
 *
 * Nothing is skipped: every flow is compared. A disagreement either fails the run, or matches the precise signature
 * of an OPEN resolver bug listed in known-bugs.ts (each has an `it.fails` fixture in testdata/fuzz/); those are
 * counted and printed after the run so the bugs stay visible.
 *
 * Replay a failure: PODWALL_FUZZ_SEED=<seed> PODWALL_FUZZ_PATH=<path> npx vitest run src/policy/oracle/differential
 * (both are printed on failure, together with a ready-to-save testdata/fuzz fixture). Hunt longer with
 * PODWALL_FUZZ_CLUSTERS=5000.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ClusterArbOptions,
  clusterArb,
  type FlowSeed,
  flowOfSeed,
  flowSeedArb,
} from '../../testing/arbitraries.js';
import type { ClusterInput } from '../cluster.js';
import { evaluateFlow } from '../evaluate.js';
import { type CompiledCluster, compile } from '../resolve/compile.js';
import type { Direction, DirectionVerdict, Flow, FlowVerdict } from '../types.js';
import { type Disagreement, KNOWN_RESOLVER_BUGS } from './known-bugs.js';
import { type OracleVerdict, oracleVerdict } from './oracle.js';

/** Clusters per property run; PODWALL_FUZZ_CLUSTERS raises it for a longer hunt (never below 200). */
const CLUSTERS = Math.max(200, Number(process.env.PODWALL_FUZZ_CLUSTERS ?? 0));
const FLOWS_PER_CLUSTER = 50;
/** Vitest's 30 s default is plenty for 200 clusters (≈2-4 s here); longer hunts get proportionally more. */
const TIMEOUT_MS = Math.max(30_000, CLUSTERS * 40);
const DIRECTIONS: Direction[] = ['egress', 'ingress'];

function key(v: OracleVerdict | FlowVerdict | DirectionVerdict | undefined): string {
  if (!v || v.verdict === 'not-applicable') return 'not-applicable';
  return v.verdict === 'denied-l3l4' ? `denied-l3l4 (${v.dropReason})` : v.verdict;
}

// ---- one flow ----

type Outcome = { ok: true; bugs: string[] } | { ok: false; why: string };

/** Compares each side, then the flow verdict; a disagreement must be explained by an open bug or it fails. */
function compareFlow(cluster: ClusterInput, compiled: CompiledCluster, flow: Flow): Outcome {
  const oracle = oracleVerdict(cluster, flow);
  const resolver = evaluateFlow(compiled, flow);
  const bugs: string[] = [];
  const differ = (where: Direction | 'flow', got: string, want: string): string | undefined => {
    const d: Disagreement = { cluster, compiled, flow, oracle, resolver, where };
    const bug = Object.entries(KNOWN_RESOLVER_BUGS).find(([, b]) => b.explains(d))?.[0];
    if (bug) bugs.push(bug);
    return bug ? undefined : `${where}: resolver ${got}, oracle ${want}`;
  };
  for (const dir of DIRECTIONS) {
    const got = key(resolver[dir]);
    const want = key(oracle[dir]);
    const why = got === want ? undefined : differ(dir, got, want);
    if (why) return { ok: false, why };
  }
  // The flow verdict combines the two sides; with both sides equal it must be equal too.
  if (bugs.length === 0 && key(resolver) !== key(oracle)) {
    const why = differ('flow', key(resolver), key(oracle));
    if (why) return { ok: false, why: `${why} (both sides agree)` };
  }
  return { ok: true, bugs };
}

// ---- the property ----

interface RunStats {
  flows: number;
  agreed: number;
  knownBugs: Record<string, number>;
}

function runDifferential(name: string, opts: ClusterArbOptions): RunStats {
  const stats: RunStats = { flows: 0, agreed: 0, knownBugs: {} };
  let failure: { cluster: ClusterInput; flow: Flow; why: string } | undefined;
  const property = fc.property(
    clusterArb(opts),
    fc.array(flowSeedArb, { minLength: FLOWS_PER_CLUSTER, maxLength: FLOWS_PER_CLUSTER }),
    (cluster: ClusterInput, seeds: FlowSeed[]) => {
      const compiled = compile(cluster);
      for (const seed of seeds) {
        const flow = flowOfSeed(cluster, seed);
        let outcome: Outcome;
        try {
          outcome = compareFlow(cluster, compiled, flow);
        } catch (e) {
          outcome = { ok: false, why: `threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` };
        }
        stats.flows++;
        if (!outcome.ok) {
          failure = { cluster, flow, why: outcome.why };
          return false;
        }
        if (outcome.bugs.length === 0) stats.agreed++;
        for (const b of outcome.bugs) stats.knownBugs[b] = (stats.knownBugs[b] ?? 0) + 1;
      }
      return true;
    },
  );
  const seed = process.env.PODWALL_FUZZ_SEED;
  const path = process.env.PODWALL_FUZZ_PATH;
  const details = fc.check(property, {
    numRuns: CLUSTERS,
    ...(seed ? { seed: Number(seed) } : {}),
    ...(path ? { path } : {}),
  });
  if (details.failed) {
    // `failure` holds the last (most shrunk) failing case.
    const fixture = failure && {
      name: '<name>',
      description: failure.why,
      semantics: '§…',
      cluster: failure.cluster,
      flow: failure.flow,
      expected: '<the verdict the semantics doc gives>',
    };
    const what = failure
      ? `resolver and oracle disagree — ${failure.why}`
      : `the property threw — ${details.errorInstance}`;
    throw new Error(
      `${name}: ${what}\n` +
        `replay: PODWALL_FUZZ_SEED=${details.seed} PODWALL_FUZZ_PATH="${details.counterexamplePath}"\n` +
        (fixture
          ? `fixture (testdata/fuzz/<name>.json; check 'expected' against the semantics doc): ${JSON.stringify(fixture)}`
          : ''),
    );
  }
  const bugs = Object.entries(stats.knownBugs).map(([b, n]) => `${b} ×${n}`);
  console.info(
    `${name}: seed ${details.seed}, ${stats.flows} flows in ${CLUSTERS} clusters, ${stats.agreed} agree` +
      (bugs.length ? `; attributed to OPEN resolver bugs (known-bugs.ts): ${bugs.join(', ')}` : ''),
  );
  return stats;
}

describe('differential: compiled map state vs naive oracle', () => {
  it(
    `Kubernetes NetworkPolicy only (${CLUSTERS} clusters × ${FLOWS_PER_CLUSTER} flows)`,
    () => {
      const stats = runDifferential('NetworkPolicy only', { kinds: ['NetworkPolicy'] });
      expect(stats.flows).toBeGreaterThanOrEqual(CLUSTERS * FLOWS_PER_CLUSTER);
    },
    TIMEOUT_MS,
  );

  it(
    `mixed NP + CNP + CCNP with deny and L7 (${CLUSTERS} clusters × ${FLOWS_PER_CLUSTER} flows)`,
    () => {
      const stats = runDifferential('mixed NP + CNP + CCNP', {});
      expect(stats.flows).toBeGreaterThanOrEqual(CLUSTERS * FLOWS_PER_CLUSTER);
    },
    TIMEOUT_MS,
  );
});
