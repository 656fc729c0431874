/**
 * Policy engine benchmarks (P6, P7): compile, matrix, single-flow trace, incremental recompute.
 * Run: npm run build && node --expose-gc dist/bench/policy-engine.js [--quick]
 */
import { createHash } from 'node:crypto';
import { evaluateFlow } from '../src/policy/evaluate.js';
import { compile, reusedStates } from '../src/policy/resolve/compile.js';
import { computeMatrix, policiesForPods } from '../src/policy/trace.js';
import { machine, median, timeMs } from './stats.js';
import { syntheticCluster } from './synthetic.js';

const quick = process.argv.includes('--quick');
const runs = quick ? 1 : 5;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function digest(c: ReturnType<typeof compile>): string {
  const h = createHash('sha256');
  for (const [k, v] of c.endpoints) h.update(k).update(JSON.stringify(v));
  return h.digest('hex').slice(0, 16);
}

function rssMb(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

const results: Record<string, unknown> = { machine: machine() };

// P7: compile 10k pods x 1k policies, byte-identical on re-runs.
{
  const input = syntheticCluster({ pods: quick ? 2000 : 10_000, policies: quick ? 200 : 1000 });
  const times: number[] = [];
  const digests = new Set<string>();
  let entries = 0;
  for (let i = 0; i < runs; i++) {
    gc();
    const { ms, value } = timeMs(() => compile(input));
    times.push(ms);
    digests.add(digest(value));
    entries = [...value.endpoints.values()].reduce(
      (n, e) =>
        n +
        [e.ingress, e.egress].reduce(
          (m, d) =>
            m +
            d.wildcard.length +
            Object.values(d.byIdentity).reduce((a, s) => a + s.length, 0) +
            Object.values(d.byIp).reduce((a, s) => a + s.length, 0),
          0,
        ),
      0,
    );
  }
  results.compile = {
    pods: input.pods.length,
    policies: input.policies.length,
    medianMs: Math.round(median(times)),
    runsMs: times.map(Math.round),
    identicalOutput: digests.size === 1,
    mapEntries: entries,
  };
}

// P6: matrix 1k pods x 1k policies, and single-flow trace.
{
  const input = syntheticCluster({ pods: 1000, policies: 1000, seed: 7 });
  const compiled = compile(input);
  const times: number[] = [];
  let peak = 0;
  for (let i = 0; i < runs; i++) {
    gc();
    const before = rssMb();
    const { ms } = timeMs(() => computeMatrix(compiled, { port: 80, protocol: 'TCP' }));
    times.push(ms);
    peak = Math.max(peak, rssMb() - before);
  }
  const total = timeMs(() => computeMatrix(compile(input), { port: 80, protocol: 'TCP' })).ms;
  results.matrix = {
    pods: 1000,
    policies: 1000,
    medianMs: Math.round(median(times)),
    withCompileMs: Math.round(total),
    rssMb: Math.round(rssMb()),
  };
  const trace: number[] = [];
  for (let i = 0; i < 50; i++) {
    const a = input.pods[(i * 37) % input.pods.length]!;
    const b = input.pods[(i * 91 + 3) % input.pods.length]!;
    trace.push(timeMs(() => evaluateFlow(compiled, { srcIp: a.ip, dstIp: b.ip, protocol: 'TCP', dport: 80 })).ms);
  }
  // What `podwall policy trace` does: compile only the endpoints on the flow's path, then evaluate.
  const traceCold: number[] = [];
  for (let i = 0; i < 20; i++) {
    const a = input.pods[(i * 37) % input.pods.length]!;
    const b = input.pods[(i * 91 + 3) % input.pods.length]!;
    const only = [`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`];
    traceCold.push(
      timeMs(() =>
        evaluateFlow(compile(policiesForPods(input, only), { only }), {
          srcIp: a.ip,
          dstIp: b.ip,
          protocol: 'TCP',
          dport: 80,
        }),
      ).ms,
    );
  }
  results.trace = {
    pods: 1000,
    policies: 1000,
    medianMsCompiled: Number(median(trace).toFixed(3)),
    medianMsFromScratch: Math.round(median(traceCold)),
  };
}

// Incremental: one pod's labels change → recompute, full vs reusing the previous compile.
{
  const input = syntheticCluster({ pods: quick ? 2000 : 10_000, policies: quick ? 200 : 1000 });
  let prev = compile(input);
  const full: number[] = [];
  const incremental: number[] = [];
  let reused = 0;
  for (let i = 0; i < runs; i++) {
    const p = input.pods[i * 13]!;
    p.labels = { ...p.labels, tier: p.labels.tier === 'db' ? 'cache' : 'db' };
    gc();
    const inc = timeMs(() => compile(input, { previous: prev }));
    incremental.push(inc.ms);
    reused = reusedStates(inc.value);
    gc();
    full.push(timeMs(() => compile(input, { allocator: prev.allocator })).ms);
    prev = inc.value;
  }
  results.podLabelChange = {
    pods: input.pods.length,
    policies: input.policies.length,
    fullMedianMs: Math.round(median(full)),
    incrementalMedianMs: Math.round(median(incremental)),
    statesReused: reused,
  };
}

process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
