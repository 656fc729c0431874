/**
 * The standalone node's control loops, as daemon components (issue 5): the node (scheduler + kubelet on the pod
 * runtime), the ReplicaSet and Deployment controllers, the endpoints controllers (Endpoints, EndpointSlices and
 * the `kubernetes` Service's endpoint) and cluster DNS. They use the API only through src/kube.
 */
import { gatewayOf } from '../../runtime/cni.js';
import { ClusterDns } from './cluster-dns.js';
import { type NodeConfig, nodeConfigFromEnv } from './config.js';
import { DeploymentController } from './deployment-controller.js';
import { EndpointsController } from './endpoints-controller.js';
import { NodeAgent } from './node-agent.js';
import { ReplicaSetController } from './replicaset-controller.js';
import type { WorkloadComponent } from './types.js';

export {
  ClusterDns,
  type ClusterDnsOptions,
  corednsDeployment,
  dnsSnapshotPath,
  kubeDnsService,
} from './cluster-dns.js';
export {
  CLUSTER_DNS_IP,
  DEFAULT_POD_CIDR,
  defaultNetnsPrefix,
  type NodeConfig,
  nodeConfigFromEnv,
  readNodeRecord,
  resolveNodeConfig,
} from './config.js';
export { DeploymentController, type DeploymentControllerOptions } from './deployment-controller.js';
export { EndpointsController, type EndpointsControllerOptions } from './endpoints-controller.js';
export { podTemplateHash } from './hash.js';
export { nodeHostCleaner } from './host-cleaner.js';
export { ApiRelay, NodeAgent, type NodeAgentOptions } from './node-agent.js';
export { ReplicaSetController, type ReplicaSetControllerOptions } from './replicaset-controller.js';
export type { WorkloadComponent, WorkloadContext, WorkloadStatus } from './types.js';

export interface WorkloadOptions {
  /** Node settings; `PODWALL_*` environment variables fill what is not given (see config.ts). */
  node?: Partial<NodeConfig>;
  /** Create the coredns Deployment and kube-dns Service at first start. Default true. */
  clusterDns?: boolean;
}

/**
 * One factory per component, in start order: node, replicaset-controller, deployment-controller,
 * endpoints-controller, cluster-dns. Each call of the list's factories builds a fresh set (one daemon).
 */
export function workloadComponentFactories(opts: WorkloadOptions = {}): (() => WorkloadComponent)[] {
  const node = (): Partial<NodeConfig> => ({ ...nodeConfigFromEnv(), ...opts.node });
  return [
    () => new NodeAgent({ config: node() }),
    () => new ReplicaSetController(),
    () => new DeploymentController(),
    () => {
      const cidr = node().podCIDR;
      return new EndpointsController({ apiserverEndpoint: (server) => apiEndpointFor(server, cidr) });
    },
    () => new ClusterDns({ createObjects: opts.clusterDns ?? true }),
  ];
}

/** All components for one daemon, in start order. */
export function workloadComponents(opts: WorkloadOptions = {}): WorkloadComponent[] {
  return workloadComponentFactories(opts).map((f) => f());
}

/** The `kubernetes` Service endpoint of the standalone node: the pod gateway (relayed to the API) and API port. */
export function apiEndpointFor(server: URL, podCIDR = '10.244.0.0/16'): { ip: string; port: number } {
  return { ip: gatewayOf(podCIDR), port: Number(server.port || 443) };
}
