import { describe, expect, it } from 'vitest';
import { KINDS, type KindInfo, lookupKind, lookupResource, noMatchesMessage } from './kinds.js';

describe('kinds', () => {
  it.each<[string, string, Partial<KindInfo>]>([
    ['v1', 'Pod', { group: '', version: 'v1', resource: 'pods', namespaced: true, shortNames: ['po'] }],
    [
      'networking.k8s.io/v1',
      'NetworkPolicy',
      { group: 'networking.k8s.io', resource: 'networkpolicies', namespaced: true },
    ],
    [
      'cilium.io/v2',
      'CiliumNetworkPolicy',
      { resource: 'ciliumnetworkpolicies', namespaced: true, shortNames: ['cnp', 'ciliumnp'] },
    ],
    ['cilium.io/v2', 'CiliumClusterwideNetworkPolicy', { namespaced: false, shortNames: ['ccnp'] }],
    ['discovery.k8s.io/v1', 'EndpointSlice', { resource: 'endpointslices', namespaced: true }],
    ['apps/v1', 'ReplicaSet', { resource: 'replicasets', shortNames: ['rs'] }],
    ['v1', 'Namespace', { namespaced: false, shortNames: ['ns'] }],
  ])('%s %s', (apiVersion, kind, want) => {
    expect(lookupKind(apiVersion, kind)).toMatchObject(want);
  });

  it('has the 13 kinds', () => {
    expect(KINDS.map((k) => k.kind)).toHaveLength(13);
  });

  it.each([
    ['v1', 'Deployment'],
    ['cilium.io/v1', 'CiliumNetworkPolicy'],
    ['v1', 'pod'],
  ])('unknown: %s %s', (apiVersion, kind) => {
    expect(lookupKind(apiVersion, kind)).toBeUndefined();
  });

  it.each([
    ['cnp', 'CiliumNetworkPolicy'],
    ['CCNP', 'CiliumClusterwideNetworkPolicy'],
    ['networkpolicies.networking.k8s.io', 'NetworkPolicy'],
    ['netpol', 'NetworkPolicy'],
    ['pod', 'Pod'],
    ['svc', 'Service'],
  ])('resource name %s', (name, kind) => {
    expect(lookupResource(name)?.kind).toBe(kind);
  });

  it('formats the kubectl error', () => {
    expect(noMatchesMessage('v1', 'Foo')).toBe('no matches for kind "Foo" in version "v1"');
  });
});
