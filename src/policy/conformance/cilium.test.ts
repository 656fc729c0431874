import { describe, expect, it } from 'vitest';
import { loadSharedYaml } from '../../testing/shared.js';
import { type CiliumSuite, runCiliumSuite } from './cilium.js';

const suite = loadSharedYaml<CiliumSuite>('conformance/cilium/cases.yaml');

describe('shared Cilium semantic cases (flows)', () => {
  it.each((suite.cases ?? []).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = runCiliumSuite({ cases: [c] }, 'cilium', () => []);
    expect(r.failures).toEqual([]);
    expect(r.checks.total).toBeGreaterThan(0);
  });
});
