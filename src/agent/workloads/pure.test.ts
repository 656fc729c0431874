/**
 * The pure parts of the workload controllers: template hash, rolling-update arithmetic, Endpoints/EndpointSlice
 * construction, the kubelet's service environment, pod status mapping, DNS snapshot, node settings.
 */
import { describe, expect, it } from 'vitest';
import type { Pod, Service } from '../../api/types.js';
import type { PodRuntimeStatus } from '../../runtime/types.js';
import { buildDnsSnapshot, corednsDeployment, kubeDnsService } from './cluster-dns.js';
import { defaultNetnsPrefix, defaultNodeName, nodeConfigFromEnv, resolveNodeConfig } from './config.js';
import {
  buildEndpointSubsets,
  buildSliceContents,
  MAX_ENDPOINTS_PER_SLICE,
  mirrorSliceContents,
  resolveTargetPort,
} from './endpoints.js';
import type { EndpointSliceObject } from './endpoints-controller.js';
import { fnv1a32, podTemplateHash, safeEncode, templatesEqual } from './hash.js';
import { apiEndpointFor } from './index.js';
import { podStatusFromRuntime, runPodSpec, toSeconds } from './pod-status.js';
import { deletionOrder } from './replicaset-controller.js';
import {
  deploymentComplete,
  deploymentCounts,
  isScalingEvent,
  newRsReplicas,
  proportionalScale,
  type RsView,
  resolveFenceposts,
  scaleDownOld,
  scaledValue,
} from './rollout.js';
import { podServiceEnv, serviceEnv } from './service-env.js';

const template = {
  metadata: { labels: { app: 'web' } },
  spec: { containers: [{ name: 'c', image: 'nginx' }] },
};

describe('pod-template-hash', () => {
  it('is FNV-1a 32 spelled with the safe alphabet, stable across key order, ignoring the hash label', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(safeEncode('0123456789')).toBe('456789bcdf'); // as apimachinery: real hashes look like 5d59d67564
    const h = podTemplateHash(template);
    expect(h).toMatch(/^[4-9bcdf]{1,10}$/);
    const reordered = { spec: { containers: [{ image: 'nginx', name: 'c' }] }, metadata: { labels: { app: 'web' } } };
    expect(podTemplateHash(reordered)).toBe(h);
    const labelled = { ...template, metadata: { labels: { app: 'web', 'pod-template-hash': h } } };
    expect(podTemplateHash(labelled)).toBe(h);
    expect(templatesEqual(labelled, template)).toBe(true);
    expect(podTemplateHash({ ...template, spec: { containers: [{ name: 'c', image: 'nginx:2' }] } })).not.toBe(h);
    expect(podTemplateHash(template, 1)).not.toBe(h);
  });
});

const rs = (name: string, replicas: number, available = replicas, created = name): RsView => ({
  name,
  created,
  replicas,
  current: replicas,
  ready: available,
  available,
});

describe('rolling update arithmetic', () => {
  it('resolves maxSurge up and maxUnavailable down, never both 0', () => {
    expect(scaledValue('25%', 10, true)).toBe(3);
    expect(scaledValue('25%', 10, false)).toBe(2);
    expect(scaledValue(2, 10, true)).toBe(2);
    expect(scaledValue('3', 10, true)).toBe(3);
    expect(resolveFenceposts(undefined, undefined, 4)).toEqual({ surge: 1, unavailable: 1 });
    expect(resolveFenceposts(undefined, undefined, 1)).toEqual({ surge: 1, unavailable: 0 });
    expect(resolveFenceposts(0, 0, 3)).toEqual({ surge: 0, unavailable: 1 });
    expect(resolveFenceposts('50%', '0%', 2)).toEqual({ surge: 1, unavailable: 0 });
  });

  it('grows the new ReplicaSet by the surge budget only', () => {
    const fence = { surge: 1 };
    expect(newRsReplicas(4, fence, undefined, [rs('old', 4)])).toBe(1);
    expect(newRsReplicas(4, fence, rs('new', 1), [rs('old', 4), rs('new', 1)])).toBe(1);
    expect(newRsReplicas(4, fence, rs('new', 1), [rs('old', 3), rs('new', 1)])).toBe(2);
    expect(newRsReplicas(4, fence, rs('new', 6), [rs('new', 6)])).toBe(4);
    expect(newRsReplicas(2, { surge: 1 }, undefined, [])).toBe(2);
  });

  it('scales old ReplicaSets down while keeping minAvailable; unhealthy replicas go first', () => {
    const fence = { unavailable: 1 };
    // 4 old available, new 1 not ready: one old may go.
    expect([...scaleDownOld(4, fence, rs('new', 1, 0), [rs('old', 4)])]).toEqual([['old', 3]]);
    // new 2 not ready yet: nothing may go.
    expect([...scaleDownOld(4, fence, rs('new', 2, 0), [rs('old', 3)])]).toEqual([]);
    // new 2 ready: two more old may go (5 total, 5 available, min 3).
    expect([...scaleDownOld(4, fence, rs('new', 2, 2), [rs('old', 3)])]).toEqual([['old', 1]]);
    // Unhealthy old replicas are removed even when nothing could otherwise go.
    expect([...scaleDownOld(2, { unavailable: 0 }, rs('new', 1, 1), [rs('old', 2, 1)])]).toEqual([['old', 1]]);
    // Oldest first.
    const out = scaleDownOld(4, fence, rs('new', 2, 2), [rs('b', 1, 1, '2'), rs('a', 2, 2, '1')]);
    expect([...out]).toEqual([['a', 0]]);
  });

  it('spreads a scaling event over active ReplicaSets in proportion', () => {
    const a = { ...rs('a', 2, 2, '1'), maxReplicas: 5, desiredReplicas: 4 };
    const b = { ...rs('b', 3, 3, '2'), maxReplicas: 5, desiredReplicas: 4 };
    expect(isScalingEvent(8, [a, b])).toBe(true);
    expect(isScalingEvent(4, [a, b])).toBe(false);
    const up = proportionalScale(8, { surge: 2 }, [a, b], 5);
    expect((up.get('a') ?? 0) + (up.get('b') ?? 0)).toBe(10);
    expect(up.get('b')).toBeGreaterThan(up.get('a') ?? 0);
    const down = proportionalScale(2, { surge: 1 }, [a, b], 5);
    expect((down.get('a') ?? 0) + (down.get('b') ?? 0)).toBe(3);
    const zero = proportionalScale(0, { surge: 0 }, [a, b], 5);
    expect([...zero.values()]).toEqual([0, 0]);
  });

  it('computes the status counts and completeness', () => {
    const n = { ...rs('new', 2, 2), current: 2 };
    const o = { ...rs('old', 1, 1), current: 1 };
    const c = deploymentCounts(n, [o, n]);
    expect(c).toEqual({
      replicas: 3,
      updatedReplicas: 2,
      readyReplicas: 3,
      availableReplicas: 3,
      unavailableReplicas: 0,
    });
    expect(deploymentComplete(2, c)).toBe(false);
    expect(deploymentComplete(2, deploymentCounts(n, [n]))).toBe(true);
  });
});

const pod = (
  name: string,
  opts: Partial<{ ip: string; ready: boolean; deleting: boolean; ports: unknown[]; phase: string; node: string }> = {},
): Pod =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      labels: { app: 'x' },
      ...(opts.deleting ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}),
    },
    spec: {
      nodeName: opts.node,
      containers: [{ name: 'c', image: 'i', ports: opts.ports ?? [{ name: 'http', containerPort: 8080 }] }],
    },
    status: {
      phase: opts.phase ?? 'Running',
      ...(opts.ip ? { podIP: opts.ip } : {}),
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  }) as Pod;

const svc = (ports: Service['spec']['ports'], extra: Partial<Service['spec']> = {}): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'x', namespace: 'default', uid: 'svc-uid' },
  spec: { selector: { app: 'x' }, clusterIP: '10.96.5.5', ports, ...extra },
});

describe('endpoints', () => {
  it('resolves targetPort by number, numeric string, or name with the protocol', () => {
    const p = pod('a', {
      ports: [
        { name: 'dns', containerPort: 53, protocol: 'UDP' },
        { name: 'web', containerPort: 80 },
      ],
    });
    expect(resolveTargetPort({ port: 1 }, p)).toBe(1);
    expect(resolveTargetPort({ port: 1, targetPort: 9 }, p)).toBe(9);
    expect(resolveTargetPort({ port: 1, targetPort: '9' }, p)).toBe(9);
    expect(resolveTargetPort({ port: 1, targetPort: 'web' }, p)).toBe(80);
    expect(resolveTargetPort({ port: 1, targetPort: 'dns', protocol: 'UDP' }, p)).toBe(53);
    expect(resolveTargetPort({ port: 1, targetPort: 'dns', protocol: 'TCP' }, p)).toBeUndefined();
    expect(resolveTargetPort({ port: 1, targetPort: 'nope' }, p)).toBeUndefined();
  });

  it('puts ready pods in addresses, unready in notReadyAddresses, and leaves out terminating, terminal and IP-less pods', () => {
    const s = svc([{ name: 'http', port: 80, targetPort: 'http' }]);
    const pods = [
      pod('b', { ip: '10.0.0.10' }),
      pod('a', { ip: '10.0.0.9' }),
      pod('u', { ip: '10.0.0.11', ready: false }),
      pod('t', { ip: '10.0.0.12', deleting: true }),
      pod('f', { ip: '10.0.0.13', phase: 'Failed' }),
      pod('n'),
    ];
    const sub = buildEndpointSubsets(s, pods);
    expect(sub).toHaveLength(1);
    expect(sub[0]?.addresses?.map((a) => a.ip)).toEqual(['10.0.0.9', '10.0.0.10']);
    expect(sub[0]?.notReadyAddresses?.map((a) => a.ip)).toEqual(['10.0.0.11']);
    expect(sub[0]?.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(sub[0]?.addresses?.[0]?.targetRef).toEqual({ kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' });
    const slices = buildSliceContents(s, pods);
    expect(slices).toHaveLength(1);
    const conds = Object.fromEntries(slices[0]!.endpoints.map((e) => [e.addresses[0], e.conditions]));
    expect(conds).toEqual({
      '10.0.0.9': { ready: true, serving: true, terminating: false },
      '10.0.0.10': { ready: true, serving: true, terminating: false },
      '10.0.0.11': { ready: false, serving: false, terminating: false },
      '10.0.0.12': { ready: false, serving: true, terminating: true },
    });
  });

  it('publishNotReadyAddresses, headless services, empty services, big services', () => {
    const s = svc([{ port: 80 }], { publishNotReadyAddresses: true });
    const sub = buildEndpointSubsets(s, [pod('u', { ip: '10.0.0.11', ready: false })]);
    expect(sub[0]?.addresses?.map((a) => a.ip)).toEqual(['10.0.0.11']);
    const headless = svc([], { clusterIP: 'None' });
    expect(buildEndpointSubsets(headless, [pod('a', { ip: '10.0.0.1' })])).toEqual([
      { addresses: [{ ip: '10.0.0.1', targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' } }] },
    ]);
    expect(buildSliceContents(svc([{ port: 80 }]), [])).toEqual([{ addressType: 'IPv4', endpoints: [], ports: [] }]);
    const many = Array.from({ length: 250 }, (_, i) => pod(`p${i}`, { ip: `10.1.${i >> 8}.${i & 255}` }));
    const big = buildSliceContents(svc([{ port: 80 }]), many);
    expect(big.map((b) => b.endpoints.length)).toEqual([MAX_ENDPOINTS_PER_SLICE, MAX_ENDPOINTS_PER_SLICE, 50]);
  });

  it('mirrors user Endpoints into slices', () => {
    expect(
      mirrorSliceContents([
        {
          addresses: [{ ip: '192.0.2.1' }],
          notReadyAddresses: [{ ip: '192.0.2.2' }],
          ports: [{ port: 5432, protocol: 'TCP' }],
        },
      ]),
    ).toEqual([
      {
        addressType: 'IPv4',
        ports: [{ port: 5432, protocol: 'TCP' }],
        endpoints: [
          { addresses: ['192.0.2.1'], conditions: { ready: true, serving: true, terminating: false } },
          { addresses: ['192.0.2.2'], conditions: { ready: false, serving: false, terminating: false } },
        ],
      },
    ]);
  });
});

describe('service environment', () => {
  it('gives the kubelet variables, uppercased with - → _', () => {
    const s: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'my-db', namespace: 'default' },
      spec: {
        clusterIP: '10.96.0.20',
        ports: [
          { name: 'pg', port: 5432, protocol: 'TCP' },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
        ],
      },
    };
    expect(Object.fromEntries(serviceEnv(s))).toEqual({
      MY_DB_SERVICE_HOST: '10.96.0.20',
      MY_DB_SERVICE_PORT: '5432',
      MY_DB_SERVICE_PORT_PG: '5432',
      MY_DB_SERVICE_PORT_DNS_UDP: '53',
      MY_DB_PORT: 'tcp://10.96.0.20:5432',
      MY_DB_PORT_5432_TCP: 'tcp://10.96.0.20:5432',
      MY_DB_PORT_5432_TCP_PROTO: 'tcp',
      MY_DB_PORT_5432_TCP_PORT: '5432',
      MY_DB_PORT_5432_TCP_ADDR: '10.96.0.20',
      MY_DB_PORT_53_UDP: 'udp://10.96.0.20:53',
      MY_DB_PORT_53_UDP_PROTO: 'udp',
      MY_DB_PORT_53_UDP_PORT: '53',
      MY_DB_PORT_53_UDP_ADDR: '10.96.0.20',
    });
    expect(serviceEnv({ ...s, spec: { ...s.spec, clusterIP: 'None' } })).toEqual([]);
  });

  it('includes the namespace services (unless service links are off) and always kubernetes', () => {
    const mk = (ns: string, name: string, ip: string): Service => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: ns },
      spec: { clusterIP: ip, ports: [{ name: 'https', port: 443 }] },
    });
    const all = [
      mk('default', 'kubernetes', '10.96.0.1'),
      mk('app', 'web', '10.96.0.30'),
      mk('other', 'x', '10.96.0.31'),
    ];
    const env = podServiceEnv('app', all);
    expect(env.KUBERNETES_SERVICE_HOST).toBe('10.96.0.1');
    expect(env.KUBERNETES_SERVICE_PORT).toBe('443');
    expect(env.KUBERNETES_SERVICE_PORT_HTTPS).toBe('443');
    expect(env.WEB_SERVICE_HOST).toBe('10.96.0.30');
    expect(env.X_SERVICE_HOST).toBeUndefined();
    const off = podServiceEnv('app', all, false);
    expect(off.WEB_SERVICE_HOST).toBeUndefined();
    expect(off.KUBERNETES_SERVICE_HOST).toBe('10.96.0.1');
  });
});

describe('pod status and run spec', () => {
  it('maps the runtime status with whole-second times, host IP and pod IPs', () => {
    const rt: PodRuntimeStatus = {
      phase: 'Running',
      startTime: '2025-01-01T00:00:00.123Z',
      podIP: '10.244.0.5',
      podIPs: [{ ip: '10.244.0.5' }],
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:00:01.999Z' }],
      containerStatuses: [
        {
          name: 'c',
          image: 'i',
          imageID: '',
          ready: true,
          started: true,
          restartCount: 1,
          state: { running: { startedAt: '2025-01-01T00:00:02.5Z' } },
          lastState: { terminated: { exitCode: 2, reason: 'Error', finishedAt: '2025-01-01T00:00:02.1Z' } },
        },
      ],
    };
    const s = podStatusFromRuntime(rt, '192.0.2.1');
    expect(s).toMatchObject({
      phase: 'Running',
      podIP: '10.244.0.5',
      hostIP: '192.0.2.1',
      hostIPs: [{ ip: '192.0.2.1' }],
    });
    expect(s.startTime).toBe('2025-01-01T00:00:00Z');
    expect(s.conditions?.[0]?.lastTransitionTime).toBe('2025-01-01T00:00:01Z');
    const cs = s.containerStatuses as {
      state: { running: { startedAt: string } };
      lastState: { terminated: { finishedAt: string } };
    }[];
    expect(cs[0]?.state.running.startedAt).toBe('2025-01-01T00:00:02Z');
    expect(cs[0]?.lastState.terminated.finishedAt).toBe('2025-01-01T00:00:02Z');
    expect(toSeconds(undefined)).toBeUndefined();
  });

  it('builds the RunPodSpec with the injected env and dnsPolicy None nameservers', () => {
    const p = pod('a');
    p.spec.restartPolicy = 'OnFailure';
    p.spec.terminationGracePeriodSeconds = 5;
    const s = runPodSpec(p, { A: '1' }, { nodeName: 'n1' });
    expect(s).toMatchObject({ uid: 'uid-a', name: 'a', restartPolicy: 'OnFailure', terminationGracePeriodSeconds: 5 });
    expect(s.injectedEnv).toEqual({ A: '1' });
    expect(s.nodeName).toBe('n1');
    expect(s.dnsServers).toBeUndefined();
    const q = pod('b');
    Object.assign(q.spec, { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4'] } });
    expect(runPodSpec(q, {}, { nodeName: 'n1' }).dnsServers).toEqual(['1.2.3.4']);
  });

  it('deletes unscheduled, then pending, then unready pods first', () => {
    const ready = pod('ready', { node: 'n' });
    const unready = pod('unready', { node: 'n', ready: false });
    const pending = pod('pending', { node: 'n', phase: 'Pending' });
    const unscheduled = pod('unscheduled', { phase: 'Pending' });
    expect(deletionOrder([ready, unready, pending, unscheduled]).map((p) => p.metadata.name)).toEqual([
      'unscheduled',
      'pending',
      'unready',
      'ready',
    ]);
  });
});

describe('cluster DNS objects and snapshot', () => {
  it('defines kube-dns at 10.96.0.10 and coredns reading the snapshot', () => {
    expect(kubeDnsService().spec.clusterIP).toBe('10.96.0.10');
    const d = corednsDeployment('/h/dns/snapshot.json');
    expect(d.metadata).toMatchObject({ name: 'coredns', namespace: 'kube-system' });
    expect(d.spec.template.spec.containers[0]?.env).toEqual([
      { name: 'PODWALL_DNS_SNAPSHOT', value: '/h/dns/snapshot.json' },
    ]);
  });

  it('builds the snapshot from services and all slices of each service', () => {
    const s: Service = { ...svc([{ name: 'http', port: 80 }]), metadata: { name: 'web', namespace: 'default' } };
    const slice = (ips: string[], ready = true): EndpointSliceObject => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `web-${ips[0]}`, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready, serving: ready, terminating: false } })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    const snap = buildDnsSnapshot([s], [slice(['10.0.0.2']), slice(['10.0.0.1'], false)]);
    expect(snap.services).toEqual([
      {
        namespace: 'default',
        name: 'web',
        type: 'ClusterIP',
        clusterIPs: ['10.96.5.5'],
        ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
      },
    ]);
    expect(snap.endpoints).toEqual([
      {
        namespace: 'default',
        service: 'web',
        endpoints: [
          { ip: '10.0.0.1', ready: false },
          { ip: '10.0.0.2', ready: true },
        ],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    ]);
  });
});

describe('node settings', () => {
  it('derives names and reads PODWALL_* overrides', () => {
    expect(defaultNodeName('My_Host.example')).toBe('my-host.example');
    expect(defaultNodeName('__')).toBe('podwall');
    expect(defaultNetnsPrefix('/var/lib/podwall')).toMatch(/^pw-[0-9a-f]{4}-$/);
    expect(defaultNetnsPrefix('/a')).not.toBe(defaultNetnsPrefix('/b'));
    expect(
      nodeConfigFromEnv({
        PODWALL_POD_CIDR: '10.1.0.0/24',
        PODWALL_POD_ROUTES: '10.96.0.0/12, 10.1.0.0/16',
        PODWALL_NODE_NAME: 'n',
      }),
    ).toEqual({ podCIDR: '10.1.0.0/24', podRoutes: ['10.96.0.0/12', '10.1.0.0/16'], nodeName: 'n' });
    const c = resolveNodeConfig('/h');
    expect(c).toMatchObject({ podCIDR: '10.244.0.0/16', clusterDNS: '10.96.0.10', clusterDomain: 'cluster.local' });
    expect(() => resolveNodeConfig('/h', { netnsPrefix: 'x-' })).toThrow(/pw-/);
    expect(apiEndpointFor(new URL('https://127.0.0.1:6443'), '10.244.0.0/16')).toEqual({
      ip: '10.244.0.1',
      port: 6443,
    });
  });
});
