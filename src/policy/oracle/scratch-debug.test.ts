import { readFileSync, readdirSync } from 'node:fs';
import { it } from 'vitest';
import { evaluateFlow } from '../evaluate.js';
import { compile } from '../resolve/compile.js';
import { oracleVerdict } from './oracle.js';
it('show', () => {
  const dir = process.env.FUZZ_DIR ?? '/work/main/testdata/fuzz/';
  for (const f of readdirSync(dir)) {
    const x = JSON.parse(readFileSync(dir + f, 'utf8'));
    const r = evaluateFlow(compile(x.cluster), x.flow);
    console.log(f, 'resolver:', r.verdict, r.dropReason ?? '', '| egress', r.egress.verdict, r.egress.matchedBy ?? '', '| ingress', r.ingress.verdict, r.ingress.matchedBy ?? '', '| oracle', JSON.stringify(oracleVerdict(x.cluster, x.flow)));
  }
});
