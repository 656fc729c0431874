/**
 * The identity universe of a cluster: reserved identities, one identity per distinct set of identity-relevant
 * pod labels, and one CIDR identity per prefix named by any policy (plus /32s for IPs learnt through DNS).
 * Prefixes are nested or disjoint, so an IP's CIDR identity is the one of its longest containing prefix,
 * exactly Cilium's ipcache longest-prefix match.
 */
import { IdentityAllocator } from '../../identity/allocator.js';
import { podIdentityLabels } from '../../identity/endpoint-labels.js';
import {
  ID_HOST,
  ID_REMOTE_NODE,
  ID_WORLD,
  ID_WORLD_IPV6,
  RESERVED_NAMES,
  reservedLabels,
} from '../../identity/reserved.js';
import { LabelIndex } from '../../labels/index-by-label.js';
import { type Label, LabelSet, SOURCE_CIDR, SOURCE_FQDN, SOURCE_RESERVED } from '../../labels/labels.js';
import { type Cidr, cidrContains, cidrContainsIp, formatCidr, parseCidr, parseIp } from '../../util/ip.js';
import type { ClusterInput, NamedPort, PodInput } from '../cluster.js';
import { podKey } from '../cluster.js';
import type { TranslatedPolicy } from '../model.js';

export type IdentityKind = 'reserved' | 'pod' | 'cidr';

export interface Identity {
  id: number;
  kind: IdentityKind;
  labels: LabelSet;
  /** CIDR identities: the prefix. */
  prefix?: Cidr;
  /** Pod identities: the pods that carry it. */
  pods: PodInput[];
  /** Pod identities: named ports of all its pods (for egress named-port resolution). */
  namedPorts: NamedPort[];
  /** True when every pod of the identity has the same container ports (the usual case: one template). */
  uniformPorts: boolean;
}

export interface Universe {
  identities: Identity[];
  byId: Map<number, Identity>;
  podIdentity: Map<string, number>;
  /** Pod IP → pod. */
  podByIp: Map<string, PodInput>;
  hostIps: Set<string>;
  remoteNodeIps: Set<string>;
  /** CIDR identities sorted by prefix length, longest first (for LPM). */
  cidrByLength: Identity[];
  /** FQDN → IPs. */
  dnsCache: Record<string, string[]>;
  /** Label index over all identities, for fast selector matching. */
  index: LabelIndex;
}

/** Every CIDR string named by the policies (cidr and except), canonical, /0 excluded. */
export function policyPrefixes(policies: TranslatedPolicy[], dnsCache: Record<string, string[]>): string[] {
  const out = new Set<string>();
  for (const p of policies) {
    for (const r of p.rules) {
      if (r.peers === 'any') continue;
      for (const peer of r.peers) {
        if (peer.kind !== 'cidr') continue;
        for (const c of [peer.cidr, ...peer.except]) if (!c.endsWith('/0')) out.add(c);
      }
    }
  }
  for (const ips of Object.values(dnsCache))
    for (const ip of ips) out.add(parseIp(ip)?.family === 6 ? `${ip}/128` : `${ip}/32`);
  return [...out].sort();
}

export function buildUniverse(
  cluster: ClusterInput,
  policies: TranslatedPolicy[],
  allocator = new IdentityAllocator(),
): Universe {
  const identities: Identity[] = [];
  const byId = new Map<number, Identity>();
  const add = (i: Identity) => {
    identities.push(i);
    byId.set(i.id, i);
  };
  for (const id of Object.keys(RESERVED_NAMES).map(Number)) {
    add({
      id,
      kind: 'reserved',
      labels: reservedLabels(id, { apiserverOnHost: true }),
      pods: [],
      namedPorts: [],
      uniformPorts: true,
    });
  }

  const nsLabels = new Map(cluster.namespaces.map((n) => [n.name, n.labels]));
  const groups = new Map<string, { labels: LabelSet; pods: PodInput[] }>();
  for (const pod of cluster.pods) {
    const labels = podIdentityLabels({
      namespace: pod.namespace,
      labels: pod.labels,
      namespaceLabels: nsLabels.get(pod.namespace) ?? {},
      serviceAccount: pod.serviceAccount,
    });
    const g = groups.get(labels.canonical);
    if (g) g.pods.push(pod);
    else groups.set(labels.canonical, { labels, pods: [pod] });
  }
  const podIdentity = new Map<string, number>();
  const podByIp = new Map<string, PodInput>();
  // Sorted allocation keeps numbers a pure function of the input.
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    const id = allocator.allocate(g.labels);
    const namedPorts = uniquePorts(g.pods.flatMap((p) => p.ports));
    const sig = (p: PodInput) =>
      JSON.stringify(
        uniquePorts(p.ports)
          .map((x) => `${x.name}/${x.port}/${x.protocol}`)
          .sort(),
      );
    const uniformPorts = g.pods.every((p) => sig(p) === sig(g.pods[0]!));
    add({ id, kind: 'pod', labels: g.labels, pods: g.pods, namedPorts, uniformPorts });
    for (const p of g.pods) {
      podIdentity.set(podKey(p), id);
      if (p.ip) podByIp.set(p.ip, p);
    }
  }

  const dnsCache = cluster.dnsCache ?? {};
  const prefixes = policyPrefixes(policies, dnsCache).map((s) => parseCidr(s)!);
  const cidrIds: Identity[] = [];
  for (const prefix of prefixes) {
    const text = formatCidr(prefix);
    const labels: Label[] = [
      { source: SOURCE_RESERVED, key: 'world', value: '' },
      { source: SOURCE_RESERVED, key: prefix.family === 4 ? 'world-ipv4' : 'world-ipv6', value: '' },
    ];
    // Like Cilium, a CIDR identity carries the labels of every policy prefix that contains it.
    for (const other of prefixes)
      if (cidrContains(other, prefix)) labels.push({ source: SOURCE_CIDR, key: formatCidr(other), value: '' });
    if (prefix.bits === (prefix.family === 4 ? 32 : 128)) {
      const ip = text.slice(0, text.indexOf('/'));
      for (const [name, ips] of Object.entries(dnsCache))
        if (ips.includes(ip)) labels.push({ source: SOURCE_FQDN, key: name, value: '' });
    }
    const ident: Identity = {
      id: allocator.allocateCidr(text),
      kind: 'cidr',
      labels: new LabelSet(labels),
      prefix,
      pods: [],
      namedPorts: [],
      uniformPorts: true,
    };
    add(ident);
    cidrIds.push(ident);
  }
  cidrIds.sort((a, b) => b.prefix!.bits - a.prefix!.bits);

  const index = new LabelIndex();
  for (const i of identities) index.add(i.id, i.labels);
  return {
    identities,
    index,
    byId,
    podIdentity,
    podByIp,
    hostIps: new Set(cluster.hostIps ?? []),
    remoteNodeIps: new Set(cluster.remoteNodeIps ?? []),
    cidrByLength: cidrIds,
    dnsCache,
  };
}

/** The identity of an IP as the ipcache resolves it: pod > host > remote node > longest CIDR prefix > world. */
export function identityOfIp(u: Universe, ip: string): number {
  const pod = u.podByIp.get(ip);
  if (pod) return u.podIdentity.get(podKey(pod))!;
  if (u.hostIps.has(ip)) return ID_HOST;
  if (u.remoteNodeIps.has(ip)) return ID_REMOTE_NODE;
  const parsed = parseIp(ip);
  if (parsed) {
    for (const c of u.cidrByLength) if (cidrContainsIp(c.prefix!, parsed)) return c.id;
  }
  return parsed?.family === 6 ? ID_WORLD_IPV6 : ID_WORLD;
}

function uniquePorts(ports: NamedPort[]): NamedPort[] {
  const seen = new Set<string>();
  const out: NamedPort[] = [];
  for (const p of ports) {
    const k = `${p.name ?? ''}/${p.port}/${p.protocol}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(p);
    }
  }
  return out;
}
