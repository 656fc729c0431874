import { describe, expect, it } from 'vitest';
import type { KubeObject, Pod, Service } from '../../api/types.js';
import { compile } from '../../policy/resolve/compile.js';
import {
  desiredState,
  type EndpointSlice,
  localEndpoints,
  type NodeObject,
  nodeHostIps,
  podInputs,
  serviceInputs,
  serviceStates,
  slicesByService,
} from './inputs.js';

function pod(name: string, ip: string, labels: Record<string, string>, extra: Partial<Pod> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }], nodeName: 'n1' },
    status: { phase: 'Running', podIP: ip },
    ...extra,
  } as Pod;
}

const svc: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    clusterIP: '10.96.0.20',
    selector: { app: 'web' },
    ports: [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
    ],
  },
};

const slice: EndpointSlice = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [
    { addresses: ['10.244.0.5'], conditions: { ready: true } },
    { addresses: ['10.244.0.6'], conditions: { ready: false } },
    { addresses: ['10.244.0.7'] },
  ],
  ports: [
    { name: 'http', port: 8080, protocol: 'TCP' },
    { name: 'dns', port: 5353, protocol: 'UDP' },
  ],
};

describe('enforcement inputs', () => {
  it('pods: IP only while alive, newest pod owns a reused IP, host-network pods are the node', () => {
    const pods = [
      pod('a', '10.244.0.5', { app: 'web' }),
      pod('done', '10.244.0.9', { app: 'x' }, { status: { phase: 'Succeeded', podIP: '10.244.0.9' } }),
      pod('old', '10.244.0.7', { app: 'y' }),
      {
        ...pod('new', '10.244.0.7', { app: 'y' }),
        metadata: { name: 'new', namespace: 'default', creationTimestamp: '2026-02-01T00:00:00Z' },
      } as Pod,
      pod('hostnet', '192.0.2.1', {}, { spec: { containers: [], hostNetwork: true } }),
      pod('pending', '', { app: 'web' }),
    ];
    const inputs = podInputs(pods);
    const ips = Object.fromEntries(inputs.map((p) => [p.name, p.ip]));
    expect(ips).toEqual({ a: '10.244.0.5', done: '', old: '', new: '10.244.0.7', pending: '' });
    expect(inputs.find((p) => p.name === 'a')!.ports).toEqual([{ name: 'http', port: 80, protocol: 'TCP' }]);
    expect(localEndpoints(pods, inputs, 'n1').map((e) => e.pod.name)).toEqual(['a', 'new']);
    expect(localEndpoints(pods, inputs, 'other')).toEqual([]);
  });

  it('services: one state per ClusterIP port, ready endpoints (nil ready = ready), slice port = resolved targetPort', () => {
    const slices = slicesByService([slice]);
    const states = serviceStates(
      [svc, { ...svc, metadata: { name: 'headless', namespace: 'default' }, spec: { ...svc.spec, clusterIP: 'None' } }],
      slices,
    );
    expect(states).toEqual([
      {
        key: 'default/web:dns',
        ip: '10.96.0.20',
        port: 53,
        protocol: 'UDP',
        backends: [
          { ip: '10.244.0.5', port: 5353 },
          { ip: '10.244.0.7', port: 5353 },
        ],
      },
      {
        key: 'default/web:http',
        ip: '10.96.0.20',
        port: 80,
        protocol: 'TCP',
        backends: [
          { ip: '10.244.0.5', port: 8080 },
          { ip: '10.244.0.7', port: 8080 },
        ],
      },
    ]);
    const selectorless = serviceInputs([{ ...svc, spec: { ...svc.spec, selector: undefined } }], slices);
    expect(selectorless[0]!.endpointIps).toEqual(['10.244.0.5', '10.244.0.7']);
  });

  it('node addresses: pod gateway of each pod CIDR and InternalIPs', () => {
    const node: NodeObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1' },
      spec: { podCIDR: '10.244.0.0/16', podCIDRs: ['10.244.0.0/16'] },
      status: {
        addresses: [
          { type: 'InternalIP', address: '192.168.1.10' },
          { type: 'Hostname', address: 'n1' },
        ],
      },
    };
    expect(nodeHostIps([node])).toEqual(['10.244.0.1', '192.168.1.10']);
    expect(nodeHostIps([node], 'n2')).toEqual([]);
  });

  it('desired state: pod /32s and CIDR identities in the ipcache, local endpoints with their compiled policy', () => {
    const pods = [
      pod(
        'a',
        '10.244.0.5',
        { app: 'web' },
        {
          metadata: {
            name: 'a',
            namespace: 'default',
            labels: { app: 'web' },
            annotations: { 'podwall.io/host-ifname': 'pw-abc' },
          },
        },
      ),
    ];
    const inputs = podInputs(pods);
    const policy = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'p', namespace: 'default' },
      spec: { endpointSelector: {}, egress: [{ toCIDR: ['192.0.2.0/24'] }] },
    } as KubeObject;
    const compiled = compile({
      namespaces: [{ name: 'default', labels: {} }],
      pods: inputs,
      services: [],
      policies: [policy as never],
    });
    const st = desiredState({
      compiled,
      endpoints: localEndpoints(pods, inputs),
      services: [],
      proxyPort: 15001,
      hostIps: ['10.244.0.1'],
    });
    const id = compiled.universe.podIdentity.get('default/a')!;
    expect(st.ipcache).toEqual([
      { prefix: '10.244.0.5/32', identity: id },
      { prefix: '192.0.2.0/24', identity: expect.any(Number) },
    ]);
    expect(st.ipcache[1]!.identity).toBeGreaterThanOrEqual(1 << 24);
    expect(st.endpoints).toEqual([
      {
        name: 'default/a',
        ip: '10.244.0.5',
        identity: id,
        hostIfname: 'pw-abc',
        policy: compiled.endpoints.get('default/a'),
      },
    ]);
    expect(st.hostIps).toEqual(['10.244.0.1']);
  });
});
