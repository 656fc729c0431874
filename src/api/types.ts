/**
 * Wire types for the Kubernetes and Cilium objects podwall reads, with field names exactly as in YAML/JSON.
 * Only the fields podwall uses are typed; everything else passes through untouched (`[k: string]: unknown`).
 */

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [k: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

// ---- core/v1 ----

export interface Namespace extends KubeObject {
  kind: 'Namespace';
  spec?: { finalizers?: string[] };
  status?: { phase?: string };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  hostPort?: number;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  workingDir?: string;
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  [k: string]: unknown;
}

export interface Probe {
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: string };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  serviceAccountName?: string;
  serviceAccount?: string;
  nodeName?: string;
  hostNetwork?: boolean;
  terminationGracePeriodSeconds?: number;
  [k: string]: unknown;
}

export interface PodStatus {
  phase?: string;
  podIP?: string;
  podIPs?: { ip: string }[];
  hostIP?: string;
  conditions?: { type: string; status: string; lastTransitionTime?: string; reason?: string; message?: string }[];
  containerStatuses?: unknown[];
  startTime?: string;
  [k: string]: unknown;
}

export interface Pod extends KubeObject {
  kind: 'Pod';
  spec: PodSpec;
  status?: PodStatus;
}

export interface ServicePort {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

export interface Service extends KubeObject {
  kind: 'Service';
  spec: {
    type?: string;
    selector?: Record<string, string>;
    ports?: ServicePort[];
    clusterIP?: string;
    clusterIPs?: string[];
    [k: string]: unknown;
  };
}

// ---- apps/v1 ----

export interface Deployment extends KubeObject {
  kind: 'Deployment';
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: { metadata?: ObjectMeta; spec: PodSpec };
    [k: string]: unknown;
  };
  status?: Record<string, unknown>;
}

// ---- networking.k8s.io/v1 ----

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicy extends KubeObject {
  kind: 'NetworkPolicy';
  spec: {
    podSelector: LabelSelector;
    policyTypes?: string[];
    ingress?: NetworkPolicyIngressRule[] | null;
    egress?: NetworkPolicyEgressRule[] | null;
  };
}

// ---- cilium.io/v2 ----

export interface CiliumPortProtocol {
  port?: string;
  endPort?: number;
  protocol?: string;
}

export interface CiliumHttpRule {
  method?: string;
  path?: string;
  host?: string;
  headers?: string[];
  headerMatches?: { name: string; value?: string; secret?: unknown; mismatch?: string }[];
}

export interface CiliumPortRule {
  ports?: CiliumPortProtocol[];
  rules?: { http?: CiliumHttpRule[]; dns?: { matchName?: string; matchPattern?: string }[]; [k: string]: unknown };
  serverNames?: string[];
  terminatingTLS?: unknown;
  originatingTLS?: unknown;
  listener?: unknown;
}

export interface CiliumCIDRRule {
  cidr?: string;
  cidrGroupRef?: string;
  cidrGroupSelector?: LabelSelector;
  except?: string[];
}

export interface CiliumServiceSelector {
  k8sService?: { serviceName?: string; namespace?: string };
  k8sServiceSelector?: { selector: LabelSelector; namespace?: string };
}

export interface CiliumIcmpRule {
  fields?: { family?: string; type?: number | string }[];
}

/** Ingress and egress allow/deny rule bodies share one shape; direction-specific fields are optional. */
export interface CiliumPeerRule {
  fromEndpoints?: LabelSelector[];
  toEndpoints?: LabelSelector[];
  fromCIDR?: string[];
  toCIDR?: string[];
  fromCIDRSet?: CiliumCIDRRule[];
  toCIDRSet?: CiliumCIDRRule[];
  fromEntities?: string[];
  toEntities?: string[];
  toServices?: CiliumServiceSelector[];
  toFQDNs?: { matchName?: string; matchPattern?: string }[];
  fromNodes?: LabelSelector[];
  toNodes?: LabelSelector[];
  fromGroups?: unknown[];
  toGroups?: unknown[];
  fromRequires?: LabelSelector[];
  toRequires?: LabelSelector[];
  toPorts?: CiliumPortRule[];
  icmps?: CiliumIcmpRule[];
  authentication?: { mode?: string };
}

export interface CiliumRule {
  endpointSelector?: LabelSelector;
  nodeSelector?: LabelSelector;
  ingress?: CiliumPeerRule[];
  egress?: CiliumPeerRule[];
  ingressDeny?: CiliumPeerRule[];
  egressDeny?: CiliumPeerRule[];
  enableDefaultDeny?: { ingress?: boolean; egress?: boolean };
  description?: string;
  labels?: unknown[];
  log?: { value?: string };
}

export interface CiliumNetworkPolicy extends KubeObject {
  kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';
  spec?: CiliumRule;
  specs?: CiliumRule[];
}

export type AnyPolicy = NetworkPolicy | CiliumNetworkPolicy;
