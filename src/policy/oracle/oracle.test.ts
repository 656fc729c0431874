/**
 * The oracle against ground truth that does not come from the resolver: the shared Cilium semantic cases
 * (shared/conformance/cilium/cases.yaml, expectations taken from upstream tests and docs).
 */
import { describe, expect, it } from 'vitest';
import { loadSharedYaml } from '../../testing/shared.js';
import { type CiliumSuite, clusterOfCase, flowOfCase } from '../conformance/cilium.js';
import { dnsNameMatches, ipInCidr, oracleVerdict } from './oracle.js';

const suite = loadSharedYaml<CiliumSuite>('conformance/cilium/cases.yaml');

describe('oracle on the shared Cilium semantic cases', () => {
  it.each((suite.cases ?? []).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const cluster = clusterOfCase(c);
    const got = (c.expect ?? []).map((f) => {
      const flow = flowOfCase(c, f);
      if (typeof flow === 'string') throw new Error(flow);
      const v = oracleVerdict(cluster, flow);
      return {
        flow: `${f.from} -> ${f.to} ${f.protocol}/${f.port ?? f.icmp_type ?? ''}`,
        verdict: v.verdict,
        dropReason: f.drop_reason ? v.dropReason : undefined,
      };
    });
    const want = (c.expect ?? []).map((f, i) => ({
      flow: got[i]!.flow,
      verdict: f.verdict,
      dropReason: f.drop_reason,
    }));
    expect(got).toEqual(want);
  });
});

describe('oracle helpers', () => {
  it.each([
    ['10.244.1.5', '10.244.0.0/16', true],
    ['10.245.1.5', '10.244.0.0/16', false],
    ['8.8.8.8', '0.0.0.0/0', true],
    ['8.8.8.8', '8.8.8.8', true],
    ['8.8.8.9', '8.8.8.8/32', false],
    ['203.0.113.200', '203.0.113.128/25', true],
    ['203.0.113.5', '203.0.113.128/25', false],
    ['10.0.0.1', 'fd00::/8', false],
  ] as const)('%s in %s = %s', (ip, cidr, want) => {
    expect(ipInCidr(ip, cidr)).toBe(want);
  });

  it.each([
    [{ matchName: 'cilium.io' }, 'Cilium.IO.', true],
    [{ matchName: 'cilium.io' }, 'sub.cilium.io', false],
    [{ matchPattern: '*' }, 'anything.example.com', true],
    [{ matchPattern: '*.cilium.io' }, 'sub.cilium.io', true],
    [{ matchPattern: '*.cilium.io' }, 'cilium.io', false],
    [{ matchPattern: '*.cilium.io' }, 'a.b.cilium.io', false],
    [{ matchPattern: '**.cilium.io' }, 'a.b.cilium.io', true],
    [{ matchPattern: '**.cilium.io' }, 'cilium.io', false],
    [{ matchPattern: 'api*.example.com' }, 'api-v2.example.com', true],
  ] as const)('%o matches %s = %s', (sel, name, want) => {
    expect(dnsNameMatches(sel, name)).toBe(want);
  });
});
