/**
 * The cluster as the policy engine sees it: plain data, built from manifests (offline tools), from informers
 * (the agent) or from a conformance case. Nothing here knows where it came from.
 */
import type { AnyPolicy } from '../api/types.js';

export interface NamedPort {
  name?: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface PodInput {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** Empty when the pod has no IP yet: it is selectable as a subject but unreachable. */
  ip: string;
  serviceAccount?: string;
  ports: NamedPort[];
}

export interface ServicePortInput {
  name?: string;
  port: number;
  targetPort: number | string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface ServiceInput {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  /** Absent for selector-less services (their backends are `endpointIps`). */
  selector?: Record<string, string>;
  clusterIP?: string;
  ports: ServicePortInput[];
  endpointIps?: string[];
}

export interface NamespaceInput {
  name: string;
  labels: Record<string, string>;
}

export interface ClusterInput {
  namespaces: NamespaceInput[];
  pods: PodInput[];
  services: ServiceInput[];
  policies: AnyPolicy[];
  /** FQDN → IPs the DNS proxy has seen in answers (Cilium's per-endpoint DNS cache, global here). */
  dnsCache?: Record<string, string[]>;
  /** The node's own IPs toward pods: traffic from them carries reserved:host. */
  hostIps?: string[];
  /** IPs of other nodes: reserved:remote-node. */
  remoteNodeIps?: string[];
}

export function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}
