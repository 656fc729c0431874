/**
 * The cluster DNS data source: services and their endpoints, as the DNS server needs them. The server reads only
 * the `DnsRecords` interface; the agent feeds an `InMemoryDnsRecords` (or the coredns image program loads a JSON
 * snapshot into one). Nothing here does I/O.
 */
import type { Service } from '../api/types.js';

export type DnsProtocol = 'TCP' | 'UDP' | 'SCTP';

export interface DnsServicePort {
  name?: string;
  protocol: DnsProtocol;
  port: number;
}

export interface DnsService {
  namespace: string;
  name: string;
  /** ClusterIP (default), NodePort, LoadBalancer or ExternalName. */
  type?: string;
  /** Cluster IPs; empty for headless services (`clusterIP: None`). */
  clusterIPs: string[];
  /** ExternalName services answer a CNAME to this name. */
  externalName?: string;
  ports: DnsServicePort[];
}

export interface DnsEndpoint {
  ip: string;
  ready: boolean;
  /** For headless services: `<hostname>.<svc>.<ns>.svc.<zone>` resolves to this endpoint. */
  hostname?: string;
}

export interface DnsEndpoints {
  namespace: string;
  /** Name of the service these endpoints belong to. */
  service: string;
  endpoints: DnsEndpoint[];
  /** Endpoint ports (named ones give headless SRV records); defaults to the service ports. */
  ports?: DnsServicePort[];
}

export interface DnsRecords {
  lookupService(namespace: string, name: string): DnsService | undefined;
  /** Endpoints of a service (all of them; the server keeps only ready ones). */
  lookupEndpoints(namespace: string, service: string): DnsEndpoints | undefined;
  /** True when any service exists in the namespace (decides NODATA vs NXDOMAIN for `<ns>.svc.<zone>`). */
  hasNamespace(namespace: string): boolean;
  /** Bumped on every change; the SOA serial. */
  readonly serial: number;
}

/** The JSON snapshot the agent writes for the coredns image program. */
export interface DnsSnapshot {
  kind: 'PodwallDnsSnapshot';
  version: 1;
  services: DnsService[];
  endpoints: DnsEndpoints[];
}

const key = (ns: string, name: string) => `${ns}/${name}`;

export class InMemoryDnsRecords implements DnsRecords {
  private services = new Map<string, DnsService>();
  private endpoints = new Map<string, DnsEndpoints>();
  private namespaces = new Map<string, number>();
  private _serial = 1;

  get serial(): number {
    return this._serial;
  }

  /** Replaces every service. */
  setServices(services: readonly DnsService[]): void {
    this.services = new Map(services.map((s) => [key(s.namespace, s.name), normalizeService(s)]));
    this.namespaces = new Map();
    for (const s of this.services.values())
      this.namespaces.set(s.namespace, (this.namespaces.get(s.namespace) ?? 0) + 1);
    this._serial++;
  }

  /** Replaces every endpoints entry. */
  setEndpoints(endpoints: readonly DnsEndpoints[]): void {
    this.endpoints = new Map(endpoints.map((e) => [key(e.namespace, e.service), e]));
    this._serial++;
  }

  upsertService(s: DnsService): void {
    const k = key(s.namespace, s.name);
    if (!this.services.has(k)) this.namespaces.set(s.namespace, (this.namespaces.get(s.namespace) ?? 0) + 1);
    this.services.set(k, normalizeService(s));
    this._serial++;
  }

  deleteService(namespace: string, name: string): void {
    if (this.services.delete(key(namespace, name))) {
      const n = (this.namespaces.get(namespace) ?? 1) - 1;
      if (n <= 0) this.namespaces.delete(namespace);
      else this.namespaces.set(namespace, n);
      this._serial++;
    }
  }

  upsertEndpoints(e: DnsEndpoints): void {
    this.endpoints.set(key(e.namespace, e.service), e);
    this._serial++;
  }

  deleteEndpoints(namespace: string, service: string): void {
    if (this.endpoints.delete(key(namespace, service))) this._serial++;
  }

  lookupService(namespace: string, name: string): DnsService | undefined {
    return this.services.get(key(namespace, name));
  }

  lookupEndpoints(namespace: string, service: string): DnsEndpoints | undefined {
    return this.endpoints.get(key(namespace, service));
  }

  hasNamespace(namespace: string): boolean {
    return this.namespaces.has(namespace);
  }

  snapshot(): DnsSnapshot {
    return {
      kind: 'PodwallDnsSnapshot',
      version: 1,
      services: [...this.services.values()],
      endpoints: [...this.endpoints.values()],
    };
  }

  loadSnapshot(s: DnsSnapshot): void {
    this.setServices(s.services);
    this.setEndpoints(s.endpoints);
  }
}

function normalizeService(s: DnsService): DnsService {
  return {
    ...s,
    namespace: s.namespace.toLowerCase(),
    name: s.name.toLowerCase(),
    clusterIPs: s.clusterIPs.filter((ip) => ip !== '' && ip !== 'None'),
  };
}

/** Validates a parsed snapshot; returns a message for the first problem. */
export function checkSnapshot(v: unknown): { ok: true; value: DnsSnapshot } | { ok: false; message: string } {
  const o = v as Partial<DnsSnapshot> | null;
  if (typeof o !== 'object' || o === null) return { ok: false, message: 'snapshot is not an object' };
  if (o.kind !== 'PodwallDnsSnapshot' || o.version !== 1) {
    return { ok: false, message: 'snapshot kind/version must be PodwallDnsSnapshot/1' };
  }
  if (!Array.isArray(o.services) || !Array.isArray(o.endpoints)) {
    return { ok: false, message: 'snapshot needs "services" and "endpoints" lists' };
  }
  for (const s of o.services) {
    if (typeof s?.namespace !== 'string' || typeof s.name !== 'string' || !Array.isArray(s.clusterIPs)) {
      return { ok: false, message: `bad service entry ${JSON.stringify(s)}` };
    }
    if (!Array.isArray(s.ports)) s.ports = [];
  }
  for (const e of o.endpoints) {
    if (typeof e?.namespace !== 'string' || typeof e.service !== 'string' || !Array.isArray(e.endpoints)) {
      return { ok: false, message: `bad endpoints entry ${JSON.stringify(e)}` };
    }
  }
  return { ok: true, value: o as DnsSnapshot };
}

/** A Kubernetes Service as the DNS server sees it. */
export function dnsServiceFromK8s(svc: Service): DnsService {
  const ips = svc.spec.clusterIPs ?? (svc.spec.clusterIP ? [svc.spec.clusterIP] : []);
  return {
    namespace: svc.metadata.namespace ?? 'default',
    name: svc.metadata.name ?? '',
    type: svc.spec.type ?? 'ClusterIP',
    clusterIPs: ips.filter((ip) => ip !== 'None' && ip !== ''),
    externalName: typeof svc.spec.externalName === 'string' ? svc.spec.externalName : undefined,
    ports: (svc.spec.ports ?? []).map((p) => ({ name: p.name, protocol: p.protocol ?? 'TCP', port: p.port })),
  };
}
