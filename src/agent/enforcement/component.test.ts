/**
 * The enforcement component against the real control plane (in-process apiserver over HTTPS, informers through
 * src/kube) with the FakeDriver: objects written through the API become DesiredState; policy changes flip the
 * Fake's packet verdicts; identities stay stable across recompiles; host policies are reported as not enforced.
 * No root, no host objects.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeManifests } from '../../api/decode.js';
import type { KubeObject, Service } from '../../api/types.js';
import { removeHome, SEED, startTestCluster, waitFor } from '../../apiserver/e2e/harness.js';
import { FakeDriver } from '../../datapath/fake/fake-driver.js';
import { KubeClient, loadKubeconfig } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { compile } from '../../policy/resolve/compile.js';
import { type AppliedEvent, EnforcementComponent } from './component.js';

const POD_IPS: Record<string, string> = {
  'deathstar-1': '10.233.0.11',
  'deathstar-2': '10.233.0.12',
  tiefighter: '10.233.0.21',
  xwing: '10.233.0.22',
};

function seed(file: string): KubeObject[] {
  return decodeManifests(readFileSync(join(SEED, file), 'utf8'), file).objects.map((d) => d.object);
}

type Ref = (typeof RESOURCE_REFS)[keyof typeof RESOURCE_REFS];

function refOf(o: KubeObject): Ref {
  switch (o.kind) {
    case 'NetworkPolicy':
      return RESOURCE_REFS.networkpolicies;
    case 'CiliumNetworkPolicy':
      return RESOURCE_REFS.ciliumnetworkpolicies;
    case 'CiliumClusterwideNetworkPolicy':
      return RESOURCE_REFS.ciliumclusterwidenetworkpolicies;
    default:
      throw new Error(o.kind);
  }
}

describe('enforcement component (API + FakeDriver)', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.reverse()) await f();
    cleanup.length = 0;
  });

  async function setup() {
    const c = await startTestCluster();
    cleanup.push(() => removeHome(c.home));
    cleanup.push(() => c.stop());
    const client = new KubeClient(loadKubeconfig({ path: c.kubeconfig }));
    cleanup.push(() => client.close());
    const driver = new FakeDriver();
    const comp = new EnforcementComponent({
      driver,
      proxy: false,
      nflog: false,
      observerSocket: false,
      hostIps: ['10.233.0.1'],
    });
    const events: AppliedEvent[] = [];
    const drift: string[] = [];
    comp.onApplied((e) => {
      events.push(e);
      // The incremental compile the component runs must equal a compile from scratch of the same input.
      const full = compile(comp.input!, { allocator: comp.compiled!.allocator });
      for (const [k, ep] of comp.compiled!.endpoints)
        if (JSON.stringify(ep) !== JSON.stringify(full.endpoints.get(k))) drift.push(`revision ${e.revision}: ${k}`);
    });
    const log: string[] = [];

    // The walkthrough's objects, with pods as the node would run them (IPs in status) and the service's slice.
    const labels: Record<string, Record<string, string>> = {
      'deathstar-1': { org: 'empire', class: 'deathstar' },
      'deathstar-2': { org: 'empire', class: 'deathstar' },
      tiefighter: { org: 'empire', class: 'tiefighter' },
      xwing: { org: 'alliance', class: 'xwing' },
    };
    for (const [name, ip] of Object.entries(POD_IPS)) {
      const created = await client.create<KubeObject>(RESOURCE_REFS.pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default', labels: labels[name] },
        spec: { containers: [{ name: 'c', image: 'docker.io/cilium/starwars', ports: [{ containerPort: 80 }] }] },
      });
      await client.update(
        RESOURCE_REFS.pods,
        { ...created, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } },
        'status',
      );
    }
    const svc = seed('app.yaml').find((o) => o.kind === 'Service')!;
    const createdSvc = await client.create<Service>(RESOURCE_REFS.services, {
      ...svc,
      metadata: { ...svc.metadata, namespace: 'default' },
    } as Service);
    const clusterIP = createdSvc.spec.clusterIP!;
    await client.create(RESOURCE_REFS.endpointslices, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'deathstar-x', namespace: 'default', labels: { 'kubernetes.io/service-name': 'deathstar' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: [POD_IPS['deathstar-1']!], conditions: { ready: true } },
        { addresses: [POD_IPS['deathstar-2']!], conditions: { ready: true } },
      ],
      ports: [{ name: '', port: 80, protocol: 'TCP' }],
    } as KubeObject);

    await comp.start({ home: c.home, client, log: (l) => log.push(l) });
    cleanup.push(() => comp.stop());
    const applyAndWait = async (o: KubeObject, verb: 'create' | 'delete' = 'create') => {
      const n = events.length;
      if (verb === 'create')
        await client.create(refOf(o), {
          ...o,
          metadata: { ...o.metadata, namespace: o.metadata.namespace ?? 'default' },
        });
      else await client.delete(refOf(o), o.metadata.namespace ?? 'default', o.metadata.name!);
      await waitFor(() => events.length > n, 5000, 'apply');
    };
    const probe = (from: string, to = clusterIP) =>
      driver.lookup({ srcIp: POD_IPS[from]!, dstIp: to, protocol: 'TCP', dport: 80 });
    cleanup.push(() => expect(drift).toEqual([]));
    return { client, comp, driver, events, log, clusterIP, applyAndWait, probe };
  }

  it('walkthrough policies: API objects → DesiredState → verdicts, with stable identities', async () => {
    const { comp, driver, events, applyAndWait, probe, clusterIP, client } = await setup();
    expect(events.length).toBeGreaterThan(0);
    const s0 = driver.history.at(-1)!;
    expect(s0.endpoints.map((e) => e.name)).toEqual([
      'default/deathstar-1',
      'default/deathstar-2',
      'default/tiefighter',
      'default/xwing',
    ]);
    expect(s0.services.find((s) => s.key === 'default/deathstar:80')).toEqual({
      key: 'default/deathstar:80',
      ip: clusterIP,
      port: 80,
      protocol: 'TCP',
      backends: [
        { ip: POD_IPS['deathstar-1'], port: 80 },
        { ip: POD_IPS['deathstar-2'], port: 80 },
      ],
    });
    expect(s0.hostIps).toEqual(['10.233.0.1']);
    const ids0 = Object.fromEntries(s0.endpoints.map((e) => [e.name, e.identity]));
    expect(probe('xwing')).toMatchObject({ action: 'accept' });

    // Step 2: Kubernetes NetworkPolicy.
    const np = seed('native/networkpolicy.yaml')[0]!;
    await applyAndWait(np);
    expect(probe('tiefighter')).toMatchObject({ action: 'accept' });
    expect(probe('xwing')).toEqual({ action: 'drop', reason: 'POLICY_DENIED', direction: 'ingress' });

    // Step 4: replace it by the CNP L4 policy.
    await applyAndWait(np, 'delete');
    expect(probe('xwing')).toMatchObject({ action: 'accept' });
    await applyAndWait(seed('cilium/networkpolicy-L4.yaml')[0]!);
    expect(probe('xwing')).toMatchObject({ action: 'drop' });

    // Step 5: the L7 policy replaces rule1: redirect to the proxy for the empire, still drop for xwing.
    const l7 = seed('cilium/networkpolicy-L7.yaml')[0]!;
    const cur = await client.get<KubeObject>(RESOURCE_REFS.ciliumnetworkpolicies, 'default', 'rule1');
    const n = events.length;
    await client.update(RESOURCE_REFS.ciliumnetworkpolicies, { ...l7, metadata: { ...cur.metadata } });
    await waitFor(() => events.length > n, 5000, 'apply');
    expect(probe('tiefighter')).toMatchObject({ action: 'redirect' });
    expect(probe('xwing')).toMatchObject({ action: 'drop' });

    // A new pod with new labels does not renumber anyone.
    const extra = await client.create<KubeObject>(RESOURCE_REFS.pods, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'ywing', namespace: 'default', labels: { org: 'alliance', class: 'ywing' } },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    });
    const m = events.length;
    await client.update(RESOURCE_REFS.pods, { ...extra, status: { phase: 'Running', podIP: '10.233.0.23' } }, 'status');
    await waitFor(() => events.length > m && driver.history.at(-1)!.endpoints.length === 5, 5000, 'new pod');
    const s1 = driver.history.at(-1)!;
    for (const e of s1.endpoints) if (ids0[e.name] !== undefined) expect(e.identity).toBe(ids0[e.name]);
    expect(comp.status()).toMatchObject({ ok: true });
    expect(comp.status().message).toMatch(/5 endpoints, 1 policies/);
  });

  it('host policies are reported as not enforced', async () => {
    const { comp, applyAndWait } = await setup();
    await applyAndWait({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumClusterwideNetworkPolicy',
      metadata: { name: 'host-fw' },
      spec: { nodeSelector: {}, ingress: [{ fromEntities: ['cluster'] }] },
    });
    expect(comp.status().message).toContain('not enforced: CiliumClusterwideNetworkPolicy/host-fw');
  });
});
