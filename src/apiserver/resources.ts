/**
 * The resource table of the podwall apiserver: every REST resource it serves, with the same group, version,
 * plural, kind, scope, short names, categories, verbs and subresources as a real cluster (kube-apiserver 1.32
 * plus Cilium's CRDs), so that kubectl's discovery-driven RESTMapper behaves as it does against K3s.
 */

export type Verb = 'create' | 'delete' | 'deletecollection' | 'get' | 'list' | 'patch' | 'update' | 'watch';

export const ALL_VERBS: readonly Verb[] = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
] as const;

export interface SubresourceInfo {
  name: 'status' | 'scale' | 'log' | 'exec' | 'attach' | 'finalize';
  kind: { group: string; version: string; kind: string };
  verbs: string[];
}

export interface ResourceInfo {
  group: string;
  version: string;
  /** Plural resource name as in URLs: `pods`, `networkpolicies`. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: readonly Verb[];
  subresources: SubresourceInfo[];
  /** Whether the main resource ignores status changes (the status subresource owns them). */
  hasStatus: boolean;
  /** Whether kubectl treats the kind as a built-in (strategic merge patch) or a CRD (JSON merge patch). */
  strategicMerge: boolean;
}

/** `group/version` as in apiVersion (`v1` for the core group). */
export function apiVersionOf(r: { group: string; version: string }): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** A stable key for storage and watch: `pods`, `apps/deployments`. */
export function resourceKey(r: { group: string; resource: string }): string {
  return r.group === '' ? r.resource : `${r.group}/${r.resource}`;
}

/** `networkpolicies.networking.k8s.io`, `pods`: the group-qualified name used in error messages. */
export function qualifiedResource(r: { group: string; resource: string }): string {
  return r.group === '' ? r.resource : `${r.resource}.${r.group}`;
}

/** `NetworkPolicy.networking.k8s.io`, `Pod`: the qualified kind used in Invalid messages. */
export function qualifiedKind(r: { group: string; kind: string }): string {
  return r.group === '' ? r.kind : `${r.kind}.${r.group}`;
}

function sub(name: SubresourceInfo['name'], group: string, version: string, kind: string, verbs: string[]) {
  return { name, kind: { group, version, kind }, verbs };
}

function res(
  partial: Omit<ResourceInfo, 'listKind' | 'verbs' | 'subresources' | 'categories' | 'shortNames' | 'hasStatus'> &
    Partial<ResourceInfo>,
): ResourceInfo {
  const subresources = partial.subresources ?? [];
  return {
    listKind: `${partial.kind}List`,
    verbs: ALL_VERBS,
    categories: [],
    shortNames: [],
    ...partial,
    subresources,
    hasStatus: subresources.some((s) => s.name === 'status'),
  };
}

const STATUS_VERBS = ['get', 'patch', 'update'];

export const RESOURCES: readonly ResourceInfo[] = [
  res({
    group: '',
    version: 'v1',
    resource: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: [
      sub('finalize', '', 'v1', 'Namespace', ['update']),
      sub('status', '', 'v1', 'Namespace', STATUS_VERBS),
    ],
    strategicMerge: true,
  }),
  res({
    group: '',
    version: 'v1',
    resource: 'nodes',
    singular: 'node',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    subresources: [sub('status', '', 'v1', 'Node', STATUS_VERBS)],
    strategicMerge: true,
  }),
  res({
    group: '',
    version: 'v1',
    resource: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    subresources: [
      sub('attach', '', 'v1', 'PodAttachOptions', ['create', 'get']),
      sub('exec', '', 'v1', 'PodExecOptions', ['create', 'get']),
      sub('log', '', 'v1', 'Pod', ['get']),
      sub('status', '', 'v1', 'Pod', STATUS_VERBS),
    ],
    strategicMerge: true,
  }),
  res({
    group: '',
    version: 'v1',
    resource: 'services',
    singular: 'service',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: [sub('status', '', 'v1', 'Service', STATUS_VERBS)],
    strategicMerge: true,
  }),
  res({
    group: '',
    version: 'v1',
    resource: 'endpoints',
    singular: 'endpoints',
    kind: 'Endpoints',
    namespaced: true,
    shortNames: ['ep'],
    strategicMerge: true,
  }),
  res({
    group: '',
    version: 'v1',
    resource: 'events',
    singular: 'event',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    strategicMerge: true,
  }),
  res({
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: [
      sub('scale', 'autoscaling', 'v1', 'Scale', STATUS_VERBS),
      sub('status', 'apps', 'v1', 'Deployment', STATUS_VERBS),
    ],
    strategicMerge: true,
  }),
  res({
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    singular: 'replicaset',
    kind: 'ReplicaSet',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    subresources: [
      sub('scale', 'autoscaling', 'v1', 'Scale', STATUS_VERBS),
      sub('status', 'apps', 'v1', 'ReplicaSet', STATUS_VERBS),
    ],
    strategicMerge: true,
  }),
  res({
    group: 'discovery.k8s.io',
    version: 'v1',
    resource: 'endpointslices',
    singular: 'endpointslice',
    kind: 'EndpointSlice',
    namespaced: true,
    strategicMerge: true,
  }),
  res({
    group: 'networking.k8s.io',
    version: 'v1',
    resource: 'networkpolicies',
    singular: 'networkpolicy',
    kind: 'NetworkPolicy',
    namespaced: true,
    shortNames: ['netpol'],
    strategicMerge: true,
  }),
  res({
    group: 'cilium.io',
    version: 'v2',
    resource: 'ciliumnetworkpolicies',
    singular: 'ciliumnetworkpolicy',
    kind: 'CiliumNetworkPolicy',
    namespaced: true,
    shortNames: ['cnp', 'ciliumnp'],
    categories: ['cilium', 'ciliumpolicy'],
    subresources: [sub('status', 'cilium.io', 'v2', 'CiliumNetworkPolicy', STATUS_VERBS)],
    strategicMerge: false,
  }),
  res({
    group: 'cilium.io',
    version: 'v2',
    resource: 'ciliumclusterwidenetworkpolicies',
    singular: 'ciliumclusterwidenetworkpolicy',
    kind: 'CiliumClusterwideNetworkPolicy',
    namespaced: false,
    shortNames: ['ccnp'],
    categories: ['cilium', 'ciliumpolicy'],
    subresources: [sub('status', 'cilium.io', 'v2', 'CiliumClusterwideNetworkPolicy', STATUS_VERBS)],
    strategicMerge: false,
  }),
];

/** Groups in the order a real apiserver lists them (core first, then by priority). */
export const GROUPS: readonly { name: string; version: string }[] = [
  { name: 'apps', version: 'v1' },
  { name: 'events.k8s.io', version: 'v1' },
  { name: 'networking.k8s.io', version: 'v1' },
  { name: 'discovery.k8s.io', version: 'v1' },
  { name: 'cilium.io', version: 'v2' },
].filter((g) => RESOURCES.some((r) => r.group === g.name && r.version === g.version));

export function findResource(group: string, version: string, resource: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function findByKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

export function findByKey(key: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => resourceKey(r) === key);
}
