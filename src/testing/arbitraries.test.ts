/** The arbitraries generate what they promise: valid policies, unique pod IPs, flows that stay inside the cluster. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { translatePolicy } from '../policy/translate/index.js';
import { hasErrors, validateObject } from '../validation/index.js';
import { clusterArb, flowOfSeed, flowSeedArb, HOST_IP } from './arbitraries.js';

describe('testing/arbitraries', () => {
  it('generates only policies that validation accepts and translation takes without warnings', () => {
    fc.assert(
      fc.property(clusterArb(), (cluster) => {
        for (const p of cluster.policies) {
          expect(validateObject(p).filter((e) => e.severity !== 'warning')).toEqual([]);
          expect(translatePolicy(p).warnings).toEqual([]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the validator used above does reject an invalid policy (L7 on protocol ANY)', () => {
    const bad = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'bad', namespace: 'default' },
      spec: {
        endpointSelector: {},
        ingress: [{ toPorts: [{ ports: [{ port: '80' }], rules: { http: [{ method: 'GET' }] } }] }],
      },
    };
    expect(hasErrors(validateObject(bad))).toBe(true);
  });

  it('gives pods unique IPs outside the node address, and flows that never pair a pod with itself', () => {
    fc.assert(
      fc.property(clusterArb(), fc.array(flowSeedArb, { minLength: 20, maxLength: 20 }), (cluster, seeds) => {
        const ips = cluster.pods.map((p) => p.ip).filter((ip) => ip !== '');
        expect(new Set(ips).size).toBe(ips.length);
        expect(ips.length).toBeGreaterThanOrEqual(2);
        expect(ips).not.toContain(HOST_IP);
        for (const seed of seeds) {
          const f = flowOfSeed(cluster, seed);
          expect(f.srcIp).not.toBe(f.dstIp);
          if (f.http) expect(f.protocol).toBe('TCP');
          if (f.dns) expect(f.dport).toBe(53);
        }
      }),
      { numRuns: 100 },
    );
  });
});
