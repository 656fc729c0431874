import { describe, expect, it } from 'vitest';
import { loadSharedYaml } from '../../testing/shared.js';
import { formatFieldError } from '../../util/field.js';
import { validateObject } from '../../validation/index.js';
import { type CiliumSuite, runCiliumSuite } from './cilium.js';

const validate = (o: Parameters<typeof validateObject>[0]) =>
  validateObject(o)
    .filter((e) => (e.severity ?? 'error') === 'error')
    .map(formatFieldError);

const suite = loadSharedYaml<CiliumSuite>('conformance/cilium/cases.yaml');

describe('shared Cilium semantic cases (flows)', () => {
  it.each((suite.cases ?? []).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = runCiliumSuite({ cases: [c] }, 'cilium', validate);
    expect(r.failures).toEqual([]);
    expect(r.checks.total).toBeGreaterThan(0);
  });
});

describe("shared Cilium semantic cases (invalid policies are rejected with Cilium's text)", () => {
  it.each((suite.invalid ?? []).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = runCiliumSuite({ invalid: [c] }, 'cilium', validate);
    expect(r.failures).toEqual([]);
    expect(r.checks.passed).toBe(1);
  });
});
