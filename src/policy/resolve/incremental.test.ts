import { describe, expect, it } from 'vitest';
import { prng, syntheticCluster } from '../../../bench/synthetic.js';
import type { AnyPolicy } from '../../api/types.js';
import type { ClusterInput } from '../cluster.js';
import { compile, reusedStates } from './compile.js';

function endpointsJson(c: ReturnType<typeof compile>): string {
  return JSON.stringify([...c.endpoints]);
}

type Mutation = (c: ClusterInput, rnd: () => number) => string;

const MUTATIONS: Mutation[] = [
  (c, rnd) => {
    const p = c.pods[Math.floor(rnd() * c.pods.length)]!;
    p.labels = { ...p.labels, tier: rnd() < 0.5 ? 'db' : 'frontend' };
    return `relabel ${p.name}`;
  },
  (c, rnd) => {
    const p = c.pods.splice(Math.floor(rnd() * c.pods.length), 1)[0]!;
    return `remove pod ${p.name}`;
  },
  (c, rnd) => {
    const base = c.pods[Math.floor(rnd() * c.pods.length)]!;
    c.pods.push({
      ...base,
      name: `${base.name}-x${c.pods.length}`,
      ip: `10.250.${c.pods.length >> 8}.${c.pods.length & 255}`,
    });
    return `add pod like ${base.name}`;
  },
  (c, rnd) => {
    const p = c.policies.splice(Math.floor(rnd() * c.policies.length), 1)[0]!;
    return `remove policy ${p.metadata.name}`;
  },
  (c, rnd) => {
    const i = Math.floor(rnd() * c.policies.length);
    const p = JSON.parse(JSON.stringify(c.policies[i])) as AnyPolicy;
    p.metadata.annotations = { touched: String(rnd()) };
    c.policies[i] = p;
    return `modify policy ${p.metadata.name}`;
  },
  (c, rnd) => {
    const ns = c.namespaces[Math.floor(rnd() * c.namespaces.length)]!;
    ns.labels = { ...ns.labels, team: `t${Math.floor(rnd() * 20)}` };
    return `relabel namespace ${ns.name}`;
  },
];

describe('incremental compile (previous)', () => {
  it.each([1, 2, 3, 4])('equals a full compile after random changes (seed %i)', (seed) => {
    const rnd = prng(seed);
    const cluster = syntheticCluster({ pods: 150, policies: 120, seed });
    let prev = compile(cluster);
    let reused = 0;
    for (let step = 0; step < 25; step++) {
      const what = MUTATIONS[Math.floor(rnd() * MUTATIONS.length)]!(cluster, rnd);
      const inc = compile(cluster, { previous: prev });
      const full = compile(cluster, { allocator: prev.allocator });
      expect(endpointsJson(inc), `step ${step}: ${what}`).toBe(endpointsJson(full));
      reused += reusedStates(inc);
      prev = inc;
    }
    expect(reused).toBeGreaterThan(0);
  });
});
