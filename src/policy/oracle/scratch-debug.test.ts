import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { evaluateFlow } from '../evaluate.js';
import { compile } from '../resolve/compile.js';
import { oracleVerdict } from './oracle.js';
it('show', () => {
  const x = JSON.parse(readFileSync('/work/main/testdata/fuzz/resolver-ingress-named-port-lost-for-non-pod-peers.json', 'utf8'));
  for (const dport of [80, 81]) {
    const f = { ...x.flow, dport };
    const r = evaluateFlow(compile(x.cluster), f);
    console.log(dport, 'resolver', r.verdict, r.dropReason, r.ingress.matchedBy, '| oracle', JSON.stringify(oracleVerdict(x.cluster, f)));
  }
  const f2 = { ...x.flow, srcIp: '10.244.1.2' };
  const r2 = evaluateFlow(compile(x.cluster), f2);
  console.log('pod src: resolver', r2.verdict, r2.ingress.matchedBy, '| oracle', JSON.stringify(oracleVerdict(x.cluster, f2)));
});
