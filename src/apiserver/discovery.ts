/**
 * API discovery in both forms kubectl uses: the legacy documents (`/api`, `/api/v1`, `/apis`, `/apis/G`,
 * `/apis/G/V`) and the aggregated one (`apidiscovery.k8s.io/v2` APIGroupDiscoveryList, asked for with
 * `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`), both built from the
 * resource table so they always agree.
 */
import { apiVersionOf, GROUPS, RESOURCES, type ResourceInfo } from './resources.js';

export const AGGREGATED_V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
export const AGGREGATED_V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

/** Which aggregated discovery version (if any) an Accept header asks for, in the client's order of preference. */
export function wantsAggregated(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    const params = new Map(
      part
        .split(';')
        .slice(1)
        .map((p) => p.trim().split('=') as [string, string]),
    );
    if (params.get('g') === 'apidiscovery.k8s.io' && params.get('as') === 'APIGroupDiscoveryList') {
      const v = params.get('v');
      if (v === 'v2' || v === 'v2beta1') return v;
    }
    if (part.trim().startsWith('application/json') && !params.has('as')) return undefined;
  }
  return undefined;
}

function apiResource(r: ResourceInfo) {
  const out: Record<string, unknown> = {
    name: r.resource,
    singularName: r.singular,
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: [...r.verbs],
  };
  if (r.shortNames.length) out.shortNames = r.shortNames;
  if (r.categories.length) out.categories = r.categories;
  return out;
}

function apiSubresources(r: ResourceInfo) {
  return r.subresources.map((s) => {
    const out: Record<string, unknown> = {
      name: `${r.resource}/${s.name}`,
      singularName: '',
      namespaced: r.namespaced,
      kind: s.kind.kind,
      verbs: s.verbs,
    };
    if (s.kind.group !== r.group || s.kind.version !== r.version) {
      out.group = s.kind.group;
      out.version = s.kind.version;
    }
    return out;
  });
}

export function legacyApiVersions(serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

/** `/api/v1` or `/apis/G/V`; undefined for an unknown group/version. */
export function resourceList(group: string, version: string) {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  const gv = apiVersionOf({ group, version });
  const resources = rs.flatMap((r) => [apiResource(r), ...apiSubresources(r)]);
  return group === ''
    ? { kind: 'APIResourceList', groupVersion: gv, resources }
    : { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources };
}

function apiGroup(name: string, version: string) {
  const gv = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [gv], preferredVersion: gv };
}

export function apiGroupList() {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS.map((g) => apiGroup(g.name, g.version)) };
}

export function apiGroupDoc(name: string) {
  const g = GROUPS.find((x) => x.name === name);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g.name, g.version) } : undefined;
}

function discoveryResource(r: ResourceInfo) {
  const out: Record<string, unknown> = {
    resource: r.resource,
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: [...r.verbs],
  };
  if (r.shortNames.length) out.shortNames = r.shortNames;
  if (r.categories.length) out.categories = r.categories;
  if (r.subresources.length) {
    out.subresources = r.subresources.map((s) => ({
      subresource: s.name,
      responseKind: s.kind,
      verbs: s.verbs,
    }));
  }
  return out;
}

function discoveryGroup(name: string, version: string) {
  return {
    metadata: name === '' ? { creationTimestamp: null } : { name, creationTimestamp: null },
    versions: [
      {
        version,
        resources: RESOURCES.filter((r) => r.group === name && r.version === version).map(discoveryResource),
        freshness: 'Current',
      },
    ],
  };
}

/** The aggregated discovery document for `/api` (core) or `/apis` (every named group). */
export function aggregatedDiscovery(which: 'api' | 'apis', version: 'v2' | 'v2beta1') {
  const items = which === 'api' ? [discoveryGroup('', 'v1')] : GROUPS.map((g) => discoveryGroup(g.name, g.version));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}
