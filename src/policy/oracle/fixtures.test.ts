/**
 * Replays every kept fuzz case in testdata/fuzz/*.json (cluster + flow + expected verdict) through the oracle and the
 * resolver. Fixtures that reproduce an OPEN resolver bug carry `knownBug`; their resolver check is `it.fails` (the
 * suite stays green, the bug stays visible, and the test turns red as soon as the fix lands).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ClusterInput } from '../cluster.js';
import { evaluateFlow } from '../evaluate.js';
import { compile } from '../resolve/compile.js';
import type { DropReason, Flow } from '../types.js';
import { KNOWN_RESOLVER_BUGS } from './known-bugs.js';
import { oracleVerdict } from './oracle.js';

interface FuzzFixture {
  name: string;
  description: string;
  /** The paragraphs of the semantics doc / K8s README that decide the expected verdict. */
  semantics: string;
  /** Set while the resolver still gets this case wrong: an id of KNOWN_RESOLVER_BUGS. */
  knownBug?: string;
  found?: string;
  cluster: ClusterInput;
  flow: Flow;
  expected: { verdict: 'allowed' | 'denied-l3l4' | 'denied-l7'; dropReason?: DropReason };
}

const DIR = fileURLToPath(new URL('../../../testdata/fuzz/', import.meta.url));
const fixtures: FuzzFixture[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => {
    const f = JSON.parse(readFileSync(DIR + file, 'utf8')) as FuzzFixture;
    if (`${f.name}.json` !== file)
      throw new Error(`testdata/fuzz/${file}: name must be "${file.replace(/\.json$/, '')}"`);
    return f;
  });

function summary(v: { verdict: string; dropReason?: string }) {
  return v.verdict === 'denied-l3l4' ? { verdict: v.verdict, dropReason: v.dropReason } : { verdict: v.verdict };
}

describe('kept fuzz cases (testdata/fuzz)', () => {
  it('has fixtures, and known bugs and their fixtures point at each other', () => {
    expect(fixtures.length).toBeGreaterThan(0);
    for (const [id, bug] of Object.entries(KNOWN_RESOLVER_BUGS)) {
      expect(fixtures.find((f) => f.name === bug.fixture)?.knownBug).toBe(id);
    }
    for (const f of fixtures) if (f.knownBug) expect(Object.keys(KNOWN_RESOLVER_BUGS)).toContain(f.knownBug);
  });

  describe.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    it('oracle', () => {
      expect(summary(oracleVerdict(f.cluster, f.flow))).toEqual(summary(f.expected));
    });

    // Open resolver bugs (see known-bugs.ts; the fixture's `knownBug` names it): expected to fail until fixed.
    const resolverIt = f.knownBug ? it.fails : it;
    resolverIt(f.knownBug ? `resolver (open bug: ${f.knownBug})` : 'resolver', () => {
      expect(summary(evaluateFlow(compile(f.cluster), f.flow))).toEqual(summary(f.expected));
    });

    // The signature differential.test.ts uses to attribute random flows to the bug must recognise its own fixture.
    if (f.knownBug) {
      const bug = f.knownBug;
      it(`the signature of ${bug} explains this case`, () => {
        const compiled = compile(f.cluster);
        const oracle = oracleVerdict(f.cluster, f.flow);
        const resolver = evaluateFlow(compiled, f.flow);
        const differs = (dir: 'egress' | 'ingress') =>
          JSON.stringify(summary(oracle[dir] ?? { verdict: 'not-applicable' })) !==
          JSON.stringify(summary(resolver[dir]));
        const where = differs('egress') ? 'egress' : differs('ingress') ? 'ingress' : 'flow';
        const d = { cluster: f.cluster, compiled, flow: f.flow, oracle, resolver, where } as const;
        expect(KNOWN_RESOLVER_BUGS[bug]?.explains(d)).toBe(true);
      });
    }
  });
});
