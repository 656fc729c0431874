/**
 * Unknown-field detection for the kinds users write by hand (NetworkPolicy, CNP/CCNP, Pod, Service,
 * Deployment), reported as warnings in kubectl's strict-decoding wording: `unknown field "spec.ingres"`.
 * The apiserver would reject these (built-in kinds, `--validate=strict`) or silently prune them
 * (CRDs), which is how a typo quietly widens a policy.
 */

import { type FieldError, FieldPath } from '../util/field.js';
import { isObject } from './walk.js';

/** A schema node: `'*'` = anything below is fine; `{ f }` = object with these fields; `{ a }` = array of; `{ m }` = map of. */
type Schema = '*' | { f: Record<string, Schema> } | { a: Schema } | { m: Schema };

const ANY: Schema = '*';
const obj = (f: Record<string, Schema>): Schema => ({ f });
const arr = (a: Schema): Schema => ({ a });
const map = (m: Schema): Schema => ({ m });
const fields = (...names: string[]): Record<string, Schema> => Object.fromEntries(names.map((n) => [n, ANY]));

const OBJECT_META = obj({
  ...fields(
    'name',
    'generateName',
    'namespace',
    'selfLink',
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'finalizers',
    'managedFields',
  ),
  labels: map(ANY),
  annotations: map(ANY),
  ownerReferences: arr(obj(fields('apiVersion', 'kind', 'name', 'uid', 'controller', 'blockOwnerDeletion'))),
});

const LABEL_SELECTOR = obj({
  matchLabels: map(ANY),
  matchExpressions: arr(obj(fields('key', 'operator', 'values'))),
});

const top = (extra: Record<string, Schema>): Schema =>
  obj({ apiVersion: ANY, kind: ANY, metadata: OBJECT_META, status: ANY, ...extra });

// ---- networking.k8s.io/v1 NetworkPolicy ----
const NP_PEER = obj({
  podSelector: LABEL_SELECTOR,
  namespaceSelector: LABEL_SELECTOR,
  ipBlock: obj(fields('cidr', 'except')),
});
const NP_PORT = obj(fields('protocol', 'port', 'endPort'));
const NETWORK_POLICY = top({
  spec: obj({
    podSelector: LABEL_SELECTOR,
    policyTypes: ANY,
    ingress: arr(obj({ from: arr(NP_PEER), ports: arr(NP_PORT) })),
    egress: arr(obj({ to: arr(NP_PEER), ports: arr(NP_PORT) })),
  }),
});

// ---- cilium.io/v2 ----
const C_PORT = obj(fields('port', 'endPort', 'protocol'));
const C_FQDN = obj(fields('matchName', 'matchPattern'));
const C_HTTP = obj({
  ...fields('path', 'method', 'host', 'headers'),
  headerMatches: arr(obj({ ...fields('name', 'value', 'mismatch'), secret: obj(fields('name', 'namespace')) })),
});
const C_TLS = obj({ ...fields('trustedCA', 'certificate', 'privateKey'), secret: obj(fields('name', 'namespace')) });
const C_PORT_RULE = obj({
  ports: arr(C_PORT),
  rules: obj({ http: arr(C_HTTP), dns: arr(C_FQDN), kafka: ANY, l7proto: ANY, l7: ANY }),
  serverNames: ANY,
  terminatingTLS: C_TLS,
  originatingTLS: C_TLS,
  listener: obj({ envoyConfig: obj(fields('kind', 'name')), name: ANY, priority: ANY }),
});
const C_PORT_DENY_RULE = obj({ ports: arr(C_PORT) });
const C_CIDR_RULE = obj({ ...fields('cidr', 'cidrGroupRef', 'except'), cidrGroupSelector: LABEL_SELECTOR });
const C_ICMP = obj({ fields: arr(obj(fields('family', 'type'))) });
const C_AUTH = obj(fields('mode'));
const C_SERVICE = obj({
  k8sService: obj(fields('serviceName', 'namespace')),
  k8sServiceSelector: obj({ selector: LABEL_SELECTOR, namespace: ANY }),
});
const ingressCommon = {
  fromEndpoints: arr(LABEL_SELECTOR),
  fromRequires: ANY,
  fromCIDR: ANY,
  fromCIDRSet: arr(C_CIDR_RULE),
  fromEntities: ANY,
  fromGroups: ANY,
  fromNodes: arr(LABEL_SELECTOR),
  icmps: arr(C_ICMP),
};
const egressCommon = {
  toEndpoints: arr(LABEL_SELECTOR),
  toRequires: ANY,
  toCIDR: ANY,
  toCIDRSet: arr(C_CIDR_RULE),
  toEntities: ANY,
  toServices: arr(C_SERVICE),
  toGroups: ANY,
  toNodes: arr(LABEL_SELECTOR),
  icmps: arr(C_ICMP),
};
const C_RULE = obj({
  endpointSelector: LABEL_SELECTOR,
  nodeSelector: LABEL_SELECTOR,
  ingress: arr(obj({ ...ingressCommon, toPorts: arr(C_PORT_RULE), authentication: C_AUTH })),
  ingressDeny: arr(obj({ ...ingressCommon, toPorts: arr(C_PORT_DENY_RULE) })),
  egress: arr(obj({ ...egressCommon, toPorts: arr(C_PORT_RULE), toFQDNs: arr(C_FQDN), authentication: C_AUTH })),
  egressDeny: arr(obj({ ...egressCommon, toPorts: arr(C_PORT_DENY_RULE) })),
  labels: arr(obj(fields('key', 'value', 'source'))),
  description: ANY,
  enableDefaultDeny: obj(fields('ingress', 'egress')),
  log: obj(fields('value')),
});
const CILIUM_POLICY = top({ spec: C_RULE, specs: arr(C_RULE) });

// ---- core/v1 Pod, apps/v1 Deployment ----
const PROBE = obj({
  ...fields(
    'exec',
    'grpc',
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
    'terminationGracePeriodSeconds',
  ),
  httpGet: obj(fields('path', 'port', 'host', 'scheme', 'httpHeaders')),
  tcpSocket: obj(fields('port', 'host')),
});
const CONTAINER = obj({
  ...fields(
    'name',
    'image',
    'command',
    'args',
    'workingDir',
    'envFrom',
    'resources',
    'resizePolicy',
    'restartPolicy',
    'restartPolicyRules',
    'volumeMounts',
    'volumeDevices',
    'lifecycle',
    'terminationMessagePath',
    'terminationMessagePolicy',
    'imagePullPolicy',
    'securityContext',
    'stdin',
    'stdinOnce',
    'tty',
  ),
  ports: arr(obj(fields('name', 'hostPort', 'containerPort', 'protocol', 'hostIP'))),
  env: arr(obj(fields('name', 'value', 'valueFrom'))),
  livenessProbe: PROBE,
  readinessProbe: PROBE,
  startupProbe: PROBE,
});
const POD_SPEC = obj({
  ...fields(
    'volumes',
    'ephemeralContainers',
    'restartPolicy',
    'terminationGracePeriodSeconds',
    'activeDeadlineSeconds',
    'dnsPolicy',
    'serviceAccountName',
    'serviceAccount',
    'automountServiceAccountToken',
    'nodeName',
    'hostNetwork',
    'hostPID',
    'hostIPC',
    'shareProcessNamespace',
    'securityContext',
    'imagePullSecrets',
    'hostname',
    'subdomain',
    'affinity',
    'schedulerName',
    'tolerations',
    'hostAliases',
    'priorityClassName',
    'priority',
    'dnsConfig',
    'readinessGates',
    'runtimeClassName',
    'enableServiceLinks',
    'preemptionPolicy',
    'overhead',
    'topologySpreadConstraints',
    'setHostnameAsFQDN',
    'os',
    'hostUsers',
    'schedulingGates',
    'resourceClaims',
    'resources',
    'hostnameOverride',
  ),
  nodeSelector: map(ANY),
  containers: arr(CONTAINER),
  initContainers: arr(CONTAINER),
});
const POD = top({ spec: POD_SPEC });
const DEPLOYMENT = top({
  spec: obj({
    ...fields('replicas', 'minReadySeconds', 'revisionHistoryLimit', 'paused', 'progressDeadlineSeconds'),
    selector: LABEL_SELECTOR,
    template: obj({ metadata: OBJECT_META, spec: POD_SPEC }),
    strategy: obj({ type: ANY, rollingUpdate: obj(fields('maxUnavailable', 'maxSurge')) }),
  }),
});

// ---- core/v1 Service ----
const SERVICE = top({
  spec: obj({
    ...fields(
      'clusterIP',
      'clusterIPs',
      'type',
      'externalIPs',
      'sessionAffinity',
      'loadBalancerIP',
      'loadBalancerSourceRanges',
      'externalName',
      'externalTrafficPolicy',
      'healthCheckNodePort',
      'publishNotReadyAddresses',
      'sessionAffinityConfig',
      'ipFamilies',
      'ipFamilyPolicy',
      'allocateLoadBalancerNodePorts',
      'loadBalancerClass',
      'internalTrafficPolicy',
      'trafficDistribution',
    ),
    ports: arr(obj(fields('name', 'protocol', 'appProtocol', 'port', 'targetPort', 'nodePort'))),
    selector: map(ANY),
  }),
});

const SCHEMAS: Record<string, Schema> = {
  'networking.k8s.io/v1|NetworkPolicy': NETWORK_POLICY,
  'cilium.io/v2|CiliumNetworkPolicy': CILIUM_POLICY,
  'cilium.io/v2|CiliumClusterwideNetworkPolicy': CILIUM_POLICY,
  'v1|Pod': POD,
  'v1|Service': SERVICE,
  'apps/v1|Deployment': DEPLOYMENT,
};

function walk(v: unknown, schema: Schema, path: FieldPath | undefined, out: FieldError[]): void {
  if (schema === '*' || v === null || v === undefined) return;
  if ('f' in schema) {
    if (!isObject(v)) return; // type errors are validation's job
    for (const [k, child] of Object.entries(v)) {
      const p = path ? path.child(k) : FieldPath.root(k);
      const s = schema.f[k];
      if (s === undefined) {
        out.push({
          type: 'Forbidden',
          field: String(p),
          detail: `unknown field ${JSON.stringify(String(p))}`,
          severity: 'warning',
        });
      } else {
        walk(child, s, p, out);
      }
    }
  } else if ('a' in schema) {
    if (!Array.isArray(v) || !path) return;
    v.forEach((item, i) => {
      walk(item, schema.a, path.index(i), out);
    });
  } else if (isObject(v) && path) {
    for (const [k, child] of Object.entries(v)) walk(child, schema.m, path.key(k), out);
  }
}

/**
 * Fields the kind's schema does not have, as warnings (`unknown field "spec.ingres"`), for
 * NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, Pod, Service and Deployment.
 * Other kinds yield nothing. Never throws.
 */
export function findUnknownFields(obj: unknown): FieldError[] {
  if (!isObject(obj)) return [];
  const schema = SCHEMAS[`${String(obj.apiVersion)}|${String(obj.kind)}`];
  if (!schema) return [];
  const out: FieldError[] = [];
  walk(obj, schema, undefined, out);
  return out;
}
