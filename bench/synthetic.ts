/**
 * Realistic synthetic clusters for benchmarks: namespaces per team, deployments with app/tier labels,
 * and a mix of policies like real clusters carry (mostly NetworkPolicy, some Cilium with L7, a few CCNPs and denies).
 * A seeded PRNG makes every run generate the same cluster.
 */
import type { AnyPolicy } from '../src/api/types.js';
import type { ClusterInput, PodInput } from '../src/policy/cluster.js';

export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TIERS = ['frontend', 'backend', 'db', 'cache', 'worker'];
const PORTS = [80, 443, 8080, 5432, 6379, 9090];

export interface SyntheticOptions {
  pods: number;
  policies: number;
  seed?: number;
}

export function syntheticCluster(o: SyntheticOptions): ClusterInput {
  const rnd = prng(o.seed ?? 42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const nsCount = Math.max(2, Math.round(o.pods / 100));
  const namespaces = Array.from({ length: nsCount }, (_, i) => ({
    name: `team-${i}`,
    labels: { team: `t${i % 20}`, env: i % 3 === 0 ? 'prod' : 'dev' },
  }));
  const pods: PodInput[] = [];
  const apps: { ns: string; app: string; tier: string }[] = [];
  let ipN = 10;
  while (pods.length < o.pods) {
    const ns = pick(namespaces).name;
    const app = `app-${apps.length}`;
    const tier = pick(TIERS);
    apps.push({ ns, app, tier });
    const replicas = 1 + Math.floor(rnd() * 8);
    const port = pick(PORTS);
    for (let r = 0; r < replicas && pods.length < o.pods; r++) {
      const n = ipN++;
      pods.push({
        namespace: ns,
        name: `${app}-${r}`,
        labels: { app, tier, version: `v${1 + (r % 2)}`, 'pod-template-hash': 'h' },
        ip: `10.${244 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`,
        ports: [{ name: 'http', port, protocol: 'TCP' }],
      });
    }
  }
  const policies: AnyPolicy[] = [];
  for (let i = 0; i < o.policies; i++) {
    const target = pick(apps);
    const peer = pick(apps);
    const r = rnd();
    const port = pick(PORTS);
    if (r < 0.6) {
      policies.push({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: `np-${i}`, namespace: target.ns },
        spec: {
          podSelector: { matchLabels: { app: target.app } },
          policyTypes: rnd() < 0.3 ? ['Ingress', 'Egress'] : ['Ingress'],
          ingress: [
            {
              from:
                rnd() < 0.5
                  ? [{ podSelector: { matchLabels: { tier: peer.tier } } }]
                  : [
                      {
                        namespaceSelector: { matchLabels: { team: `t${Math.floor(rnd() * 20)}` } },
                        podSelector: { matchLabels: { tier: peer.tier } },
                      },
                    ],
              ports: [{ port, protocol: 'TCP' }, ...(rnd() < 0.3 ? [{ port: 'http' }] : [])],
            },
          ],
          egress: [
            { to: [{ podSelector: { matchLabels: { tier: pick(TIERS) } } }], ports: [{ port: pick(PORTS) }] },
            { ports: [{ port: 53, protocol: 'UDP' }] },
          ],
        },
      } as AnyPolicy);
    } else if (r < 0.9) {
      const l7 = rnd() < 0.4;
      policies.push({
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: `cnp-${i}`, namespace: target.ns },
        spec: {
          endpointSelector: { matchLabels: { app: target.app } },
          ingress: [
            {
              fromEndpoints: [
                { matchLabels: { tier: peer.tier } },
                { matchLabels: { 'k8s:io.kubernetes.pod.namespace': peer.ns, app: peer.app } },
              ],
              toPorts: [
                {
                  ports: [{ port: String(port), protocol: 'TCP' }],
                  ...(l7
                    ? {
                        rules: {
                          http: [
                            { method: 'GET', path: '/api/.*' },
                            { method: 'POST', path: '/submit' },
                          ],
                        },
                      }
                    : {}),
                },
              ],
            },
          ],
        },
      } as AnyPolicy);
    } else if (r < 0.95) {
      policies.push({
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumClusterwideNetworkPolicy',
        metadata: { name: `ccnp-${i}` },
        spec: {
          endpointSelector: { matchLabels: { tier: target.tier } },
          ingress: [{ fromEntities: ['cluster'], toPorts: [{ ports: [{ port: '9090', protocol: 'TCP' }] }] }],
        },
      } as AnyPolicy);
    } else {
      policies.push({
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: `deny-${i}`, namespace: target.ns },
        spec: {
          endpointSelector: {},
          enableDefaultDeny: { ingress: false },
          ingressDeny: [
            {
              fromEndpoints: [{ matchLabels: { tier: peer.tier, app: peer.app } }],
              toPorts: [{ ports: [{ port: '1', endPort: 1024, protocol: 'TCP' }] }],
            },
          ],
        },
      } as AnyPolicy);
    }
  }
  return { namespaces, pods, services: [], policies, hostIps: ['10.244.0.1'] };
}
