/**
 * Cilium's reserved identities (pkg/identity/numericidentity.go) and the entities that select them
 * (pkg/policy/api/entity.go). Numbers are part of the wire contract (ipcache marks, Hubble records).
 */
import { LabelSet, SOURCE_RESERVED } from '../labels/labels.js';

export const ID_UNKNOWN = 0;
export const ID_HOST = 1;
export const ID_WORLD = 2;
export const ID_UNMANAGED = 3;
export const ID_HEALTH = 4;
export const ID_INIT = 5;
export const ID_REMOTE_NODE = 6;
export const ID_KUBE_APISERVER = 7;
export const ID_INGRESS = 8;
export const ID_WORLD_IPV4 = 9;
export const ID_WORLD_IPV6 = 10;

/** First identity for labelled endpoints (cluster-local range 256-65535). */
export const FIRST_CLUSTER_IDENTITY = 256;
export const LAST_CLUSTER_IDENTITY = 65535;
/** Node-local CIDR identities have bit 24 set. */
export const CIDR_IDENTITY_BASE = 1 << 24;

export const RESERVED_NAMES: Record<number, string> = {
  [ID_HOST]: 'host',
  [ID_WORLD]: 'world',
  [ID_UNMANAGED]: 'unmanaged',
  [ID_HEALTH]: 'health',
  [ID_INIT]: 'init',
  [ID_REMOTE_NODE]: 'remote-node',
  [ID_KUBE_APISERVER]: 'kube-apiserver',
  [ID_INGRESS]: 'ingress',
  [ID_WORLD_IPV4]: 'world-ipv4',
  [ID_WORLD_IPV6]: 'world-ipv6',
};

/** Labels of each reserved identity. The host also carries kube-apiserver: podwall's API server runs on the node. */
export function reservedLabels(id: number, opts: { apiserverOnHost: boolean }): LabelSet {
  const name = RESERVED_NAMES[id];
  if (!name) throw new Error(`not a reserved identity: ${id}`);
  const labels = [{ source: SOURCE_RESERVED, key: name, value: '' }];
  if (id === ID_HOST && opts.apiserverOnHost)
    labels.push({ source: SOURCE_RESERVED, key: 'kube-apiserver', value: '' });
  // In single-stack IPv4 clusters world traffic carries identity 2; world-ipv4/6 still carry the world label.
  if (id === ID_WORLD_IPV4 || id === ID_WORLD_IPV6) labels.push({ source: SOURCE_RESERVED, key: 'world', value: '' });
  return new LabelSet(labels);
}

/** The entities a policy may name, and the reserved label names each one stands for. */
export const ENTITIES = [
  'all',
  'world',
  'world-ipv4',
  'world-ipv6',
  'cluster',
  'host',
  'remote-node',
  'kube-apiserver',
  'ingress',
  'init',
  'health',
  'unmanaged',
  'none',
] as const;
export type Entity = (typeof ENTITIES)[number];

/** Reserved label names that make up the `cluster` entity, besides every pod of the local cluster. */
export const CLUSTER_ENTITY_RESERVED = [
  'host',
  'remote-node',
  'init',
  'ingress',
  'health',
  'unmanaged',
  'kube-apiserver',
];
