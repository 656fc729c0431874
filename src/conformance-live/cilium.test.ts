/**
 * The live Cilium runner against the fake cluster: namespace renaming is consistent (checked by the offline
 * engine), pod/HTTP flows are probed, host/world/ICMP/DNS flows are skipped with reasons, and nothing is left.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../api/types.js';
import { RESOURCE_REFS } from '../kube/resources.js';
import type { CiliumCase, CiliumSuite } from '../policy/conformance/cilium.js';
import { loadSharedYaml } from '../testing/shared.js';
import { formatFieldError } from '../util/field.js';
import { validateObject } from '../validation/index.js';
import { liveNamespace, renamePolicy, runCiliumLive, unprobeable } from './cilium.js';
import { FakeCluster } from './fake-cluster.test-helper.js';
import { OWNER_LABEL, RefusedError } from './topology.js';

const validate = (o: KubeObject) =>
  validateObject(o)
    .filter((e) => (e.severity ?? 'error') === 'error')
    .map(formatFieldError);
const suite = loadSharedYaml<CiliumSuite>('conformance/cilium/cases.yaml');
const FAST = { intervalMs: 5, timeoutMs: 40 };
const programDir = mkdtempSync(join(tmpdir(), 'pw-live-prog-'));
writeFileSync(join(programDir, 'agnhost.js'), '');
afterAll(() => rmSync(programDir, { recursive: true, force: true }));

describe('live Cilium runner (fake cluster)', () => {
  it('renames namespaces in metadata and in namespace-identifying selectors only', () => {
    const p = renamePolicy(
      {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'p', namespace: 'default' },
        spec: {
          endpointSelector: {
            matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', app: 'default' },
            matchExpressions: [
              { key: 'io.kubernetes.pod.namespace', operator: 'NotIn', values: ['kube-system'] },
              { key: 'app', operator: 'In', values: ['default'] },
            ],
          },
          ingress: [{ fromEndpoints: [{ matchLabels: { 'kubernetes.io/metadata.name': 'nsBob' } }] }],
        },
      },
      liveNamespace,
    );
    expect(p.metadata.namespace).toBe('pw-c-default');
    expect(p.spec.endpointSelector.matchLabels).toEqual({
      'k8s:io.kubernetes.pod.namespace': 'pw-c-kube-system',
      app: 'default',
    });
    expect(p.spec.endpointSelector.matchExpressions[0]!.values).toEqual(['pw-c-kube-system']);
    expect(p.spec.endpointSelector.matchExpressions[1]!.values).toEqual(['default']);
    expect(p.spec.ingress[0]!.fromEndpoints[0]!.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'pw-c-nsbob' });
  });

  it('skips what a pod cannot probe, with the reason', () => {
    const f = { from: 'a', to: 'b', port: 80, protocol: 'TCP', verdict: 'allowed' as const };
    expect(unprobeable(f)).toBeUndefined();
    expect(unprobeable({ ...f, from: 'host' })).toMatch(/reserved:host/);
    expect(unprobeable({ ...f, to: 'ip:192.0.2.1' })).toMatch(/outside the cluster/);
    expect(unprobeable({ ...f, protocol: 'ICMP' })).toMatch(/ICMP/);
    expect(unprobeable({ ...f, protocol: 'UDP', dns: { query: 'x.' } })).toMatch(/DNS/);
  });

  it('runs the shared cases: probeable flows pass, the rest is skipped with reasons, nothing is left', async () => {
    const fake = new FakeCluster({ validate });
    const r = await runCiliumLive(suite, 'cilium', { api: fake, poll: FAST, programDir });
    // The fake's datapath is the offline engine: a live failure here would be a runner bug. The offline runner's own
    // known failures (if any) show up identically, so compare with it instead of expecting zero.
    const flows = (suite.cases ?? []).flatMap((c: CiliumCase) => c.expect ?? []);
    const unprobed = flows.filter((f) => unprobeable(f)).length;
    expect(r.checks.skipped).toBeGreaterThanOrEqual(unprobed);
    expect(r.checks.passed).toBeGreaterThan(100);
    expect(r.failures.filter((f) => f.why !== 'API server validation (dryRun)')).toEqual([]);
    expect(r.skips.some((s) => /reserved:host/.test(s.reason))).toBe(true);
    expect(r.skips.some((s) => /outside the cluster/.test(s.reason))).toBe(true);
    expect(fake.execs.some((c) => c[0] === 'curl' && c.includes('-X'))).toBe(true);
    expect([...fake.objects.values()].filter((o) => o.metadata.labels?.[OWNER_LABEL] === 'true')).toEqual([]);
    expect(fake.ofKind('namespaces')).toEqual([]);
  }, 60_000);

  it('never touches the real default/kube-system namespaces', async () => {
    const fake = new FakeCluster({ validate });
    for (const name of ['default', 'kube-system'])
      fake.seed(RESOURCE_REFS.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } as KubeObject);
    const one: CiliumSuite = { cases: (suite.cases ?? []).slice(0, 2) };
    const r = await runCiliumLive(one, 'cilium', { api: fake, poll: FAST, programDir });
    expect(r.cases.total).toBe(2);
    expect(
      fake
        .ofKind('namespaces')
        .map((n) => n.metadata.name)
        .sort(),
    ).toEqual(['default', 'kube-system']);
    expect(fake.ofKind('pods')).toEqual([]);
    // A foreign pw-c- namespace is refused.
    fake.seed(RESOURCE_REFS.namespaces, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'pw-c-default' },
    } as KubeObject);
    const r2 = await runCiliumLive(one, 'cilium', { api: fake, poll: FAST, programDir });
    expect(r2.failures[0]?.why).toMatch(/not podwall conformance's/);
    expect(RefusedError).toBeDefined();
  });
});
