/**
 * Cluster DNS for the standalone node. At first start it creates (when absent) the `coredns` Deployment in
 * `kube-system` (label `k8s-app: kube-dns`, image `registry.k8s.io/coredns/coredns:v1.11.1`, which the image
 * catalog runs as podwall's DNS program) and the `kube-dns` Service (ClusterIP 10.96.0.10, 53/UDP `dns`,
 * 53/TCP `dns-tcp`). Then it keeps the DNS snapshot file that program reads (`PODWALL_DNS_SNAPSHOT`) up to date
 * from Service and EndpointSlice informers. Pods reach it as `nameserver 10.96.0.10` (the runtime's resolv.conf;
 * the datapath DNATs the ClusterIP to the coredns pod).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Deployment, KubeObject, Service } from '../../api/types.js';
import { type DnsEndpoints, type DnsServicePort, type DnsSnapshot, dnsServiceFromK8s } from '../../dns/records.js';
import { writeDnsSnapshot } from '../../dns/snapshot.js';
import { KubeApiError, type KubeClient } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { CLUSTER_DNS_IP } from './config.js';
import { SERVICE_NAME_LABEL } from './endpoints.js';
import type { EndpointSliceObject } from './endpoints-controller.js';
import { type SharedInformer, sharedInformer } from './informers.js';
import type { WorkloadComponent, WorkloadContext } from './types.js';

export const COREDNS_IMAGE = 'registry.k8s.io/coredns/coredns:v1.11.1';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'podwall' };

export function dnsSnapshotPath(home: string): string {
  return join(home, 'dns', 'snapshot.json');
}

/** The `coredns` Deployment podwall creates in kube-system. */
export function corednsDeployment(snapshotPath: string): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'coredns',
      namespace: 'kube-system',
      labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS', ...MANAGED_BY },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
      template: {
        metadata: { labels: { 'k8s-app': 'kube-dns' } },
        spec: {
          containers: [
            {
              name: 'coredns',
              image: COREDNS_IMAGE,
              args: ['-conf', '/etc/coredns/Corefile'],
              env: [{ name: 'PODWALL_DNS_SNAPSHOT', value: snapshotPath }],
              ports: [
                { name: 'dns', containerPort: 53, protocol: 'UDP' },
                { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
              ],
              readinessProbe: { tcpSocket: { port: 53 }, periodSeconds: 1, timeoutSeconds: 1 },
            },
          ],
          dnsPolicy: 'Default',
          priorityClassName: 'system-cluster-critical',
        },
      },
    },
  } as Deployment;
}

/** The `kube-dns` Service: ClusterIP 10.96.0.10, 53/UDP `dns` and 53/TCP `dns-tcp`. */
export function kubeDnsService(clusterIP = CLUSTER_DNS_IP): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kube-dns',
      namespace: 'kube-system',
      labels: {
        'k8s-app': 'kube-dns',
        'kubernetes.io/cluster-service': 'true',
        'kubernetes.io/name': 'CoreDNS',
        ...MANAGED_BY,
      },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      selector: { 'k8s-app': 'kube-dns' },
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
      ],
    },
  };
}

/** The DNS snapshot of Services and their EndpointSlices (all slices of a Service merged). */
export function buildDnsSnapshot(services: readonly Service[], slices: readonly EndpointSliceObject[]): DnsSnapshot {
  const eps = new Map<string, DnsEndpoints>();
  for (const s of slices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc || (s.addressType ?? 'IPv4') !== 'IPv4') continue;
    const k = `${s.metadata.namespace}/${svc}`;
    let e = eps.get(k);
    if (!e) {
      e = { namespace: s.metadata.namespace ?? 'default', service: svc, endpoints: [] };
      eps.set(k, e);
    }
    for (const ep of s.endpoints ?? []) {
      for (const ip of ep.addresses ?? [])
        e.endpoints.push({
          ip,
          ready: ep.conditions?.ready !== false,
          ...(ep.hostname ? { hostname: ep.hostname } : {}),
        });
    }
    if (!e.ports && (s.ports ?? []).length > 0)
      e.ports = (s.ports ?? []).map(
        (p): DnsServicePort => ({
          name: p.name,
          port: p.port,
          protocol: (p.protocol ?? 'TCP') as DnsServicePort['protocol'],
        }),
      );
  }
  const sorted = [...eps.values()].sort((a, b) =>
    `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`),
  );
  for (const e of sorted) e.endpoints.sort((a, b) => a.ip.localeCompare(b.ip));
  return {
    kind: 'PodwallDnsSnapshot',
    version: 1,
    services: services
      .map(dnsServiceFromK8s)
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)),
    endpoints: sorted,
  };
}

export interface ClusterDnsOptions {
  /** Create the coredns Deployment and kube-dns Service when absent. Default true. */
  createObjects?: boolean;
  /** Snapshot file (default `$PODWALL_HOME/dns/snapshot.json`). */
  snapshotPath?: string;
  clusterIP?: string;
}

export class ClusterDns implements WorkloadComponent {
  readonly name = 'cluster-dns';
  snapshotPath = '';
  private client!: KubeClient;
  private log: (l: string) => void = () => {};
  private services!: SharedInformer<Service>;
  private slices!: SharedInformer<EndpointSliceObject>;
  private timer?: NodeJS.Timeout;
  private lastWritten = '';
  private writing: Promise<void> = Promise.resolve();
  private writes = 0;

  constructor(private readonly opts: ClusterDnsOptions = {}) {}

  async start(ctx: WorkloadContext): Promise<void> {
    this.client = ctx.client;
    this.log = (l) => ctx.log(`${this.name}: ${l}`);
    this.snapshotPath = this.opts.snapshotPath ?? dnsSnapshotPath(ctx.home);
    await mkdir(join(this.snapshotPath, '..'), { recursive: true });
    const onError = (e: unknown) => this.log(`watch: ${(e as Error).message}`);
    this.services = sharedInformer<Service>(ctx.client, RESOURCE_REFS.services, onError);
    this.slices = sharedInformer<EndpointSliceObject>(ctx.client, RESOURCE_REFS.endpointslices, onError);
    await Promise.all([this.services.informer.waitForSync(), this.slices.informer.waitForSync()]);
    // The program must find a snapshot when it starts.
    await this.write();
    const changed = () => this.schedule();
    for (const inf of [this.services, this.slices] as SharedInformer<KubeObject>[])
      inf.on({ onAdd: changed, onUpdate: changed, onDelete: changed });
    if (this.opts.createObjects ?? true) await this.ensureObjects();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all([this.services?.release(), this.slices?.release()]);
    await this.writing;
  }

  status() {
    return { ok: true, message: `${this.snapshotPath} (${this.writes} writes)` };
  }

  /** Resolves once the snapshot reflects the informers (tests). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.write();
    }
    await this.writing;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, 10);
  }

  private write(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const snap = buildDnsSnapshot(this.services.informer.list(), this.slices.informer.list());
      const text = JSON.stringify(snap);
      if (text === this.lastWritten) return;
      try {
        await writeDnsSnapshot(this.snapshotPath, snap);
        this.lastWritten = text;
        this.writes++;
      } catch (e) {
        this.log(`writing ${this.snapshotPath}: ${(e as Error).message}`);
      }
    });
    return this.writing;
  }

  private async ensureObjects(): Promise<void> {
    const create = async (ref: (typeof RESOURCE_REFS)[keyof typeof RESOURCE_REFS], obj: KubeObject) => {
      try {
        await this.client.create(ref, obj);
        this.log(`created ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}`);
      } catch (e) {
        if (e instanceof KubeApiError && e.code === 409) return false;
        this.log(`creating ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}: ${(e as Error).message}`);
      }
      return true;
    };
    await create(RESOURCE_REFS.services, kubeDnsService(this.opts.clusterIP));
    const want = corednsDeployment(this.snapshotPath);
    if ((await create(RESOURCE_REFS.deployments, want)) === false) {
      // Ours from an earlier start with another home: point it at this snapshot.
      try {
        const cur = await this.client.get<Deployment>(RESOURCE_REFS.deployments, 'kube-system', 'coredns');
        const c = cur.spec.template.spec.containers.find((x) => x.name === 'coredns');
        const env = c?.env?.find((e) => e.name === 'PODWALL_DNS_SNAPSHOT');
        if (
          cur.metadata.labels?.['app.kubernetes.io/managed-by'] === 'podwall' &&
          c &&
          env?.value !== this.snapshotPath
        ) {
          await this.client.patch(
            RESOURCE_REFS.deployments,
            'kube-system',
            'coredns',
            {
              spec: {
                template: {
                  spec: {
                    containers: [
                      { name: 'coredns', env: [{ name: 'PODWALL_DNS_SNAPSHOT', value: this.snapshotPath }] },
                    ],
                  },
                },
              },
            },
            'strategic',
          );
        }
      } catch (e) {
        this.log(`checking coredns Deployment: ${(e as Error).message}`);
      }
    }
  }
}
