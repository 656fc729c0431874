/**
 * The proxy's L7 policy for a redirected connection agrees with evaluateFlow: for every pod pair of the seed
 * walkthrough (and a case with both egress and ingress HTTP rules), a request the proxy would admit under
 * `l7PolicyFor` is exactly a request evaluateFlow allows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeManifests } from '../../api/decode.js';
import type { KubeObject } from '../../api/types.js';
import { SEED } from '../../apiserver/e2e/harness.js';
import { evaluateFlow } from '../../policy/evaluate.js';
import { matchHttp } from '../../policy/l7/http.js';
import { clusterFromObjects } from '../../policy/manifests.js';
import { compile } from '../../policy/resolve/compile.js';
import type { HttpRule } from '../../policy/types.js';
import { intersectRules, l7PolicyFor } from './l7-source.js';

function objects(...files: string[]): KubeObject[] {
  return files.flatMap((f) => decodeManifests(readFileSync(join(SEED, f), 'utf8'), f).objects.map((d) => d.object));
}

const REQUESTS = [
  { method: 'POST', path: '/v1/request-landing' },
  { method: 'PUT', path: '/v1/exhaust-port' },
  { method: 'GET', path: '/v1' },
  { method: 'GET', path: '/public/x' },
];

function proxyAdmits(policy: ReturnType<typeof l7PolicyFor>, req: { method: string; path: string }): boolean {
  if (!policy) return false;
  if (policy.wildcard) return true;
  return matchHttp(policy.http, { method: req.method, path: req.path, host: 'x', headers: {} }).allowed;
}

function checkAgreement(objs: KubeObject[]): number {
  const { cluster } = clusterFromObjects(objs);
  const c = compile(cluster);
  let checked = 0;
  for (const src of cluster.pods)
    for (const dst of cluster.pods) {
      if (src === dst) continue;
      const v0 = evaluateFlow(c, { srcIp: src.ip, dstIp: dst.ip, protocol: 'TCP', dport: 80 });
      if (v0.verdict === 'denied-l3l4') {
        expect(l7PolicyFor(c, src.ip, dst.ip, 80)).toBeUndefined();
        continue;
      }
      const pol = l7PolicyFor(c, src.ip, dst.ip, 80);
      for (const r of REQUESTS) {
        const v = evaluateFlow(c, {
          srcIp: src.ip,
          dstIp: dst.ip,
          protocol: 'TCP',
          dport: 80,
          http: { ...r, host: 'x' },
        });
        expect(proxyAdmits(pol, r), `${src.name} -> ${dst.name} ${r.method} ${r.path}`).toBe(v.verdict === 'allowed');
        checked++;
      }
    }
  return checked;
}

describe('l7PolicyFor', () => {
  it('matches evaluateFlow on the walkthrough (no policy, L4 policy, L7 policy)', () => {
    expect(checkAgreement(objects('app.yaml'))).toBeGreaterThan(0);
    expect(checkAgreement(objects('app.yaml', 'cilium/networkpolicy-L4.yaml'))).toBeGreaterThan(0);
    expect(checkAgreement(objects('app.yaml', 'cilium/networkpolicy-L7.yaml'))).toBeGreaterThan(0);
    const { cluster } = clusterFromObjects(objects('app.yaml', 'cilium/networkpolicy-L7.yaml'));
    const c = compile(cluster);
    const tie = cluster.pods.find((p) => p.name === 'tiefighter')!;
    const ds = cluster.pods.find((p) => p.name.startsWith('deathstar-'))!;
    const pol = l7PolicyFor(c, tie.ip, ds.ip, 80)!;
    expect(pol.wildcard).toBe(false);
    expect(pol.http.map((h) => [h.method, h.path])).toEqual([['POST', '/v1/request-landing']]);
  });

  it('both egress and ingress HTTP rules: a request must pass both', () => {
    const egress: KubeObject = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'ships-out', namespace: 'default' },
      spec: {
        endpointSelector: { matchLabels: { class: 'tiefighter' } },
        egress: [
          {
            toEndpoints: [{ matchLabels: { class: 'deathstar' } }],
            toPorts: [
              {
                ports: [{ port: '80', protocol: 'TCP' }],
                rules: { http: [{ method: 'POST|PUT' }, { method: 'GET', path: '/v1' }] },
              },
            ],
          },
        ],
      },
    };
    const n = checkAgreement([...objects('app.yaml', 'cilium/networkpolicy-L7.yaml'), egress]);
    expect(n).toBeGreaterThan(0);
  });

  it('intersects rules exactly where one side is a literal, and fails closed otherwise', () => {
    const ref = { kind: 'CiliumNetworkPolicy' as const, name: 'x', namespace: 'default', path: 'spec' };
    const r = (h: Partial<HttpRule>): HttpRule => ({ ref, httpPath: 'spec.http[0]', ...h });
    expect(intersectRules(r({ method: 'GET|POST' }), r({ method: 'POST', path: '/a' }))).toMatchObject({
      method: 'POST',
      path: '/a',
    });
    expect(intersectRules(r({ method: 'GET' }), r({ method: 'POST' }))).toBeUndefined();
    expect(intersectRules(r({ path: '/a/.*' }), r({ path: '/a/b' }))).toMatchObject({ path: '/a/b' });
    expect(intersectRules(r({ path: '/a/.*' }), r({ path: '.*/b' }))).toBeUndefined();
    expect(
      intersectRules(r({ headers: [{ name: 'X' }] }), r({ headers: [{ name: 'Y', value: '1' }] }))?.headers,
    ).toEqual([{ name: 'X' }, { name: 'Y', value: '1' }]);
  });
});
