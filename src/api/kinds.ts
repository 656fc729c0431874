/**
 * The kinds podwall knows: apiVersion + kind → REST mapping (group, version, plural, scope,
 * short names), the table kubectl's discovery would give for these resources.
 */

export interface KindInfo {
  kind: string;
  /** API group; `''` for the core group. */
  group: string;
  version: string;
  /** `group/version`, or just `version` for the core group (as written in `apiVersion`). */
  apiVersion: string;
  /** Resource name in URLs (`networkpolicies`). */
  resource: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  listKind: string;
}

function kind(
  apiVersion: string,
  kindName: string,
  resource: string,
  namespaced: boolean,
  shortNames: string[] = [],
): KindInfo {
  const slash = apiVersion.indexOf('/');
  return {
    kind: kindName,
    group: slash < 0 ? '' : apiVersion.slice(0, slash),
    version: slash < 0 ? apiVersion : apiVersion.slice(slash + 1),
    apiVersion,
    resource,
    singular: kindName.toLowerCase(),
    namespaced,
    shortNames,
    listKind: `${kindName}List`,
  };
}

/** Every known kind, in a stable order. */
export const KINDS: readonly KindInfo[] = [
  kind('v1', 'Namespace', 'namespaces', false, ['ns']),
  kind('v1', 'Pod', 'pods', true, ['po']),
  kind('v1', 'Service', 'services', true, ['svc']),
  kind('v1', 'Endpoints', 'endpoints', true, ['ep']),
  kind('v1', 'Event', 'events', true, ['ev']),
  kind('v1', 'ConfigMap', 'configmaps', true, ['cm']),
  kind('v1', 'ServiceAccount', 'serviceaccounts', true, ['sa']),
  kind('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices', true),
  kind('apps/v1', 'Deployment', 'deployments', true, ['deploy']),
  kind('apps/v1', 'ReplicaSet', 'replicasets', true, ['rs']),
  kind('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies', true, ['netpol']),
  kind('cilium.io/v2', 'CiliumNetworkPolicy', 'ciliumnetworkpolicies', true, ['cnp', 'ciliumnp']),
  kind('cilium.io/v2', 'CiliumClusterwideNetworkPolicy', 'ciliumclusterwidenetworkpolicies', false, ['ccnp']),
];

const byApiVersionKind = new Map(KINDS.map((k) => [`${k.apiVersion}|${k.kind}`, k]));

/** The kind for an object's `apiVersion` + `kind`, or undefined (then report {@link noMatchesMessage}). */
export function lookupKind(apiVersion: string, kindName: string): KindInfo | undefined {
  return byApiVersionKind.get(`${apiVersion}|${kindName}`);
}

/**
 * The kind for a name typed on a kubectl command line: plural, singular, short name or kind,
 * case-insensitive, optionally qualified with the group (`networkpolicies.networking.k8s.io`).
 */
export function lookupResource(name: string): KindInfo | undefined {
  const n = name.toLowerCase();
  for (const k of KINDS) {
    const names = [k.resource, k.singular, ...k.shortNames];
    if (names.includes(n)) return k;
    if (k.group !== '' && names.some((x) => `${x}.${k.group}` === n)) return k;
  }
  return undefined;
}

/** kubectl's text for an unknown kind: `no matches for kind "Foo" in version "v1"`. */
export function noMatchesMessage(apiVersion: string, kindName: string): string {
  return `no matches for kind ${JSON.stringify(kindName)} in version ${JSON.stringify(apiVersion)}`;
}
