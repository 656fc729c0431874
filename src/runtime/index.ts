/** The node runtime: pods as network namespaces wired by CNI, containers as processes inside them. */
export {
  CniClient,
  type CniError,
  type CniNetworkConfigList,
  type CniOutcome,
  type CniResult,
  defaultNetworkConfigList,
  loadNetworkConfigList,
  type PodNetwork,
  parsePodNetwork,
  writeNetworkConfigList,
} from './cni.js';
export { type HostInventory, hostInventory } from './inventory.js';
export { clusterFirstDns, ensureIpForward, Netns, renderResolvConf, restoreIpForward } from './netns.js';
export {
  type ExecOptions,
  type ExecSession,
  type Leftovers,
  type LogOptions,
  PodRuntime,
  type PodRuntimeOptions,
  type PodSummary,
  type ReconcileReport,
} from './pod-runtime.js';
export { type BackoffOptions, KUBELET_BACKOFF } from './supervisor.js';
export * from './types.js';
