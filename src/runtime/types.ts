/**
 * Public types of the node runtime: what a controller passes to `PodRuntime.runPod` and what it gets back
 * (Kubernetes-shaped container statuses and pod conditions, ready to be written to `Pod.status`).
 */
import type { Container } from '../api/types.js';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** The pod as the runtime needs it; containers use the core/v1 wire type. */
export interface RunPodSpec {
  uid: string;
  namespace: string;
  name: string;
  containers: Container[];
  restartPolicy?: RestartPolicy;
  terminationGracePeriodSeconds?: number;
  /**
   * Environment the kubelet injects into every container: KUBERNETES_SERVICE_HOST/PORT and the service
   * variables of the namespace. Container `env` overrides these.
   */
  injectedEnv?: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  nodeName?: string;
  serviceAccountName?: string;
  /** Nameservers for this pod's resolv.conf; defaults to the runtime's `clusterDNS`. */
  dnsServers?: string[];
}

export interface RunPodResult {
  ip: string;
  /** Name of the pod's network namespace (`/var/run/netns/<netns>`). */
  netns: string;
  /** Host side of the pod's veth (renamed to carry podwall's `pw-` prefix). */
  hostIfname: string;
}

/** A pod is addressed by uid, or by namespace and name. */
export type PodRef = string | { namespace: string; name: string };

export interface ContainerStateRunning {
  startedAt: string;
}
export interface ContainerStateWaiting {
  reason: string;
  message?: string;
}
export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt?: string;
  finishedAt: string;
  containerID?: string;
}
export interface ContainerState {
  running?: ContainerStateRunning;
  waiting?: ContainerStateWaiting;
  terminated?: ContainerStateTerminated;
}

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerState;
  lastState: ContainerState;
}

export interface PodCondition {
  type: 'PodScheduled' | 'Initialized' | 'ContainersReady' | 'Ready';
  status: 'True' | 'False';
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export interface PodRuntimeStatus {
  phase: PodPhase;
  conditions: PodCondition[];
  containerStatuses: ContainerStatus[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime: string;
}

export interface PodStatusEvent {
  uid: string;
  namespace: string;
  name: string;
  status: PodRuntimeStatus;
}

/** Failures of runtime calls (the controller maps them to API errors). */
export type RuntimeErrorCode =
  | 'NotFound'
  | 'ContainerNotFound'
  | 'NotRunning'
  | 'LogsUnavailable'
  | 'SandboxFailed'
  | 'Invalid';

export class RuntimeError extends Error {
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}
