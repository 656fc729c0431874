/**
 * Open resolver bugs found by the differential test (test-only). The process when the oracle and the resolver
 * disagree and the semantics doc says the resolver is wrong (src/policy/resolve and evaluate.ts belong to another
 * owner, so they are not patched from here):
 *   1. save the minimal reproduction as testdata/fuzz/<fixture>.json with `"knownBug": "<id>"` — fixtures.test.ts
 *      runs its resolver check as `it.fails`, so the suite stays green and the bug stays visible;
 *   2. add an entry below whose `explains` recognises exactly that disagreement — differential.test.ts still compares
 *      every random flow, counts the ones this bug explains and prints the count after each run;
 *   3. when the fix lands, the fixture's `it.fails` turns red: drop `knownBug` from the fixture and the entry here.
 * Every earlier find (testdata/fuzz/resolver-*.json) is fixed and is a plain regression fixture now.
 */
import type { ClusterInput } from '../cluster.js';
import type { CompiledCluster } from '../resolve/compile.js';
import type { Direction, Flow, FlowVerdict } from '../types.js';
import type { OracleFlowVerdict, OracleVerdict } from './oracle.js';

/** One disagreement between the compiled map state and the oracle. */
export interface Disagreement {
  cluster: ClusterInput;
  compiled: CompiledCluster;
  flow: Flow;
  oracle: OracleFlowVerdict;
  resolver: FlowVerdict;
  /** The side whose verdicts differ, or `flow` when both sides agree but the combined verdicts differ. */
  where: Direction | 'flow';
}

export interface KnownResolverBug {
  /** Name of the testdata/fuzz fixture that reproduces it (its `knownBug` is this entry's id). */
  fixture: string;
  /** What is wrong and where, and which rule of the semantics doc it breaks. */
  description: string;
  /** True only for disagreements this bug precisely accounts for (never a catch-all). */
  explains(d: Disagreement): boolean;
}

/** For bug signatures: does one side's oracle verdict equal the resolver's? */
export function sameVerdict(a: OracleVerdict | undefined, b: { verdict: string; dropReason?: string }): boolean {
  const va = a ?? { verdict: 'not-applicable' };
  return va.verdict === b.verdict && (va.verdict !== 'denied-l3l4' || va.dropReason === b.dropReason);
}

export const KNOWN_RESOLVER_BUGS: Record<string, KnownResolverBug> = {};
