/**
 * Replays every kept fuzz case in testdata/fuzz/*.json (cluster + flow + expected verdict) through the oracle and the
 * resolver. Fixtures that reproduce an OPEN resolver bug carry `knownBug`; their resolver check is `it.fails` (the
 * suite stays green, the bug stays visible, and the test turns red as soon as the fix lands).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ClusterInput } from '../cluster.js';
import { evaluateFlow } from '../evaluate.js';
import { compile } from '../resolve/compile.js';
import type { DropReason, Flow } from '../types.js';
import { KNOWN_RESOLVER_BUGS, type KnownResolverBug } from './known-bugs.js';
import { oracleVerdict } from './oracle.js';

export interface FuzzFixture {
  name: string;
  description: string;
  /** The paragraphs of the semantics doc / K8s README that decide the expected verdict. */
  semantics: string;
  /** Set while the resolver still gets this case wrong. */
  knownBug?: KnownResolverBug;
  found?: string;
  cluster: ClusterInput;
  flow: Flow;
  expected: { verdict: 'allowed' | 'denied-l3l4' | 'denied-l7'; dropReason?: DropReason };
}

const DIR = fileURLToPath(new URL('../../../testdata/fuzz/', import.meta.url));
const fixtures: FuzzFixture[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(DIR + f, 'utf8')) as FuzzFixture);

function summary(v: { verdict: string; dropReason?: string }) {
  return v.verdict === 'denied-l3l4' ? { verdict: v.verdict, dropReason: v.dropReason } : { verdict: v.verdict };
}

describe('kept fuzz cases (testdata/fuzz)', () => {
  it('has fixtures, each named after its file and every known bug has its fixture', () => {
    expect(fixtures.length).toBeGreaterThan(0);
    for (const bug of Object.keys(KNOWN_RESOLVER_BUGS) as KnownResolverBug[]) {
      expect(fixtures.find((f) => f.name === KNOWN_RESOLVER_BUGS[bug])?.knownBug).toBe(bug);
    }
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
  });
});
