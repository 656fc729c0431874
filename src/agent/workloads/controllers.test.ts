/**
 * The controllers against an in-process API server (no root, no pods on the host): a fake kubelet binds pods and
 * marks them Running/Ready with made-up IPs, so the Deployment/ReplicaSet controllers, the endpoints controller
 * and the DNS snapshot are checked through the API, and the real kubectl reads what they wrote
 * (`get deploy`, `rollout status`).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployment, KubeObject, Pod, Service } from '../../api/types.js';
import {
  kubectlBinary,
  removeHome,
  runKubectl,
  startTestCluster,
  type TestCluster,
  waitFor,
} from '../../apiserver/e2e/harness.js';
import { KubeClient, loadKubeconfig } from '../../kube/client.js';
import { Informer } from '../../kube/informer.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { ClusterDns } from './cluster-dns.js';
import { DeploymentController, type ReplicaSet } from './deployment-controller.js';
import { type EndpointSliceObject, EndpointsController, type EndpointsObject } from './endpoints-controller.js';
import { POD_TEMPLATE_HASH, podTemplateHash } from './hash.js';
import { ReplicaSetController } from './replicaset-controller.js';
import type { WorkloadComponent, WorkloadContext } from './types.js';

const KUBECTL = kubectlBinary('1.32');

/** Marks pods Running and (unless held) Ready, with IPs 10.250.0.x; records the pod count over time. */
class FakeKubelet {
  private informer!: Informer<Pod>;
  private next = 2;
  readonly ips = new Map<string, string>();
  /** Pods whose name starts with one of these stay unready. */
  holdReady = new Set<string>();
  readyDelayMs = 0;

  constructor(private readonly client: KubeClient) {}

  async start(): Promise<void> {
    this.informer = new Informer<Pod>(this.client, RESOURCE_REFS.pods);
    const on = (p: Pod) => void this.handle(p).catch(() => {});
    this.informer.addEventHandler({ onAdd: on, onUpdate: (_, p) => on(p) });
    this.informer.start();
    await this.informer.waitForSync();
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }

  /** Re-evaluates every pod (after `holdReady` changed). */
  kick(): void {
    for (const p of this.informer.list()) void this.handle(p).catch(() => {});
  }

  private async handle(p: Pod): Promise<void> {
    if (p.metadata.deletionTimestamp) return;
    const uid = p.metadata.uid ?? '';
    let ip = this.ips.get(uid);
    if (!ip) {
      ip = `10.250.0.${this.next++}`;
      this.ips.set(uid, ip);
    }
    const held = [...this.holdReady].some((h) => p.metadata.name?.startsWith(h));
    const ready = held ? 'False' : 'True';
    if (p.status?.podIP === ip && p.status.conditions?.find((c) => c.type === 'Ready')?.status === ready) return;
    if (!held && this.readyDelayMs) await new Promise((r) => setTimeout(r, this.readyDelayMs));
    const t = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await this.client.patch(
      RESOURCE_REFS.pods,
      p.metadata.namespace,
      p.metadata.name ?? '',
      {
        status: {
          phase: 'Running',
          podIP: ip,
          podIPs: [{ ip }],
          hostIP: '192.0.2.1',
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
            { type: 'Ready', status: ready, lastTransitionTime: t },
          ],
        },
      },
      'merge',
      'status',
    );
  }
}

function deployment(name: string, replicas: number, image = 'docker.io/cilium/starwars'): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'main',
              image,
              ports: [
                { name: 'http', containerPort: 8080, protocol: 'TCP' },
                { name: 'dns', containerPort: 5353, protocol: 'UDP' },
              ],
            },
          ],
        },
      },
    },
  };
}

describe('workload controllers against the API', () => {
  let cluster: TestCluster;
  let client: KubeClient;
  let kubelet: FakeKubelet;
  const logs: string[] = [];
  let rsc: ReplicaSetController;
  let dc: DeploymentController;
  let ec: EndpointsController;
  let dns: ClusterDns;
  const components: WorkloadComponent[] = [];

  const pods = async (prefix: string) =>
    (await client.list<Pod>(RESOURCE_REFS.pods, { namespace: 'default' })).items.filter((p) =>
      p.metadata.name?.startsWith(prefix),
    );
  const getDeploy = (name: string) => client.get<Deployment>(RESOURCE_REFS.deployments, 'default', name);
  const rsOf = async (name: string) =>
    (await client.list<ReplicaSet>(RESOURCE_REFS.replicasets, { namespace: 'default' })).items.filter((r) =>
      r.metadata.name?.startsWith(`${name}-`),
    );
  const kubectl = (args: string[]) => runKubectl(KUBECTL!, cluster, args);

  beforeAll(async () => {
    cluster = await startTestCluster();
    client = new KubeClient(loadKubeconfig({ path: cluster.kubeconfig }));
    kubelet = new FakeKubelet(client);
    await kubelet.start();
    const ctx: WorkloadContext = {
      home: cluster.home,
      client,
      log: (l) => logs.push(l),
      setNodeBackend: () => {},
    };
    rsc = new ReplicaSetController();
    dc = new DeploymentController();
    ec = new EndpointsController({ apiserverEndpoint: (u) => ({ ip: '10.244.210.1', port: Number(u.port) }) });
    dns = new ClusterDns();
    for (const c of [rsc, dc, ec, dns]) {
      await c.start(ctx);
      components.push(c);
    }
  });

  afterAll(async () => {
    for (const c of components.reverse()) await c.stop();
    await kubelet?.stop();
    client?.close();
    await cluster?.stop();
    removeHome(cluster.home);
  });

  it('creates a ReplicaSet <deploy>-<hash> and pods <rs>-<5 chars> with owner references and labels', async () => {
    await client.create(RESOURCE_REFS.deployments, deployment('web', 2));
    await waitFor(async () => (await getDeploy('web')).status?.readyReplicas === 2, 15_000, 'web 2/2 ready');
    const d = await getDeploy('web');
    const hash = podTemplateHash(d.spec.template);
    const [rs, ...more] = await rsOf('web');
    expect(more).toEqual([]);
    expect(rs?.metadata.name).toBe(`web-${hash}`);
    expect(hash).toMatch(/^[4-9bcdf]{1,10}$/);
    expect(rs?.metadata.labels).toEqual({ app: 'web', [POD_TEMPLATE_HASH]: hash });
    expect(rs?.spec.selector.matchLabels).toEqual({ app: 'web', [POD_TEMPLATE_HASH]: hash });
    expect(rs?.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'web',
        uid: d.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(rs?.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    expect(d.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('1');
    const ps = await pods('web-');
    expect(ps).toHaveLength(2);
    for (const p of ps) {
      expect(p.metadata.name).toMatch(new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      expect(p.metadata.labels).toEqual({ app: 'web', [POD_TEMPLATE_HASH]: hash });
      expect(p.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'ReplicaSet',
        name: rs?.metadata.name,
        controller: true,
      });
    }
    await waitFor(async () => (await getDeploy('web')).status?.observedGeneration === 1, 5000);
    const st = (await getDeploy('web')).status as Record<string, unknown>;
    expect(st).toMatchObject({
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      observedGeneration: 1,
    });
    const conds = st.conditions as { type: string; status: string; reason: string }[];
    expect(conds.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'True', 'NewReplicaSetAvailable'],
    ]);
    await waitFor(
      async () => {
        const evs = (await client.list<KubeObject>(RESOURCE_REFS.events, { namespace: 'default' })).items;
        const reasons = new Set(evs.map((e) => `${(e.involvedObject as { kind: string }).kind}/${e.reason}`));
        return reasons.has('Deployment/ScalingReplicaSet') && reasons.has('ReplicaSet/SuccessfulCreate');
      },
      5000,
      'events for kubectl describe',
    );
    const rsSt = (await rsOf('web'))[0]?.status;
    expect(rsSt).toMatchObject({
      replicas: 2,
      fullyLabeledReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      observedGeneration: 1,
    });
  });

  it.skipIf(!KUBECTL)('kubectl get deploy shows READY 2/2 and rollout status completes', async () => {
    const r = await kubectl(['rollout', 'status', 'deploy/web', '--timeout=20s']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('deployment "web" successfully rolled out\n');
    const g = await kubectl(['get', 'deploy', 'web', '--no-headers']);
    expect(g.stdout).toMatch(/^web\s+2\/2\s+2\s+2\s+\d+s\n$/);
    const rs = await kubectl(['get', 'rs', '--no-headers']);
    expect(rs.stdout).toMatch(/^web-\w+\s+2\s+2\s+2\s+/);
  });

  it('scales up to 5 and down to 1', async () => {
    await client.patch(RESOURCE_REFS.deployments, 'default', 'web', { spec: { replicas: 5 } });
    await waitFor(async () => (await getDeploy('web')).status?.availableReplicas === 5, 15_000, 'web 5 available');
    expect(await pods('web-')).toHaveLength(5);
    await client.patch(RESOURCE_REFS.deployments, 'default', 'web', { spec: { replicas: 1 } });
    await waitFor(async () => (await pods('web-')).length === 1, 15_000, 'web 1 pod');
    await waitFor(async () => {
      const s = (await getDeploy('web')).status as Record<string, unknown>;
      return s.replicas === 1 && s.availableReplicas === 1 && s.observedGeneration === 3;
    }, 5000);
    expect((await rsOf('web'))[0]?.spec.replicas).toBe(1);
    await client.patch(RESOURCE_REFS.deployments, 'default', 'web', { spec: { replicas: 2 } });
    await waitFor(async () => (await getDeploy('web')).status?.availableReplicas === 2, 15_000, 'web back to 2');
  });

  it('rolls a template change over within maxSurge/maxUnavailable and keeps the old ReplicaSet at 0', async () => {
    await client.create(RESOURCE_REFS.deployments, deployment('roll', 4));
    await waitFor(async () => (await getDeploy('roll')).status?.availableReplicas === 4, 15_000, 'roll 4 available');
    // Watch every pod change and check the bounds over the whole rollout: 25% of 4 = surge 1, unavailable 1.
    const seen: { total: number; available: number }[] = [];
    const inf = new Informer<Pod>(client, RESOURCE_REFS.pods, { namespace: 'default' });
    let synced = false;
    const sample = () => {
      if (!synced) return;
      const ps = inf.list().filter((p) => p.metadata.name?.startsWith('roll-'));
      const alive = ps.filter((p) => !p.metadata.deletionTimestamp);
      const available = alive.filter((p) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
      seen.push({ total: alive.length, available: available.length });
    };
    inf.addEventHandler({ onAdd: sample, onUpdate: sample, onDelete: sample });
    inf.start();
    await inf.waitForSync();
    synced = true;
    sample();
    kubelet.readyDelayMs = 30;
    const before = await rsOf('roll');
    await client.patch(RESOURCE_REFS.deployments, 'default', 'roll', {
      spec: { template: { spec: { containers: [{ name: 'main', image: 'docker.io/cilium/starwars:v2' }] } } },
    });
    await waitFor(
      async () => {
        const d = await getDeploy('roll');
        const s = d.status as Record<string, unknown>;
        return s.observedGeneration === 2 && s.updatedReplicas === 4 && s.replicas === 4 && s.availableReplicas === 4;
      },
      20_000,
      'rollout done',
    );
    kubelet.readyDelayMs = 0;
    await inf.stop();
    const after = await rsOf('roll');
    expect(after).toHaveLength(2);
    const old = after.find((r) => r.metadata.uid === before[0]?.metadata.uid);
    const neu = after.find((r) => r.metadata.uid !== before[0]?.metadata.uid);
    expect(old?.spec.replicas).toBe(0);
    expect(neu?.spec.replicas).toBe(4);
    expect(neu?.metadata.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(Math.max(...seen.map((s) => s.total))).toBeLessThanOrEqual(5);
    expect(Math.min(...seen.map((s) => s.available))).toBeGreaterThanOrEqual(3);
    const ps = await pods('roll-');
    expect(ps.filter((p) => !p.metadata.deletionTimestamp)).toHaveLength(4);
    for (const p of ps) expect(p.metadata.name?.startsWith(`${neu?.metadata.name}-`)).toBe(true);
    if (KUBECTL) {
      const r = await kubectl(['rollout', 'status', 'deploy/roll', '--timeout=10s']);
      expect(r.stdout).toContain('successfully rolled out');
    }
  });

  it('keeps Progressing and Available honest while pods are not ready', async () => {
    kubelet.holdReady.add('slow-');
    await client.create(RESOURCE_REFS.deployments, deployment('slow', 2));
    await waitFor(async () => ((await getDeploy('slow')).status?.replicas as number) === 2, 10_000, 'slow 2 replicas');
    await waitFor(async () => {
      const conds = ((await getDeploy('slow')).status?.conditions ?? []) as { type: string; reason: string }[];
      return conds.find((c) => c.type === 'Available')?.reason === 'MinimumReplicasUnavailable';
    }, 5000);
    const conds = ((await getDeploy('slow')).status?.conditions ?? []) as {
      type: string;
      status: string;
      reason: string;
    }[];
    expect(conds.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True' });
    expect(['NewReplicaSetCreated', 'ReplicaSetUpdated']).toContain(
      conds.find((c) => c.type === 'Progressing')?.reason,
    );
    if (KUBECTL) {
      const r = await kubectl(['rollout', 'status', 'deploy/slow', '--timeout=1s']);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toContain('0 of 2 updated replicas are available');
    }
    kubelet.holdReady.delete('slow-');
    kubelet.kick();
    await waitFor(async () => (await getDeploy('slow')).status?.availableReplicas === 2, 10_000, 'slow ready');
    await client.delete(RESOURCE_REFS.deployments, 'default', 'slow');
  });

  it('writes Endpoints and EndpointSlices with named target ports, several ports, TCP and UDP', async () => {
    const svc: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default', labels: { tier: 'front' } },
      spec: {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
          { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' },
          { name: 'raw', port: 9000, targetPort: 9001, protocol: 'TCP' },
        ],
      },
    };
    await client.create(RESOURCE_REFS.services, svc as unknown as KubeObject);
    const ips = (await pods('web-')).map((p) => p.status?.podIP).sort();
    expect(ips).toHaveLength(2);
    await waitFor(
      async () => {
        const ep = await client.get<EndpointsObject>(RESOURCE_REFS.endpoints, 'default', 'web').catch(() => undefined);
        return (ep?.subsets?.[0]?.addresses?.length ?? 0) === 2;
      },
      10_000,
      'endpoints',
    );
    const ep = await client.get<EndpointsObject>(RESOURCE_REFS.endpoints, 'default', 'web');
    expect(ep.metadata.labels).toEqual({ tier: 'front' });
    expect(ep.subsets).toHaveLength(1);
    expect(ep.subsets?.[0]?.addresses?.map((a) => a.ip).sort()).toEqual(ips);
    expect(ep.subsets?.[0]?.addresses?.[0]?.targetRef?.kind).toBe('Pod');
    expect(ep.subsets?.[0]?.ports).toEqual([
      { name: 'dns', port: 5353, protocol: 'UDP' },
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'raw', port: 9001, protocol: 'TCP' },
    ]);
    const slices = (
      await client.list<EndpointSliceObject>(RESOURCE_REFS.endpointslices, {
        namespace: 'default',
        labelSelector: 'kubernetes.io/service-name=web',
      })
    ).items;
    expect(slices).toHaveLength(1);
    const s = slices[0]!;
    expect(s.metadata.name).toMatch(/^web-[a-z0-9]{5}$/);
    expect(s.addressType).toBe('IPv4');
    expect(s.metadata.labels).toMatchObject({
      tier: 'front',
      'kubernetes.io/service-name': 'web',
      'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
    });
    expect(s.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Service', name: 'web', controller: true });
    expect([...(s.ports ?? [])].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''))).toEqual([
      { name: 'dns', port: 5353, protocol: 'UDP' },
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'raw', port: 9001, protocol: 'TCP' },
    ]);
    expect(s.endpoints?.map((e) => e.addresses[0]).sort()).toEqual(ips);
    for (const e of s.endpoints ?? []) expect(e.conditions).toEqual({ ready: true, serving: true, terminating: false });

    // An unready pod moves to notReadyAddresses / ready=false.
    const victim = (await pods('web-'))[0]!;
    kubelet.holdReady.add(victim.metadata.name ?? '');
    kubelet.kick();
    await waitFor(
      async () => {
        const e = await client.get<EndpointsObject>(RESOURCE_REFS.endpoints, 'default', 'web');
        return e.subsets?.[0]?.notReadyAddresses?.[0]?.ip === victim.status?.podIP;
      },
      10_000,
      'notReadyAddresses',
    );
    const sl = (
      await client.list<EndpointSliceObject>(RESOURCE_REFS.endpointslices, {
        namespace: 'default',
        labelSelector: 'kubernetes.io/service-name=web',
      })
    ).items[0]!;
    expect(sl.endpoints?.find((e) => e.addresses[0] === victim.status?.podIP)?.conditions).toEqual({
      ready: false,
      serving: false,
      terminating: false,
    });
    kubelet.holdReady.clear();
    kubelet.kick();
    if (KUBECTL) {
      const r = await kubectl(['get', 'endpoints', 'web', '--no-headers']);
      expect(r.stdout).toMatch(/^web\s+10\.250\.0\.\d+:\d+/);
    }
  });

  it('resolves a named targetPort per pod: pods with different port numbers land in different subsets', async () => {
    const mk = (name: string, port: number): Pod =>
      ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default', labels: { app: 'mixed' } },
        spec: { containers: [{ name: 'c', image: 'x', ports: [{ name: 'web', containerPort: port }] }] },
      }) as Pod;
    await client.create(RESOURCE_REFS.pods, mk('mixed-a', 8080));
    await client.create(RESOURCE_REFS.pods, mk('mixed-b', 9090));
    await client.create(RESOURCE_REFS.pods, {
      ...mk('mixed-c', 1),
      spec: { containers: [{ name: 'c', image: 'x' }] },
    } as Pod);
    await client.create(RESOURCE_REFS.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'mixed', namespace: 'default' },
      spec: { selector: { app: 'mixed' }, ports: [{ port: 80, targetPort: 'web' }] },
    } as unknown as KubeObject);
    await waitFor(
      async () => {
        const e = await client.get<EndpointsObject>(RESOURCE_REFS.endpoints, 'default', 'mixed').catch(() => undefined);
        return (e?.subsets ?? []).length === 2;
      },
      10_000,
      'two subsets',
    );
    const e = await client.get<EndpointsObject>(RESOURCE_REFS.endpoints, 'default', 'mixed');
    expect(e.subsets?.map((s) => s.ports?.[0]?.port).sort()).toEqual([8080, 9090]);
    const slices = (
      await client.list<EndpointSliceObject>(RESOURCE_REFS.endpointslices, {
        namespace: 'default',
        labelSelector: 'kubernetes.io/service-name=mixed',
      })
    ).items;
    expect(slices.map((s) => s.ports?.[0]?.port).sort()).toEqual([8080, 9090]);
    for (const n of ['mixed-a', 'mixed-b', 'mixed-c']) await client.delete(RESOURCE_REFS.pods, 'default', n);
    await waitFor(
      async () => {
        const x = await client.get<EndpointsObject>(RESOURCE_REFS.endpoints, 'default', 'mixed');
        return (x.subsets ?? []).length === 0;
      },
      10_000,
      'endpoints emptied',
    );
    await client.delete(RESOURCE_REFS.services, 'default', 'mixed');
    await waitFor(
      async () =>
        await client.get(RESOURCE_REFS.endpoints, 'default', 'mixed').then(
          () => false,
          () => true,
        ),
      10_000,
      'endpoints removed with the service',
    );
  });

  it('mirrors user Endpoints of a selector-less Service and points `kubernetes` at the API server', async () => {
    await client.create(RESOURCE_REFS.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'ext', namespace: 'default' },
      spec: { ports: [{ name: 'pg', port: 5432 }] },
    } as unknown as KubeObject);
    await client.create(RESOURCE_REFS.endpoints, {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'ext', namespace: 'default' },
      subsets: [{ addresses: [{ ip: '192.0.2.10' }], ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] }],
    } as unknown as KubeObject);
    await waitFor(
      async () => {
        const l = await client.list<EndpointSliceObject>(RESOURCE_REFS.endpointslices, {
          namespace: 'default',
          labelSelector: 'kubernetes.io/service-name=ext',
        });
        return l.items.length === 1;
      },
      10_000,
      'mirrored slice',
    );
    const m = (
      await client.list<EndpointSliceObject>(RESOURCE_REFS.endpointslices, {
        namespace: 'default',
        labelSelector: 'kubernetes.io/service-name=ext',
      })
    ).items[0]!;
    expect(m.metadata.labels?.['endpointslice.kubernetes.io/managed-by']).toBe(
      'endpointslicemirroring-controller.k8s.io',
    );
    expect(m.endpoints?.[0]?.addresses).toEqual(['192.0.2.10']);
    expect(m.ports).toEqual([{ name: 'pg', port: 5432, protocol: 'TCP' }]);

    const port = Number(new URL(client.config.server).port);
    await waitFor(
      async () =>
        (await client.get<EndpointsObject>(RESOURCE_REFS.endpoints, 'default', 'kubernetes').catch(() => undefined)) !==
        undefined,
      10_000,
      'kubernetes endpoints',
    );
    const k = await client.get<EndpointsObject>(RESOURCE_REFS.endpoints, 'default', 'kubernetes');
    expect(k.subsets).toEqual([
      { addresses: [{ ip: '10.244.210.1' }], ports: [{ name: 'https', port, protocol: 'TCP' }] },
    ]);
    const ks = await client.get<EndpointSliceObject>(RESOURCE_REFS.endpointslices, 'default', 'kubernetes');
    expect(ks.endpoints?.[0]?.addresses).toEqual(['10.244.210.1']);
    expect(ks.ports).toEqual([{ name: 'https', port, protocol: 'TCP' }]);
  });

  it('creates kube-dns and coredns and keeps the DNS snapshot current', async () => {
    const svc = await client.get<Service>(RESOURCE_REFS.services, 'kube-system', 'kube-dns');
    expect(svc.spec.clusterIP).toBe('10.96.0.10');
    expect(svc.spec.ports?.map((p) => [p.name, p.port, p.protocol])).toEqual([
      ['dns', 53, 'UDP'],
      ['dns-tcp', 53, 'TCP'],
    ]);
    const d = await client.get<Deployment>(RESOURCE_REFS.deployments, 'kube-system', 'coredns');
    expect(d.spec.template.metadata?.labels).toEqual({ 'k8s-app': 'kube-dns' });
    expect(d.spec.template.spec.containers[0]?.image).toBe('registry.k8s.io/coredns/coredns:v1.11.1');
    await waitFor(
      async () => {
        await dns.flush();
        const snap = JSON.parse(readFileSync(dns.snapshotPath, 'utf8'));
        const web = snap.endpoints.find((e: { service: string }) => e.service === 'web');
        return snap.services.some((s: { name: string }) => s.name === 'web') && web?.endpoints.length === 2;
      },
      10_000,
      'snapshot has web',
    );
    const snap = JSON.parse(readFileSync(dns.snapshotPath, 'utf8'));
    const web = snap.services.find((s: { name: string }) => s.name === 'web');
    const webSvc = await client.get<Service>(RESOURCE_REFS.services, 'default', 'web');
    expect(web.clusterIPs).toEqual([webSvc.spec.clusterIP]);
    expect(snap.services.find((s: { name: string }) => s.name === 'kube-dns').clusterIPs).toEqual(['10.96.0.10']);
  });

  it('deleting a Deployment removes its ReplicaSets and pods (garbage collection through ownerReferences)', async () => {
    await client.delete(RESOURCE_REFS.deployments, 'default', 'roll');
    await waitFor(
      async () => (await pods('roll-')).length === 0 && (await rsOf('roll')).length === 0,
      15_000,
      'roll gone',
    );
    expect(logs.filter((l) => /sync .*: /.test(l) && !/conflict|the object has been modified/i.test(l))).toEqual([]);
  });
});
