/**
 * The resolver: cluster + policies → per-endpoint, per-direction map state (see ../types.ts for the lookup
 * contract). Endpoints with the same identity and the same container ports share one computed state.
 * Output is deterministic: the same input compiles to byte-identical JSON.
 */
import { IdentityAllocator } from '../../identity/allocator.js';
import { FIRST_CLUSTER_IDENTITY, ID_HOST, LAST_CLUSTER_IDENTITY } from '../../identity/reserved.js';
import { selectorString } from '../../labels/index.js';
import type { ClusterInput, NamedPort, PodInput, ServiceInput } from '../cluster.js';
import { podKey } from '../cluster.js';
import type { Isolation, PortSpec, Rule, TranslatedPolicy } from '../model.js';
import { translatePolicy } from '../translate/index.js';
import type { Direction, DirectionState, EndpointPolicy, Protocol, RuleRef, Segment } from '../types.js';
import { type ChangeSet, PeerCache, peerKey } from './peers.js';
import { type Contribution, sweep } from './segments.js';
import { buildUniverse, type Universe } from './universe.js';

export interface CompiledCluster {
  universe: Universe;
  translated: TranslatedPolicy[];
  /** The allocator that numbered the identities (pass it on so numbers stay stable). */
  allocator: IdentityAllocator;
  /** Internal: what `previous` needs to recompile incrementally. */
  memo: { resolver: unknown; policyText: Map<string, PolicyMemo> };
  /** podKey → compiled policy. */
  endpoints: Map<string, EndpointPolicy>;
  pods: Map<string, PodInput>;
  services: ServiceInput[];
  peers: PeerCache;
}

export interface CompileOptions {
  /** Reuse identity numbers from a previous compile (the live agent). */
  allocator?: IdentityAllocator;
  /** Already translated policies (skip translation). */
  translated?: TranslatedPolicy[];
  /**
   * Compute the map state of these pods only (`ns/name`); the others are absent from `endpoints`.
   * A single-flow trace needs two endpoints, not ten thousand.
   */
  only?: string[];
  /**
   * The previous compile of (nearly) the same cluster: unchanged policies keep their translation, identities keep
   * their numbers, and endpoint states the change cannot affect are reused instead of recomputed.
   */
  previous?: CompiledCluster;
}

const ALL_PORTS: Record<Protocol, [number, number]> = {
  TCP: [0, 65535],
  UDP: [0, 65535],
  SCTP: [0, 65535],
  ICMP: [0, 255],
};
const L4_PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** Pod identities live in the cluster-local range; the `pods` level applies to exactly these. */
export function isPodIdentity(id: number): boolean {
  return id >= FIRST_CLUSTER_IDENTITY && id <= LAST_CLUSTER_IDENTITY;
}

export function builtinRef(name: string): RuleRef {
  return { kind: 'Builtin', name, path: '' };
}

function hasNamedPort(r: Rule): boolean {
  return r.ports !== 'all' && r.ports.some((p) => typeof p.port === 'string');
}

function protocolsOf(spec: PortSpec): Protocol[] {
  return spec.protocol === 'ANY' ? L4_PROTOCOLS : [spec.protocol];
}

/** Contributions of one rule toward one peer; `named` resolves named ports (undefined: none resolvable). */
function contributions(rule: Rule, named: readonly NamedPort[] | undefined): Contribution[] {
  const base = { verdict: rule.verdict, ref: rule.ref, ...(rule.audit ? { audit: true } : {}) };
  if (rule.ports === 'all') {
    return (Object.keys(ALL_PORTS) as Protocol[]).map((protocol) => ({
      ...base,
      protocol,
      lo: ALL_PORTS[protocol][0],
      hi: ALL_PORTS[protocol][1],
    }));
  }
  const out: Contribution[] = [];
  for (const spec of rule.ports) {
    const l7 = { ...(spec.http ? { http: spec.http } : {}), ...(spec.dns ? { dns: spec.dns } : {}) };
    if (typeof spec.port === 'string') {
      for (const np of named ?? []) {
        if (np.name !== spec.port) continue;
        if (!protocolsOf(spec).includes(np.protocol)) continue;
        out.push({ ...base, ...l7, protocol: np.protocol, lo: np.port, hi: np.port });
      }
      continue;
    }
    for (const protocol of protocolsOf(spec)) {
      if (protocol === 'ICMP') out.push({ ...base, protocol, lo: spec.port, hi: spec.port });
      else if (spec.port === 0) out.push({ ...base, ...l7, protocol, lo: 0, hi: 65535 });
      else out.push({ ...base, ...l7, protocol, lo: spec.port, hi: spec.endPort ?? spec.port });
    }
  }
  return out;
}

/**
 * A more specific level only needs the less specific contributions that overlap its own port ranges:
 * where it has no segment, the lookup falls through to the less specific level, which already has the answer.
 * Copying only overlaps keeps an allow-all wildcard O(1) instead of O(identities) (target P4).
 */
function withOverlapping(own: Contribution[], lessSpecific: Contribution[]): Contribution[] {
  if (own.length === 0 || lessSpecific.length === 0) return own;
  // Clip each less specific contribution to the union of the own ranges of its protocol, so that the specific
  // level's segments cover exactly its own ranges and every other port still falls through.
  const ranges = new Map<Protocol, [number, number][]>();
  for (const o of own) {
    const list = ranges.get(o.protocol) ?? [];
    list.push([o.lo, o.hi]);
    ranges.set(o.protocol, list);
  }
  for (const [proto, list] of ranges) ranges.set(proto, mergeRanges(list));
  const out = [...own];
  for (const w of lessSpecific) {
    for (const [lo, hi] of ranges.get(w.protocol) ?? []) {
      if (lo > w.hi || w.lo > hi) continue;
      out.push(lo <= w.lo && w.hi <= hi ? w : { ...w, lo: Math.max(lo, w.lo), hi: Math.min(hi, w.hi) });
    }
  }
  return out;
}

function mergeRanges(list: [number, number][]): [number, number][] {
  const sorted = [...list].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

interface Selected {
  rules: Rule[];
  isolations: Isolation[];
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A computed direction state with what it was computed from, so a later compile can tell whether it still holds. */
interface CachedState {
  state: DirectionState;
  sel: Selected;
  /** Keys of every peer the state's rules name (see PeerCache). */
  peerKeys: string[];
  /** The state iterated over every pod identity (egress named ports toward any peer). */
  universeWide: boolean;
  namedPorts: boolean;
}

class Resolver {
  /** identity → direction → selecting rules and isolations. */
  readonly selected = new Map<number, Record<Direction, Selected>>();
  readonly stateCache = new Map<string, CachedState>();
  private readonly staticContribs = new Map<Rule, Contribution[]>();
  /** States reused from the previous compile (for tests and benchmarks). */
  reused = 0;

  constructor(
    private readonly u: Universe,
    private readonly peers: PeerCache,
    translated: TranslatedPolicy[],
  ) {
    const subjectCache = new Map<string, number[]>();
    const subjects = (sel: Rule['subject']): number[] => {
      const k = selectorString(sel);
      let ids = subjectCache.get(k);
      if (!ids) {
        ids = u.index.matching(sel).filter(isPodIdentity);
        subjectCache.set(k, ids);
      }
      return ids;
    };
    const slot = (id: number, dir: Direction): Selected => {
      let s = this.selected.get(id);
      if (!s) {
        s = { ingress: { rules: [], isolations: [] }, egress: { rules: [], isolations: [] } };
        this.selected.set(id, s);
      }
      return s[dir];
    };
    for (const t of translated) {
      for (const iso of t.isolations)
        for (const id of subjects(iso.subject)) slot(id, iso.direction).isolations.push(iso);
      for (const r of t.rules) for (const id of subjects(r.subject)) slot(id, r.direction).rules.push(r);
    }
  }

  endpointPolicy(pod: PodInput, identity: number): EndpointPolicy {
    return {
      endpoint: podKey(pod),
      identity,
      ingress: this.direction(identity, pod.ports, 'ingress'),
      egress: this.direction(identity, pod.ports, 'egress'),
    };
  }

  private direction(identity: number, ownPorts: NamedPort[], dir: Direction): DirectionState {
    const sel = this.selected.get(identity)?.[dir];
    if (!sel || (sel.isolations.length === 0 && sel.rules.length === 0)) {
      return { enforced: false, enforcedBy: [], defaultAllow: false, byIp: {}, byIdentity: {}, pods: [], wildcard: [] };
    }
    const portsSig = dir === 'ingress' && sel.rules.some(hasNamedPort) ? JSON.stringify(ownPorts) : '';
    const key = `${identity}|${dir}|${portsSig}`;
    const cached = this.stateCache.get(key);
    if (cached) return cached.state;
    const state = this.computeDirection(sel, ownPorts, dir);
    const peerKeys: string[] = [];
    for (const r of sel.rules) if (r.peers !== 'any') for (const p of r.peers) peerKeys.push(peerKey(p));
    this.stateCache.set(key, {
      state,
      sel,
      peerKeys,
      universeWide: dir === 'egress' && sel.rules.some((r) => r.peers === 'any' && hasNamedPort(r)),
      namedPorts: sel.rules.some(hasNamedPort),
    });
    return state;
  }

  /**
   * Takes over the states of a previous compile that the changes cannot have touched: same selecting rules
   * (translation reuses unchanged policies' Rule objects), no named peer whose match changed, and nothing that
   * depends on the whole identity set or on container ports when those changed.
   */
  seedFrom(prev: Resolver, changes: ChangeSet): void {
    for (const [key, c] of prev.stateCache) {
      const [idText, dir] = key.split('|') as [string, Direction];
      const sel = this.selected.get(Number(idText))?.[dir];
      if (!sel || !sameList(sel.rules, c.sel.rules) || !sameList(sel.isolations, c.sel.isolations)) continue;
      if (c.universeWide && changes.identitiesChanged) continue;
      if (c.namedPorts && changes.portsChanged) continue;
      if (c.peerKeys.some((k) => changes.changedPeers.has(k))) continue;
      this.stateCache.set(key, { ...c, sel });
      this.reused++;
    }
  }

  private ruleContribs(rule: Rule, named: readonly NamedPort[] | undefined): Contribution[] {
    if (hasNamedPort(rule)) return contributions(rule, named);
    let c = this.staticContribs.get(rule);
    if (!c) {
      c = contributions(rule, undefined);
      this.staticContribs.set(rule, c);
    }
    return c;
  }

  private computeDirection(sel: Selected, ownPorts: NamedPort[], dir: Direction): DirectionState {
    const wildcard: Contribution[] = [];
    const podLevel: Contribution[] = [];
    const byId = new Map<number, Contribution[]>();
    const byIp = new Map<string, Contribution[]>();
    const push = <K>(m: Map<K, Contribution[]>, k: K, cs: Contribution[]) => {
      if (cs.length === 0) return;
      const list = m.get(k);
      if (list) list.push(...cs);
      else m.set(k, [...cs]);
    };
    // Named ports resolve against the subject itself on ingress and against the peer on egress.
    const namedFor = (peerPorts: readonly NamedPort[]) => (dir === 'ingress' ? ownPorts : peerPorts);
    const interceptsDns = sel.rules.some(
      (r) => r.verdict === 'allow' && r.ports !== 'all' && r.ports.some((p) => (p.dns?.length ?? 0) > 0),
    );

    for (const rule of sel.rules) {
      if (rule.peers === 'any') {
        if (dir === 'egress' && hasNamedPort(rule)) {
          // Numeric ports apply to every peer; a named port only to the pods that define it.
          wildcard.push(...contributions(rule, undefined));
          for (const i of this.u.identities) {
            if (i.kind !== 'pod') continue;
            if (i.uniformPorts) push(byId, i.id, this.ruleContribs(rule, i.namedPorts));
            else for (const p of i.pods) if (p.ip) push(byIp, p.ip, this.ruleContribs(rule, p.ports));
          }
        } else wildcard.push(...this.ruleContribs(rule, ownPorts));
        continue;
      }
      for (const peer of rule.peers) {
        // toFQDNs only learns IPs from DNS answers the proxy intercepts: without a DNS rule it allows nothing.
        if (peer.kind === 'fqdn' && !interceptsDns) continue;
        const m = this.peers.match(peer);
        const perPeerPorts = dir === 'egress' && hasNamedPort(rule);
        if (m.allPods && !perPeerPorts) {
          podLevel.push(...this.ruleContribs(rule, ownPorts));
          for (const id of m.nonPodIds)
            push(byId, id, this.ruleContribs(rule, namedFor(this.u.byId.get(id)?.namedPorts ?? [])));
        } else {
          for (const id of m.ids) {
            const ident = this.u.byId.get(id);
            if (perPeerPorts && ident && !ident.uniformPorts) {
              // Pods sharing this identity disagree on their named ports: resolve per destination pod (by IP).
              for (const p of ident.pods) if (p.ip) push(byIp, p.ip, this.ruleContribs(rule, p.ports));
              continue;
            }
            push(byId, id, this.ruleContribs(rule, namedFor(ident?.namedPorts ?? [])));
          }
        }
        for (const ip of m.ips) push(byIp, ip, this.ruleContribs(rule, namedFor(this.u.podByIp.get(ip)?.ports ?? [])));
      }
    }

    const defaultAllow = sel.isolations.length > 0 && sel.isolations.every((i) => !i.defaultDeny);
    if (defaultAllow) {
      wildcard.push(
        ...contributions(
          { ...sel.isolations[0]!, verdict: 'allow', peers: 'any', ports: 'all', ref: builtinRef(`allow-any-${dir}`) },
          undefined,
        ),
      );
    }

    const state: DirectionState = {
      enforced: true,
      enforcedBy: sel.isolations.map((i) => i.ref),
      defaultAllow,
      byIp: {},
      byIdentity: {},
      pods: sweep(withOverlapping(podLevel, wildcard)),
      wildcard: sweep(wildcard),
    };
    const podFallback = [...podLevel, ...wildcard];
    if (sel.isolations.length > 0 && sel.isolations.every((i) => i.audit)) state.auditDefault = true;

    const ids = [...byId.keys()];
    // Cilium's allow-localhost: the host reaches every port of a pod, never through the proxy; denies still apply.
    if (dir === 'ingress' && !ids.includes(ID_HOST)) ids.push(ID_HOST);
    for (const id of ids.sort((a, b) => a - b)) {
      const own = byId.get(id) ?? [];
      if (id === ID_HOST && dir === 'ingress') {
        const localhost = contributions(
          {
            ...sel.isolations[0]!,
            verdict: 'allow',
            peers: 'any',
            ports: 'all',
            ref: builtinRef('allow-localhost'),
          } as Rule,
          undefined,
        );
        state.byIdentity[id] = sweep([...own, ...wildcard, ...localhost], true);
        continue;
      }
      state.byIdentity[id] = sweep(withOverlapping(own, isPodIdentity(id) ? podFallback : wildcard));
    }
    for (const ip of [...byIp.keys()].sort()) {
      const pod = this.u.podByIp.get(ip)!;
      const podId = this.u.podIdentity.get(podKey(pod))!;
      state.byIp[ip] = sweep(withOverlapping([...byIp.get(ip)!, ...(byId.get(podId) ?? [])], podFallback));
    }
    return state;
  }
}

/** What an incremental compile remembers of a policy object. */
interface PolicyMemo {
  obj: ClusterInput['policies'][number];
  text?: string;
  translated: TranslatedPolicy;
}

function textOf(m: PolicyMemo): string {
  m.text ??= JSON.stringify(m.obj);
  return m.text;
}

function policyKeyOf(p: ClusterInput['policies'][number]): string {
  return `${p.kind}/${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`;
}

export function compile(cluster: ClusterInput, opts: CompileOptions = {}): CompiledCluster {
  const prev = opts.previous;
  const policyText = new Map<string, PolicyMemo>();
  let translated: TranslatedPolicy[];
  if (opts.translated) translated = opts.translated;
  else {
    translated = cluster.policies.map((p) => {
      const key = policyKeyOf(p);
      const old = prev?.memo.policyText.get(key);
      // The same object is the same policy (inputs are treated as immutable); otherwise compare the text, computed
      // only when there is something to compare with.
      if (old && (old.obj === p || textOf(old) === JSON.stringify(p))) {
        policyText.set(key, {
          obj: p,
          ...(old.obj === p && old.text ? { text: old.text } : {}),
          translated: old.translated,
        });
        return old.translated;
      }
      const t = translatePolicy(p);
      policyText.set(key, { obj: p, translated: t });
      return t;
    });
  }
  const allocator = opts.allocator ?? prev?.allocator ?? new IdentityAllocator();
  const universe = buildUniverse(cluster, translated, allocator);
  const peers = new PeerCache(universe, cluster.services);
  const resolver = new Resolver(universe, peers, translated);
  if (prev) resolver.seedFrom(prev.memo.resolver as Resolver, peers.seedFrom(prev.peers, prev.universe));
  const endpoints = new Map<string, EndpointPolicy>();
  const pods = new Map<string, PodInput>();
  const sorted = [...cluster.pods].sort((a, b) => (podKey(a) < podKey(b) ? -1 : 1));
  const only = opts.only ? new Set(opts.only) : undefined;
  for (const pod of sorted) {
    const key = podKey(pod);
    pods.set(key, pod);
    if (only && !only.has(key)) continue;
    endpoints.set(key, resolver.endpointPolicy(pod, universe.podIdentity.get(key)!));
  }
  return {
    universe,
    translated,
    allocator,
    memo: { resolver, policyText },
    endpoints,
    pods,
    services: cluster.services,
    peers,
  };
}

/** How many endpoint direction states the last compile took over from `previous` (for benchmarks and tests). */
export function reusedStates(c: CompiledCluster): number {
  return (c.memo.resolver as Resolver).reused;
}

export type { Segment };
