/**
 * The selector cache: which identities (and, for Kubernetes ipBlock, which pod IPs) a peer selects.
 * Results are memoised per peer, so a selector shared by many rules is matched once per compile.
 */
import { ID_HOST, ID_REMOTE_NODE, ID_WORLD, ID_WORLD_IPV4, ID_WORLD_IPV6 } from '../../identity/reserved.js';
import {
  andSelectors,
  fromLabelSelector,
  LABEL_NAMESPACE,
  makeSelector,
  SOURCE_FQDN,
  SOURCE_K8S,
  selectorMatches,
  selectorString,
} from '../../labels/index.js';
import { type Cidr, cidrContains, cidrContainsIp, parseCidr, parseIp } from '../../util/ip.js';
import type { PodInput, ServiceInput } from '../cluster.js';
import type { Peer } from '../model.js';
import { fqdnMatches } from './fqdn.js';
import { identityOfIp, type Universe } from './universe.js';

export interface PeerMatch {
  ids: Set<number>;
  /** Pod IPs matched by IP (Kubernetes ipBlock on pods). */
  ips: Set<string>;
  /** True when every pod identity is in `ids`: the resolver then uses the `pods` level instead of expanding. */
  allPods: boolean;
  /** The reserved and CIDR identities among `ids` (what remains to expand when `allPods`). */
  nonPodIds: number[];
}

/** What changed between two compiles, as far as cached endpoint states care. */
export interface ChangeSet {
  changedPeers: Set<string>;
  identitiesChanged: boolean;
  portsChanged: boolean;
}

export function peerKey(p: Peer): string {
  switch (p.kind) {
    case 'endpoints':
      return `ep:${selectorString(p.selector)}`;
    case 'cidr':
      return `cidr:${p.cidr}-${p.except.join(',')}:${p.matchPods}`;
    case 'fqdn':
      return `fqdn:${p.matchName ?? ''}:${p.matchPattern ?? ''}`;
    case 'service':
      return `svc:${p.namespace}/${p.name ?? ''}:${p.selector ? selectorString(p.selector) : ''}`;
  }
}

export class PeerCache {
  private readonly cache = new Map<string, PeerMatch>();
  /** The peer object behind each cache key (to re-match it against a changed universe). */
  private readonly peerOf = new Map<string, Peer>();
  private readonly byObject = new WeakMap<Peer, PeerMatch>();
  private readonly podIds: number[];
  private readonly podIdSet: Set<number>;

  constructor(
    private readonly u: Universe,
    private readonly services: ServiceInput[],
  ) {
    this.podIds = u.identities.filter((i) => i.kind === 'pod').map((i) => i.id);
    this.podIdSet = new Set(this.podIds);
  }

  match(p: Peer): PeerMatch {
    const hit = this.byObject.get(p);
    if (hit) return hit;
    const key = peerKey(p);
    let m = this.cache.get(key);
    if (!m) {
      this.peerOf.set(key, p);
      const { ids, ips } = this.compute(p);
      m = this.finish(ids, ips);
      this.cache.set(key, m);
    }
    this.byObject.set(p, m);
    return m;
  }

  /**
   * Re-matches every peer of a previous cache against this universe, testing only the identities that appeared
   * (label selectors) and recomputing the IP-based kinds, and returns what changed for the resolver.
   */
  seedFrom(prev: PeerCache, prevUniverse: Universe): ChangeSet {
    const added = this.u.identities.filter((i) => !prevUniverse.byId.has(i.id));
    const removed = new Set(prevUniverse.identities.filter((i) => !this.u.byId.has(i.id)).map((i) => i.id));
    const changedPeers = new Set<string>();
    const sameIps =
      sameKeys(prevUniverse.podByIp, this.u.podByIp) &&
      [...this.u.podByIp].every(
        ([ip, pod]) => prevUniverse.podByIp.get(ip) === pod || samePod(prevUniverse.podByIp.get(ip), pod),
      );
    for (const [key, old] of prev.cache) {
      const p = prev.peerOf.get(key)!;
      let ids: Set<number>;
      let ips: Set<string>;
      if (p.kind === 'endpoints') {
        ids = new Set([...old.ids].filter((id) => !removed.has(id)));
        for (const i of added) if (selectorMatches(p.selector, i.labels)) ids.add(i.id);
        ips = old.ips;
      } else ({ ids, ips } = this.compute(p));
      const m = this.finish(ids, ips);
      this.cache.set(key, m);
      this.peerOf.set(key, p);
      if (!sameSet(old.ids, m.ids) || !sameSet(old.ips, m.ips) || old.allPods !== m.allPods) changedPeers.add(key);
    }
    const portsSig = (u: Universe) =>
      new Map(
        u.identities
          .filter((i) => i.kind === 'pod')
          .map((i) => [i.id, JSON.stringify([i.namedPorts, i.uniformPorts, i.pods.map((x) => x.ip)])]),
      );
    const before = portsSig(prevUniverse);
    const portsChanged = [...portsSig(this.u)].some(([id, sig]) => before.has(id) && before.get(id) !== sig);
    return {
      changedPeers,
      identitiesChanged: added.length > 0 || removed.size > 0 || !sameIps,
      portsChanged: portsChanged || !sameIps,
    };
  }

  private finish(ids: Set<number>, ips: Set<string>): PeerMatch {
    return {
      ids,
      ips,
      allPods: this.podIds.length > 0 && this.podIds.every((id) => ids.has(id)),
      nonPodIds: [...ids].filter((id) => !this.podIdSet.has(id)),
    };
  }

  private compute(p: Peer): Pick<PeerMatch, 'ids' | 'ips'> {
    const ids = new Set<number>();
    const ips = new Set<string>();
    switch (p.kind) {
      case 'endpoints':
        for (const id of this.u.index.matching(p.selector)) ids.add(id);
        break;
      case 'cidr': {
        const c = parseCidr(p.cidr, true);
        if (!c) break;
        const ex = p.except.map((e) => parseCidr(e, true)).filter((e): e is Cidr => !!e);
        for (const i of this.u.cidrByLength) {
          if (cidrContains(c, i.prefix!) && !ex.some((e) => cidrContains(e, i.prefix!))) ids.add(i.id);
        }
        if (c.bits === 0) {
          if (c.family === 4) {
            ids.add(ID_WORLD);
            ids.add(ID_WORLD_IPV4);
          } else ids.add(ID_WORLD_IPV6);
        }
        // The node's own IPs are CIDR-matchable (the host identity carries cidr: labels of its IPs); remote nodes only
        // for Kubernetes ipBlock, which covers every address (Cilium needs policy-cidr-match-mode=nodes for that).
        const covers = (ip: string) => {
          const parsed = parseIp(ip);
          return !!parsed && cidrContainsIp(c, parsed) && !ex.some((e) => cidrContainsIp(e, parsed));
        };
        if ([...this.u.hostIps].some(covers)) ids.add(ID_HOST);
        if (p.matchPods && [...this.u.remoteNodeIps].some(covers)) ids.add(ID_REMOTE_NODE);
        if (p.matchPods) {
          for (const ip of this.u.podByIp.keys()) {
            const parsed = parseIp(ip);
            if (parsed && cidrContainsIp(c, parsed) && !ex.some((e) => cidrContainsIp(e, parsed))) ips.add(ip);
          }
        }
        break;
      }
      case 'fqdn':
        for (const i of this.u.cidrByLength) {
          const names = i.labels.labels.filter((l) => l.source === SOURCE_FQDN).map((l) => l.key);
          if (names.some((n) => fqdnMatches(p, n))) ids.add(i.id);
        }
        break;
      case 'service':
        for (const svc of this.services) {
          if (svc.namespace !== p.namespace) continue;
          if (p.name !== undefined && svc.name !== p.name) continue;
          if (p.selector && !selectorMatches(p.selector, labelSetOf(svc.labels ?? {}))) continue;
          if (svc.selector) {
            const sel = andSelectors(
              fromLabelSelector({ matchLabels: svc.selector }, SOURCE_K8S, false),
              makeSelector([{ source: SOURCE_K8S, key: LABEL_NAMESPACE, op: 'In', values: [svc.namespace] }]),
            );
            for (const i of this.u.identities) if (selectorMatches(sel, i.labels)) ids.add(i.id);
          } else {
            for (const ip of svc.endpointIps ?? []) ids.add(identityOfIp(this.u, ip));
          }
        }
        break;
    }
    return { ids, ips };
  }
}

import { LabelSet } from '../../labels/labels.js';

function labelSetOf(rec: Record<string, string>): LabelSet {
  return LabelSet.fromRecord(SOURCE_K8S, rec);
}

function sameSet<T>(a: Set<T>, b: Set<T>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function sameKeys<K, V>(a: Map<K, V>, b: Map<K, V>): boolean {
  if (a.size !== b.size) return false;
  for (const k of a.keys()) if (!b.has(k)) return false;
  return true;
}

function samePod(a: PodInput | undefined, b: PodInput): boolean {
  return !!a && a.namespace === b.namespace && a.name === b.name;
}
