/** Small builders for engine tests: clusters and flows in a line each. */
import type { AnyPolicy } from '../api/types.js';
import type { ClusterInput, PodInput } from '../policy/cluster.js';
import type { Flow, Protocol } from '../policy/types.js';

export const HOST_IP = '10.244.0.1';

export function pod(
  ref: string,
  ip: string,
  labels: Record<string, string> = {},
  ports: PodInput['ports'] = [],
): PodInput {
  const [namespace, name] = ref.split('/') as [string, string];
  return { namespace, name, labels, ip, ports };
}

export function cluster(pods: PodInput[], policies: unknown[], extra: Partial<ClusterInput> = {}): ClusterInput {
  const nss = new Set(pods.map((p) => p.namespace));
  return {
    namespaces: [...nss].map((name) => ({
      name,
      labels: extra.namespaces?.find((n) => n.name === name)?.labels ?? {},
    })),
    pods,
    services: [],
    policies: policies as AnyPolicy[],
    hostIps: [HOST_IP],
    ...extra,
  };
}

export function flow(srcIp: string, dstIp: string, port = 80, protocol: Protocol = 'TCP', http?: Flow['http']): Flow {
  return { srcIp, dstIp, protocol, dport: port, ...(http ? { http } : {}) };
}

export function cnp(name: string, spec: object, namespace = 'default'): AnyPolicy {
  return { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name, namespace }, spec } as AnyPolicy;
}

export function ccnp(name: string, spec: object): AnyPolicy {
  return { apiVersion: 'cilium.io/v2', kind: 'CiliumClusterwideNetworkPolicy', metadata: { name }, spec } as AnyPolicy;
}

export function np(name: string, spec: object, namespace = 'default'): AnyPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec,
  } as AnyPolicy;
}
