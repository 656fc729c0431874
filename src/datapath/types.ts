/**
 * The datapath contract: desired state as plain data, and the Driver interface every implementation
 * (Fake, nftables, later eBPF) satisfies. The agent computes `DesiredState` from the policy engine; drivers
 * render it at the edge and never interpret policy themselves.
 */
import type { EndpointPolicy, Protocol } from '../policy/types.js';

/** IP or CIDR → security identity. Pod IPs are /32; CIDR identities cover non-overlapping ranges. */
export interface IpcacheEntry {
  /** `10.244.0.5/32` or `192.0.2.0/24`. Entries with the same prefix length never overlap. */
  prefix: string;
  identity: number;
}

/** A local endpoint (a pod on this node) and its compiled policy. */
export interface EndpointState {
  /** `namespace/name`. */
  name: string;
  ip: string;
  identity: number;
  /** Host-side interface of the pod (from the CNI result), when known. */
  hostIfname?: string;
  policy: EndpointPolicy;
}

export interface ServiceBackend {
  ip: string;
  port: number;
}

/** A ClusterIP service port: traffic to ip:port/protocol is DNATed to one backend at random. */
export interface ServiceState {
  /** `namespace/name:portName` — stable key for incremental updates. */
  key: string;
  ip: string;
  port: number;
  protocol: Exclude<Protocol, 'ICMP'>;
  backends: ServiceBackend[];
}

export interface DesiredState {
  ipcache: IpcacheEntry[];
  endpoints: EndpointState[];
  services: ServiceState[];
  /** TCP port of the transparent L7 proxy; segments with `l7` are redirected there. */
  proxyPort: number;
  /** Identity the host gets (reserved:host = 1) and the host's IPs toward the pods. */
  hostIps: string[];
}

/** A packet as drivers' lookup() sees it (post-DNAT, first packet of a connection). */
export interface PacketProbe {
  srcIp: string;
  dstIp: string;
  protocol: Protocol;
  dport: number;
}

export type PacketOutcome =
  | { action: 'accept'; backend?: ServiceBackend }
  | { action: 'redirect'; proxyPort: number; backend?: ServiceBackend }
  | { action: 'drop'; reason: 'POLICY_DENIED' | 'POLICY_DENY'; direction: 'ingress' | 'egress' };

export interface Driver {
  /** Replace everything this driver owns with `state`, touching only what changed since the last apply. */
  apply(state: DesiredState): Promise<ApplyStats>;
  /** Remove everything this driver created. Idempotent. */
  teardown(): Promise<void>;
  /** Human-readable dump of what is installed (sorted, stable), for golden tests and `podwall status`. */
  dump(): Promise<string>;
}

export interface ApplyStats {
  /**
   * Operations the desired state required (elements added/removed, chains created...). Constant bookkeeping a
   * driver adds per transaction (nftables: moving the policy generation of its verdict cache) is not counted.
   */
  changes: number;
  full: boolean;
}
