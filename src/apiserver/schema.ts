/**
 * A compact structural schema of the kinds the apiserver serves. It drives two things:
 * - strict field validation (`?fieldValidation=Strict|Warn`, what kubectl sends by default): unknown and
 *   duplicate fields are reported as `strict decoding error: unknown field "spec.foo"`;
 * - the OpenAPI v3 documents (openapi.ts), so kubectl sees that server-side field validation is supported.
 * Sub-objects marked `open` accept any field (their inner structure is not checked here).
 */

export type Schema =
  | { t: 'string' | 'integer' | 'boolean' | 'number' | 'int-or-string' | 'open' | 'quantity' | 'time' }
  | { t: 'object'; props: Record<string, Schema>; required?: string[] }
  | { t: 'map'; values: Schema }
  | { t: 'array'; items: Schema };

const str: Schema = { t: 'string' };
const int: Schema = { t: 'integer' };
const bool: Schema = { t: 'boolean' };
const ios: Schema = { t: 'int-or-string' };
const open: Schema = { t: 'open' };
const time: Schema = { t: 'time' };
const strMap: Schema = { t: 'map', values: str };
const arr = (items: Schema): Schema => ({ t: 'array', items });
const obj = (props: Record<string, Schema>, required?: string[]): Schema => ({ t: 'object', props, required });

export const OBJECT_META = obj({
  name: str,
  generateName: str,
  namespace: str,
  selfLink: str,
  uid: str,
  resourceVersion: str,
  generation: int,
  creationTimestamp: time,
  deletionTimestamp: time,
  deletionGracePeriodSeconds: int,
  labels: strMap,
  annotations: strMap,
  ownerReferences: arr(
    obj({ apiVersion: str, kind: str, name: str, uid: str, controller: bool, blockOwnerDeletion: bool }),
  ),
  finalizers: arr(str),
  managedFields: arr(open),
});

const LABEL_SELECTOR = obj({
  matchLabels: strMap,
  matchExpressions: arr(obj({ key: str, operator: str, values: arr(str) })),
});

const CONTAINER_PORT = obj({ name: str, containerPort: int, protocol: str, hostPort: int, hostIP: str });
const PROBE = obj({
  exec: obj({ command: arr(str) }),
  httpGet: obj({ path: str, port: ios, host: str, scheme: str, httpHeaders: arr(obj({ name: str, value: str })) }),
  tcpSocket: obj({ port: ios, host: str }),
  grpc: obj({ port: int, service: str }),
  initialDelaySeconds: int,
  timeoutSeconds: int,
  periodSeconds: int,
  successThreshold: int,
  failureThreshold: int,
  terminationGracePeriodSeconds: int,
});

const CONTAINER = obj({
  name: str,
  image: str,
  command: arr(str),
  args: arr(str),
  workingDir: str,
  ports: arr(CONTAINER_PORT),
  envFrom: arr(open),
  env: arr(obj({ name: str, value: str, valueFrom: open })),
  resources: open,
  resizePolicy: arr(open),
  restartPolicy: str,
  volumeMounts: arr(open),
  volumeDevices: arr(open),
  livenessProbe: PROBE,
  readinessProbe: PROBE,
  startupProbe: PROBE,
  lifecycle: open,
  terminationMessagePath: str,
  terminationMessagePolicy: str,
  imagePullPolicy: str,
  securityContext: open,
  stdin: bool,
  stdinOnce: bool,
  tty: bool,
});

export const POD_SPEC = obj({
  volumes: arr(open),
  initContainers: arr(CONTAINER),
  containers: arr(CONTAINER),
  ephemeralContainers: arr(open),
  restartPolicy: str,
  terminationGracePeriodSeconds: int,
  activeDeadlineSeconds: int,
  dnsPolicy: str,
  nodeSelector: strMap,
  serviceAccountName: str,
  serviceAccount: str,
  automountServiceAccountToken: bool,
  nodeName: str,
  hostNetwork: bool,
  hostPID: bool,
  hostIPC: bool,
  shareProcessNamespace: bool,
  securityContext: open,
  imagePullSecrets: arr(obj({ name: str })),
  hostname: str,
  subdomain: str,
  affinity: open,
  schedulerName: str,
  tolerations: arr(open),
  hostAliases: arr(obj({ ip: str, hostnames: arr(str) })),
  priorityClassName: str,
  priority: int,
  dnsConfig: open,
  readinessGates: arr(obj({ conditionType: str })),
  runtimeClassName: str,
  enableServiceLinks: bool,
  preemptionPolicy: str,
  overhead: open,
  topologySpreadConstraints: arr(open),
  setHostnameAsFQDN: bool,
  os: obj({ name: str }),
  hostUsers: bool,
  schedulingGates: arr(obj({ name: str })),
  resourceClaims: arr(open),
  resources: open,
});

const POD_TEMPLATE = obj({ metadata: OBJECT_META, spec: POD_SPEC });

const SERVICE_SPEC = obj({
  ports: arr(obj({ name: str, protocol: str, appProtocol: str, port: int, targetPort: ios, nodePort: int })),
  selector: strMap,
  clusterIP: str,
  clusterIPs: arr(str),
  type: str,
  externalIPs: arr(str),
  sessionAffinity: str,
  loadBalancerIP: str,
  loadBalancerSourceRanges: arr(str),
  externalName: str,
  externalTrafficPolicy: str,
  healthCheckNodePort: int,
  publishNotReadyAddresses: bool,
  sessionAffinityConfig: open,
  ipFamilies: arr(str),
  ipFamilyPolicy: str,
  allocateLoadBalancerNodePorts: bool,
  loadBalancerClass: str,
  internalTrafficPolicy: str,
  trafficDistribution: str,
});

const NP_PEER = obj({
  podSelector: LABEL_SELECTOR,
  namespaceSelector: LABEL_SELECTOR,
  ipBlock: obj({ cidr: str, except: arr(str) }),
});
const NP_PORT = obj({ protocol: str, port: ios, endPort: int });
const NETWORK_POLICY_SPEC = obj({
  podSelector: LABEL_SELECTOR,
  ingress: arr(obj({ ports: arr(NP_PORT), from: arr(NP_PEER) })),
  egress: arr(obj({ ports: arr(NP_PORT), to: arr(NP_PEER) })),
  policyTypes: arr(str),
});

const CILIUM_SELECTOR = LABEL_SELECTOR;
const CILIUM_PORT_RULE = obj({
  ports: arr(obj({ port: str, endPort: int, protocol: str })),
  rules: obj({
    http: arr(
      obj({
        method: str,
        path: str,
        host: str,
        headers: arr(str),
        headerMatches: arr(obj({ name: str, value: str, secret: open, mismatch: str })),
      }),
    ),
    kafka: arr(open),
    dns: arr(obj({ matchName: str, matchPattern: str })),
    l7proto: str,
    l7: arr(open),
  }),
  serverNames: arr(str),
  terminatingTLS: open,
  originatingTLS: open,
  listener: open,
});
const CIDR_RULE = obj({ cidr: str, cidrGroupRef: str, cidrGroupSelector: LABEL_SELECTOR, except: arr(str) });
const SERVICE_SELECTOR = obj({
  k8sService: obj({ serviceName: str, namespace: str }),
  k8sServiceSelector: obj({ selector: LABEL_SELECTOR, namespace: str }),
});
const ICMP = arr(obj({ fields: arr(obj({ family: str, type: ios })) }));
const peerRule = (dir: 'from' | 'to'): Schema => {
  const props: Record<string, Schema> = {
    [`${dir}Endpoints`]: arr(CILIUM_SELECTOR),
    [`${dir}Requires`]: arr(CILIUM_SELECTOR),
    [`${dir}CIDR`]: arr(str),
    [`${dir}CIDRSet`]: arr(CIDR_RULE),
    [`${dir}Entities`]: arr(str),
    [`${dir}Groups`]: arr(open),
    [`${dir}Nodes`]: arr(CILIUM_SELECTOR),
    toPorts: arr(CILIUM_PORT_RULE),
    icmps: ICMP,
    authentication: obj({ mode: str }),
  };
  if (dir === 'to') {
    props.toServices = arr(SERVICE_SELECTOR);
    props.toFQDNs = arr(obj({ matchName: str, matchPattern: str }));
  }
  return obj(props);
};
export const CILIUM_RULE = obj({
  endpointSelector: CILIUM_SELECTOR,
  nodeSelector: CILIUM_SELECTOR,
  ingress: arr(peerRule('from')),
  ingressDeny: arr(peerRule('from')),
  egress: arr(peerRule('to')),
  egressDeny: arr(peerRule('to')),
  enableDefaultDeny: obj({ ingress: bool, egress: bool }),
  labels: arr(obj({ key: str, value: str, source: str })),
  description: str,
  log: obj({ value: str }),
});

const top = (props: Record<string, Schema>): Schema =>
  obj({ apiVersion: str, kind: str, metadata: OBJECT_META, ...props });

/** Schemas by kind (top-level objects). Kinds missing here are not checked for unknown fields. */
export const KIND_SCHEMAS: Record<string, Schema> = {
  Namespace: top({ spec: obj({ finalizers: arr(str) }), status: open }),
  Node: top({ spec: open, status: open }),
  Pod: top({ spec: POD_SPEC, status: open }),
  Service: top({ spec: SERVICE_SPEC, status: open }),
  Endpoints: top({ subsets: arr(open) }),
  Event: top({
    involvedObject: open,
    reason: str,
    message: str,
    source: open,
    firstTimestamp: time,
    lastTimestamp: time,
    count: int,
    type: str,
    eventTime: open,
    series: open,
    action: str,
    related: open,
    reportingComponent: str,
    reportingInstance: str,
  }),
  Deployment: top({
    spec: obj({
      replicas: int,
      selector: LABEL_SELECTOR,
      template: POD_TEMPLATE,
      strategy: obj({ type: str, rollingUpdate: obj({ maxUnavailable: ios, maxSurge: ios }) }),
      minReadySeconds: int,
      revisionHistoryLimit: int,
      paused: bool,
      progressDeadlineSeconds: int,
    }),
    status: open,
  }),
  ReplicaSet: top({
    spec: obj({ replicas: int, minReadySeconds: int, selector: LABEL_SELECTOR, template: POD_TEMPLATE }),
    status: open,
  }),
  EndpointSlice: top({ addressType: str, endpoints: arr(open), ports: arr(open) }),
  NetworkPolicy: top({ spec: NETWORK_POLICY_SPEC, status: open }),
  CiliumNetworkPolicy: top({ spec: CILIUM_RULE, specs: arr(CILIUM_RULE), status: open }),
  CiliumClusterwideNetworkPolicy: top({ spec: CILIUM_RULE, specs: arr(CILIUM_RULE), status: open }),
};

/** Paths of fields the schema does not know, in apimachinery's notation (`spec.containers[0].foo`). */
export function unknownFields(value: unknown, schema: Schema | undefined, path = ''): string[] {
  if (!schema || value === null || value === undefined) return [];
  const join = (k: string) => (path === '' ? k : `${path}.${k}`);
  switch (schema.t) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return [];
      const out: string[] = [];
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const s = schema.props[k];
        if (!s) out.push(join(k));
        else out.push(...unknownFields(v, s, join(k)));
      }
      return out;
    }
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) return [];
      return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
        unknownFields(v, schema.values, join(k)),
      );
    }
    case 'array':
      return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, schema.items, `${path}[${i}]`)) : [];
    default:
      return [];
  }
}
