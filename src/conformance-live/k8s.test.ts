/**
 * The live k8s runner against a fake cluster whose datapath is the offline engine: the whole shared suite passes
 * with the offline runner's counts (SCTP skipped), the runner refuses foreign namespaces, cleans up, tolerates
 * enforcement lag by polling, reports wrong cells after a second try, and falls back from `/agnhost`.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../api/types.js';
import { RESOURCE_REFS } from '../kube/resources.js';
import { type K8sCase, type K8sModel, runK8sSuite } from '../policy/conformance/k8s.js';
import { loadSharedYaml, sharedPath } from '../testing/shared.js';
import { formatFieldError } from '../util/field.js';
import { validateObject } from '../validation/index.js';
import { FakeCluster } from './fake-cluster.test-helper.js';
import { liveTopology, NO_SCTP_REASON, runK8sLive } from './k8s.js';
import { OWNER_LABEL, POD_LABEL, RefusedError } from './topology.js';

const validate = (o: KubeObject) =>
  validateObject(o)
    .filter((e) => (e.severity ?? 'error') === 'error')
    .map(formatFieldError);

const model = loadSharedYaml<K8sModel>('conformance/k8s-netpol/model.yaml');
const files = readdirSync(sharedPath('conformance/k8s-netpol/cases'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const load = (id: string) =>
  loadSharedYaml<K8sCase>(`conformance/k8s-netpol/cases/${files.find((f) => f.startsWith(`${id}-`))!}`);
const FAST = { intervalMs: 5, timeoutMs: 40 };

// The `/agnhost` fallback resolves the built-in program in a program dir: a stand-in file is enough for the fake.
const programDir = mkdtempSync(join(tmpdir(), 'pw-live-prog-'));
writeFileSync(join(programDir, 'agnhost.js'), '');
afterAll(() => rmSync(programDir, { recursive: true, force: true }));

function owned(f: FakeCluster): string[] {
  return [...f.objects.entries()].filter(([, o]) => o.metadata.labels?.[OWNER_LABEL] === 'true').map(([k]) => k);
}

describe('live k8s runner (fake cluster)', () => {
  it('runs all shared cases with the offline counts, SCTP skipped with its reason, and cleans up', async () => {
    const cases = files.map((f) => loadSharedYaml<K8sCase>(`conformance/k8s-netpol/cases/${f}`));
    const fake = new FakeCluster({ validate });
    const live = await runK8sLive(cases, model, { api: fake, poll: FAST, sctp: false, programDir });
    const offline = runK8sSuite(cases, model, { validate });
    expect(live.failures).toEqual([]);
    expect(live.checks.total).toBe(offline.checks.total);
    expect(live.checks.passed + live.checks.skipped).toBe(offline.checks.passed);
    expect(live.cases.total).toBe(offline.cases.total);
    const sctpOnly = ['046', '047', '078'];
    expect(live.skips.map((s) => s.case.slice(0, 3)).sort()).toEqual(sctpOnly);
    expect(new Set(live.skips.map((s) => s.reason))).toEqual(new Set([NO_SCTP_REASON]));
    expect(live.cases.skipped).toBe(3);
    expect(live.cases.passed).toBe(offline.cases.total - 3);
    expect(owned(fake)).toEqual([]);
    expect(fake.ofKind('namespaces')).toEqual([]);
  });

  it('creates the model topology: labelled namespaces, agnhost containers per model container, a Service per pod', async () => {
    const topo = liveTopology(model);
    expect(topo.namespaces.map((n) => n.labels)).toContainEqual({ 'kubernetes.io/metadata.name': 'x', ns: 'x' });
    const xa = topo.pods.find((p) => p.namespace === 'x' && p.name === 'a')!;
    expect(xa.containers.map((c) => [c.name, (c as { args?: string[] }).args?.join(' ')])).toEqual([
      ['cont-80-tcp', 'serve-hostname --tcp --http=false --port 80'],
      ['cont-80-udp', 'serve-hostname --udp --http=false --port 80'],
      ['cont-80-sctp', 'pause'],
      ['cont-81-tcp', 'serve-hostname --tcp --http=false --port 81'],
      ['cont-81-udp', 'serve-hostname --udp --http=false --port 81'],
      ['cont-81-sctp', 'pause'],
    ]);
    expect(xa.containers[2]!.ports).toEqual([{ name: 'serve-80-sctp', containerPort: 80, protocol: 'SCTP' }]);
    const svc = topo.services.find((s) => s.name === 's-x-a')!;
    expect(svc.ports).toContainEqual({ name: 'service-port-udp-81', port: 81, targetPort: 81, protocol: 'UDP' });
    // Against the fake: the objects carry our label, pods the stable selector label.
    const fake = new FakeCluster({ validate });
    const r = await runK8sLive([load('003')], model, { api: fake, poll: FAST, keep: true, programDir });
    expect(r.cases.passed).toBe(1);
    const ns = (await fake.get(RESOURCE_REFS.namespaces, undefined, 'y'))!;
    expect(ns.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'y', ns: 'y', [OWNER_LABEL]: 'true' });
    const pod = (await fake.get(RESOURCE_REFS.pods, 'z', 'c'))!;
    expect(pod.metadata.labels).toEqual({ pod: 'c', [OWNER_LABEL]: 'true', [POD_LABEL]: 'c' });
    const s = (await fake.get(RESOURCE_REFS.services, 'z', 's-z-c')) as unknown as { spec: { selector: unknown } };
    expect(s.spec.selector).toEqual({ [POD_LABEL]: 'c' });
    // Probes went through the Service ClusterIP with agnhost connect.
    expect(fake.execs.some((c) => c[0] === '/agnhost' && c[1] === 'connect' && /^10\.96\.9\.\d+:80$/.test(c[2]!))).toBe(
      true,
    );
  });

  it('refuses to run when a namespace it needs exists and is not ours, before creating anything', async () => {
    const fake = new FakeCluster({ validate });
    fake.seed(RESOURCE_REFS.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'y' } } as KubeObject);
    await expect(runK8sLive([load('003')], model, { api: fake, poll: FAST, programDir })).rejects.toThrow(RefusedError);
    expect(fake.ofKind('namespaces').map((n) => n.metadata.name)).toEqual(['y']);
    expect(fake.ofKind('pods')).toEqual([]);
  });

  it('polls until enforcement catches up (eventual consistency)', async () => {
    const fake = new FakeCluster({ validate, lagMs: 60 });
    const r = await runK8sLive([load('026'), load('072')], model, {
      api: fake,
      poll: { intervalMs: 10, timeoutMs: 400 },
      programDir,
    });
    expect(r.failures).toEqual([]);
    expect(r.cases.passed).toBe(2);
  });

  it('reports a wrong cell after the second try, with the probe and the engine view', async () => {
    let victim = '';
    const fake = new FakeCluster({
      validate,
      sabotage: (f) => f.dstIp === victim && f.dport === 80,
    });
    const orig = fake.create.bind(fake);
    fake.create = async (ref, obj) => {
      const o = await orig(ref, obj);
      if (ref.resource === 'pods' && o.metadata.namespace === 'x' && o.metadata.name === 'b')
        victim = (o as unknown as { status: { podIP: string } }).status.podIP;
      return o;
    };
    const r = await runK8sLive([load('003')], model, { api: fake, poll: FAST, programDir });
    expect(r.cases.failed).toBe(1);
    const f = r.failures.find((x) => x.pair === 'x/a -> x/b')!;
    expect(f).toMatchObject({
      case: '003-allow-from-podselector-same-ns',
      step: 0,
      probe: '80/TCP',
      expected: 'allow',
      got: 'deny',
    });
    expect(f.why).toContain('agnhost connect 10.96.9.');
    expect(f.why).toContain('TIMEOUT');
    expect(f.why).toContain('policy engine on the live objects: allowed');
    // Every pair into x/b was wrong → each was probed in both tries.
    const probesToVictimSvc = fake.execs.filter((c) => c.includes('--protocol=tcp')).length;
    expect(probesToVictimSvc).toBeGreaterThan(81);
    expect(owned(fake)).toEqual([]);
  });

  it('falls back to the built-in agnhost when /agnhost is not executable in the pod', async () => {
    const fake = new FakeCluster({ validate, agnhostMissing: true });
    const r = await runK8sLive([load('063')], model, { api: fake, poll: FAST, programDir });
    expect(r.failures).toEqual([]);
    expect(r.cases.passed).toBe(1);
    expect(fake.execs[0]![0]).toBe('/agnhost');
    expect(fake.execs.at(-1)!.slice(0, 3)).toEqual([process.execPath, join(programDir, 'agnhost.js'), 'connect']);
  });

  it('judges API validation cases with dryRun', async () => {
    const fake = new FakeCluster({ validate });
    const r = await runK8sLive([load('090')], model, { api: fake, poll: FAST, programDir });
    expect(r.failures).toEqual([]);
    expect(r.checks.passed).toBeGreaterThan(3);
    expect(fake.ofKind('networkpolicies')).toEqual([]);
    expect(owned(fake)).toEqual([]);
  });

  it('applies label actions through the API and resets labels for the next case', async () => {
    const fake = new FakeCluster({ validate });
    const r = await runK8sLive([load('065'), load('066'), load('065')], model, {
      api: fake,
      poll: FAST,
      keep: true,
      programDir,
    });
    expect(r.failures).toEqual([]);
    const b = (await fake.get(RESOURCE_REFS.namespaces, undefined, 'b'))!;
    expect(b.metadata.labels?.['ns-name']).toBe('b-updated');
    const r2 = await runK8sLive([load('066')], model, { api: fake, poll: FAST, programDir });
    expect(r2.failures).toEqual([]);
    expect(owned(fake)).toEqual([]);
  });
});
