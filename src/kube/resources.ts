/** ResourceRefs for the kinds podwall's agent watches (same on podwall's control plane and a real cluster). */
import type { ResourceRef } from './client.js';

export const RESOURCE_REFS = {
  namespaces: { group: '', version: 'v1', resource: 'namespaces', namespaced: false },
  nodes: { group: '', version: 'v1', resource: 'nodes', namespaced: false },
  pods: { group: '', version: 'v1', resource: 'pods', namespaced: true },
  services: { group: '', version: 'v1', resource: 'services', namespaced: true },
  endpoints: { group: '', version: 'v1', resource: 'endpoints', namespaced: true },
  events: { group: '', version: 'v1', resource: 'events', namespaced: true },
  deployments: { group: 'apps', version: 'v1', resource: 'deployments', namespaced: true },
  replicasets: { group: 'apps', version: 'v1', resource: 'replicasets', namespaced: true },
  endpointslices: { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', namespaced: true },
  networkpolicies: { group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', namespaced: true },
  ciliumnetworkpolicies: { group: 'cilium.io', version: 'v2', resource: 'ciliumnetworkpolicies', namespaced: true },
  ciliumclusterwidenetworkpolicies: {
    group: 'cilium.io',
    version: 'v2',
    resource: 'ciliumclusterwidenetworkpolicies',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceRef>;
