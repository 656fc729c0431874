/**
 * Open resolver bugs found by the differential test (test-only). The process when the oracle and the resolver
 * disagree and the semantics doc says the resolver is wrong (src/policy/resolve and evaluate.ts belong to another
 * owner, so they are not patched from here):
 *   1. save the minimal reproduction as testdata/fuzz/<fixture>.json with `"knownBug": "<id>"` — fixtures.test.ts
 *      runs its resolver check as `it.fails`, so the suite stays green and the bug stays visible;
 *   2. add an entry below whose `explains` recognises exactly that disagreement — differential.test.ts still compares
 *      every random flow, counts the ones this bug explains and prints the count after each run;
 *   3. when the fix lands, the fixture's `it.fails` turns red: drop `knownBug` from the fixture and the entry here.
 * Three earlier finds (testdata/fuzz/resolver-{overlap,egress-*}.json) were fixed in 13bcd2d and are plain
 * regression fixtures now.
 */
import type { ClusterInput } from '../cluster.js';
import type { CompiledCluster } from '../resolve/compile.js';
import type { Direction, Flow, FlowVerdict } from '../types.js';
import { type OracleFlowVerdict, type OracleVerdict, oracleVerdict } from './oracle.js';

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

function same(a: OracleVerdict | undefined, b: { verdict: string; dropReason?: string }): boolean {
  const va = a ?? { verdict: 'not-applicable' };
  return va.verdict === b.verdict && (va.verdict !== 'denied-l3l4' || va.dropReason === b.dropReason);
}

export const KNOWN_RESOLVER_BUGS: Record<string, KnownResolverBug> = {
  'ingress-named-port-non-pod-peers': {
    fixture: 'resolver-ingress-named-port-lost-for-non-pod-peers',
    description:
      'resolve/compile.ts computeDirection: for a peer that matches every pod (PeerMatch.allPods) the rule goes to the ' +
      'pods level and the remaining non-pod identities get ruleContribs(rule, undefined); on ingress that resolves ' +
      "named ports against nothing instead of the subject's own container ports (§1.3), so world (or any non-pod " +
      'peer such a selector matches, e.g. a CCNP `io.kubernetes.pod.namespace NotIn [...]`) loses the named-port allow.',
    // Exactly the bug's effect for a non-pod source: the destination's named ports resolve to nothing.
    explains: (d) => {
      if (d.where !== 'ingress' || d.compiled.universe.podByIp.has(d.flow.srcIp)) return false;
      const pods = d.cluster.pods.map((p) => (p.ip === d.flow.dstIp ? { ...p, ports: [] } : p));
      return same(oracleVerdict({ ...d.cluster, pods }, d.flow).ingress, d.resolver.ingress);
    },
  },
};
