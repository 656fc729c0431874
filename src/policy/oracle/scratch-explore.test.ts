import fc from 'fast-check';
import { it } from 'vitest';
import { podIdentityLabels } from '../../identity/endpoint-labels.js';
import { selectorMatches } from '../../labels/index.js';
import { HOST_IP, clusterArb, flowOfSeed, flowSeedArb } from '../../testing/arbitraries.js';
import type { ClusterInput } from '../cluster.js';
import { evaluateFlow } from '../evaluate.js';
import { compile } from '../resolve/compile.js';
import { translatePolicy } from '../translate/index.js';
import type { Flow } from '../types.js';
import { oracleVerdict } from './oracle.js';
import { findSegment } from '../resolve/segments.js';
import { lookupSegment } from '../evaluate.js';
import { identityOfIp } from '../resolve/universe.js';
import type { CompiledCluster } from '../resolve/compile.js';
function wbug(comp: CompiledCluster, f: Flow): boolean {
  const u = comp.universe;
  const check = (podIp: string, dir: 'ingress' | 'egress', peerIp: string) => {
    const pod = u.podByIp.get(podIp);
    if (!pod) return false;
    const st = comp.endpoints.get(`${pod.namespace}/${pod.name}`)![dir];
    const l = lookupSegment(st, peerIp, identityOfIp(u, peerIp), f.protocol, f.dport);
    if (!st.enforced || !l.segment || l.segment.verdict === 'deny') return false;
    const lower = [st.pods, st.wildcard].map((x) => findSegment(x, f.protocol, f.dport));
    return lower.some((x) => x?.verdict === 'deny');
  };
  return check(f.srcIp, 'egress', f.dstIp) || check(f.dstIp, 'ingress', f.srcIp);
}

const s = (v: { verdict: string; dropReason?: string }) => (v.verdict === 'denied-l3l4' ? `${v.verdict}(${v.dropReason})` : v.verdict);
function labelsOf(c: ClusterInput, ip: string) {
  const p = c.pods.find((x) => x.ip === ip);
  if (!p) return undefined;
  return podIdentityLabels({ namespace: p.namespace, labels: p.labels, namespaceLabels: c.namespaces.find((n) => n.name === p.namespace)?.labels ?? {} });
}
function classify(c: ClusterInput, f: Flow, r: string, o: string, comp: CompiledCluster): string {
  const tr = c.policies.map(translatePolicy).flatMap((t) => t.rules);
  const src = labelsOf(c, f.srcIp);
  const dst = labelsOf(c, f.dstIp);
  const tags: string[] = [];
  if (src) {
    const eg = tr.filter((x) => x.direction === 'egress' && selectorMatches(x.subject, src));
    const anyNamed = eg.some((x) => x.peers === 'any' && x.ports !== 'all' && x.ports.some((p) => typeof p.port === 'string'));
    if (!dst && anyNamed) tags.push('B1-any-named-nonpod');
    if (dst) {
      const named = eg.some((x) => x.ports !== 'all' && x.ports.some((p) => typeof p.port === 'string'));
      const dpod = c.pods.find((p) => p.ip === f.dstIp)!;
      const twins = c.pods.filter((p) => p !== dpod && labelsOf(c, p.ip)!.canonical === dst.canonical && JSON.stringify(p.ports) !== JSON.stringify(dpod.ports));
      if (named && twins.length) tags.push('B2-named-twin');
    }
  }
  if (wbug(comp, f)) tags.push('W-overlap');
  if (f.srcIp === HOST_IP || f.dstIp === HOST_IP) tags.push('host');
  if (o === 'denied-l7' && r.startsWith('denied-l3l4')) tags.push('B3-order');
  return tags.join('+') || 'UNCLASSIFIED';
}
it('explore', () => {
  const kinds = (process.env.KINDS ?? 'NetworkPolicy,CiliumNetworkPolicy,CiliumClusterwideNetworkPolicy').split(',') as never;
  const clusters = fc.sample(clusterArb({ kinds }), { numRuns: Number(process.env.N ?? 300), seed: Number(process.env.SEED ?? 42) });
  const seeds = fc.sample(flowSeedArb, { numRuns: 50, seed: 7 });
  const cats = new Map<string, number>();
  let shown = 0;
  let total = 0;
  const dist = new Map<string, number>();
  for (const c of clusters) {
    const comp = compile(c);
    for (const sd of seeds) {
      const f = flowOfSeed(c, sd);
      total++;
      const o = s(oracleVerdict(c, f));
      const r = s(evaluateFlow(comp, f));
      const ck = `${sd.shape} ${f.protocol}${f.http ? '+http' : f.dns ? '+dns' : ''} ${o}`; dist.set(ck, (dist.get(ck) ?? 0) + 1);
      if (o === r) continue;
      const cls = classify(c, f, r, o, comp);
      const key = `${cls} | ${sd.shape} resolver=${r} oracle=${o}`;
      cats.set(key, (cats.get(key) ?? 0) + 1);
      if (shown < Number(process.env.SHOW ?? 3) && (!process.env.ONLY || key.includes(process.env.ONLY))) {
        shown++;
        console.log(key, JSON.stringify(f), '\n', JSON.stringify({ pods: c.pods, ns: c.namespaces, policies: c.policies, dns: c.dnsCache }));
      }
    }
  }
  console.log([...dist.entries()].sort().map((e) => `${e[1]}\t${e[0]}`).join('\n'));
  console.log(total, [...cats.entries()].sort((a, b) => b[1] - a[1]).map((e) => `${e[1]}\t${e[0]}`).join('\n'));
});
