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
import { type ClusterArbOptions, type FlowSeed, clusterArb, flowOfSeed, flowSeedArb } from '../../testing/arbitraries.js';
import { type ClusterInput, podKey } from '../cluster.js';
import { evaluateFlow, lookupSegment } from '../evaluate.js';
import { type CompiledCluster, compile, isPodIdentity } from '../resolve/compile.js';
import { findSegment, refKey } from '../resolve/segments.js';
import { identityOfIp } from '../resolve/universe.js';
import type { Direction, DirectionVerdict, Flow, FlowVerdict, Segment } from '../types.js';
import type { KnownResolverBug } from './known-bugs.js';
import { type OracleFlowVerdict, type OracleVerdict, oracleVerdict } from './oracle.js';

/** Clusters per property run; PODWALL_FUZZ_CLUSTERS raises it for a longer hunt (never below 200). */
const CLUSTERS = Math.max(200, Number(process.env.PODWALL_FUZZ_CLUSTERS ?? 0));
const FLOWS_PER_CLUSTER = 50;
const DIRECTIONS: Direction[] = ['egress', 'ingress'];

function key(v: OracleVerdict | FlowVerdict | DirectionVerdict | undefined): string {
  if (!v || v.verdict === 'not-applicable') return 'not-applicable';
  return v.verdict === 'denied-l3l4' ? `denied-l3l4 (${v.dropReason})` : v.verdict;
}

// ---- signatures of the open resolver bugs (known-bugs.ts) ----

/**
 * segments-overlap: the segment that decided sits on a more specific level (ip, identity, pods) and lacks a less
 * specific contribution that covers the same port — a less specific deny under an allow, or allow rules missing.
 * A resolver-internal inconsistency: with it the resolver's verdict for that direction cannot be trusted.
 */
function overlapBug(c: CompiledCluster, flow: Flow, dir: Direction): boolean {
  const u = c.universe;
  const subject = u.podByIp.get(dir === 'egress' ? flow.srcIp : flow.dstIp);
  if (!subject) return false;
  const state = c.endpoints.get(podKey(subject))![dir];
  const peerIp = dir === 'egress' ? flow.dstIp : flow.srcIp;
  const peerId = identityOfIp(u, peerIp);
  const { segment, level } = lookupSegment(state, peerIp, peerId, flow.protocol, flow.dport);
  if (!segment || segment.verdict !== 'allow') return false;
  const lower: (Segment[] | undefined)[] = [];
  if (level === 'ip') lower.push(state.byIdentity[peerId]);
  if (level === 'ip' || level === 'identity') lower.push(isPodIdentity(peerId) ? state.pods : undefined);
  if (level === 'ip' || level === 'identity' || level === 'pods') lower.push(state.wildcard);
  const have = new Set(segment.rules.map(refKey));
  return lower.some((segs) => {
    const s = findSegment(segs, flow.protocol, flow.dport);
    return !!s && (s.verdict === 'deny' || s.rules.some((r) => !have.has(refKey(r))));
  });
}

/**
 * egress-named-port-per-identity: the resolver's egress verdict is what the oracle says when the destination pod's
 * container ports are replaced by the union over its identity (the resolver's Identity.namedPorts).
 */
function namedPortBug(cluster: ClusterInput, c: CompiledCluster, flow: Flow, resolverEgress: string): boolean {
  const dst = c.universe.podByIp.get(flow.dstIp);
  if (!dst) return false;
  const union = c.universe.byId.get(c.universe.podIdentity.get(podKey(dst))!)!.namedPorts;
  const pods = cluster.pods.map((p) => (p.ip === dst.ip ? { ...p, ports: union } : p));
  return key(oracleVerdict({ ...cluster, pods }, flow).egress) === resolverEgress;
}

/** egress-l7-ranked-below-ingress-l3l4: both sides agree, the egress proxy denies, the resolver reports the ingress drop. */
function orderBug(o: OracleFlowVerdict, r: FlowVerdict): boolean {
  return o.egress?.verdict === 'denied-l7' && o.ingress?.verdict === 'denied-l3l4' && key(r) === key(o.ingress);
}

// ---- one flow ----

type Outcome = { ok: true; bugs: KnownResolverBug[] } | { ok: false; why: string };

function compareFlow(cluster: ClusterInput, compiled: CompiledCluster, flow: Flow): Outcome {
  const o = oracleVerdict(cluster, flow);
  const r = evaluateFlow(compiled, flow);
  const bugs: KnownResolverBug[] = [];
  for (const dir of DIRECTIONS) {
    const want = key(o[dir]);
    const got = key(r[dir]);
    if (want === got) continue;
    if (overlapBug(compiled, flow, dir)) bugs.push('segments-overlap');
    else if (dir === 'egress' && namedPortBug(cluster, compiled, flow, got)) bugs.push('egress-named-port-per-identity');
    else return { ok: false, why: `${dir}: resolver ${got}, oracle ${want}` };
  }
  // The flow verdict is a function of the two sides; compare it when the sides agree.
  if (bugs.length === 0 && key(o) !== key(r)) {
    if (!orderBug(o, r)) return { ok: false, why: `flow: resolver ${key(r)}, oracle ${key(o)} (sides agree)` };
    bugs.push('egress-l7-ranked-below-ingress-l3l4');
  }
  return { ok: true, bugs };
}

// ---- the property ----

interface RunStats {
  flows: number;
  agreed: number;
  knownBugs: Partial<Record<KnownResolverBug, number>>;
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
        const outcome = compareFlow(cluster, compiled, flow);
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
  const details = fc.check(property, { numRuns: CLUSTERS, ...(seed ? { seed: Number(seed) } : {}), ...(path ? { path } : {}) });
  if (details.failed) {
    // `failure` holds the last (most shrunk) failing case.
    const fixture = failure && {
      name: 'NAME',
      description: failure.why,
      semantics: '§…',
      cluster: failure.cluster,
      flow: failure.flow,
      expected: oracleVerdict(failure.cluster, failure.flow),
    };
    throw new Error(
      `${name}: resolver and oracle disagree — ${failure?.why ?? details.errorInstance}\n` +
        `replay: PODWALL_FUZZ_SEED=${details.seed} PODWALL_FUZZ_PATH="${details.counterexamplePath}"\n` +
        `fixture (testdata/fuzz/<name>.json, check 'expected' against the semantics doc): ${JSON.stringify(fixture)}`,
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
  it(`Kubernetes NetworkPolicy only (${CLUSTERS} clusters × ${FLOWS_PER_CLUSTER} flows)`, () => {
    const stats = runDifferential('NetworkPolicy only', { kinds: ['NetworkPolicy'] });
    expect(stats.flows).toBeGreaterThanOrEqual(CLUSTERS * FLOWS_PER_CLUSTER);
  });

  it(`mixed NP + CNP + CCNP with deny and L7 (${CLUSTERS} clusters × ${FLOWS_PER_CLUSTER} flows)`, () => {
    const stats = runDifferential('mixed NP + CNP + CCNP', {});
    expect(stats.flows).toBeGreaterThanOrEqual(CLUSTERS * FLOWS_PER_CLUSTER);
  });
});
