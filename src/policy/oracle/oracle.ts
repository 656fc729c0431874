/**
 * The naive reference evaluator: the "simulation" side of podwall's differential test (Cilium's
 * FuzzDistillPolicy checks the distilled map state against a simple engine in the same way).
 *
 * It reads the TRANSLATED rules (`translatePolicy`, shared with the resolver) and nothing of the resolver:
 * no identities, no selector cache, no port segments, no map state. For one flow it walks the rules that
 * select the source (egress) and the destination (ingress) and applies the decision procedure of
 * shared/docs/cilium-semantics.md §3 literally, rule by rule. It is slow on purpose and must stay obviously right;
 * every decision below names the paragraph it comes from (`§3.2.4` = §3.2, step 4; "K8s rule N" = the numbered
 * rules in shared/conformance/k8s-netpol/README.md).
 *
 * Scope: IPv4 only (the doc's default agent settings); `toServices` peers are not modelled (throws).
 */
import { podIdentityLabels } from '../../identity/endpoint-labels.js';
import { LabelSet, SOURCE_RESERVED, selectorMatches } from '../../labels/index.js';
import type { ClusterInput, NamedPort, PodInput } from '../cluster.js';
import { matchHttp } from '../l7/http.js';
import type { Isolation, Peer, PortSpec, Rule, TranslatedPolicy } from '../model.js';
import { translatePolicy } from '../translate/index.js';
import type { Direction, DropReason, Flow } from '../types.js';

export interface OracleVerdict {
  verdict: 'allowed' | 'denied-l3l4' | 'denied-l7';
  dropReason?: DropReason;
}

const ALLOWED: OracleVerdict = { verdict: 'allowed' };

/** One end of a flow, classified by IP (§3.5 identity precedence: pod > host > remote node > CIDR/world). */
type Party =
  | { kind: 'pod'; ip: string; pod: PodInput; labels: LabelSet }
  | { kind: 'host' | 'remote-node' | 'world'; ip: string; labels: LabelSet };

function reserved(...names: string[]): LabelSet {
  return new LabelSet(names.map((key) => ({ source: SOURCE_RESERVED, key, value: '' })));
}

/** §4: the host identity carries reserved:host, plus reserved:kube-apiserver (podwall's API server runs on the node). */
const HOST_LABELS = reserved('host', 'kube-apiserver');
const REMOTE_NODE_LABELS = reserved('remote-node');
/** §3.3 entity `world`, §4 CIDR identity labels: anything outside the cluster carries reserved:world (world-ipv4). */
const WORLD_LABELS = reserved('world', 'world-ipv4');

function partyOf(cluster: ClusterInput, ip: string): Party {
  const pod = cluster.pods.find((p) => p.ip !== '' && p.ip === ip);
  if (pod) {
    const ns = cluster.namespaces.find((n) => n.name === pod.namespace);
    const labels = podIdentityLabels({
      namespace: pod.namespace,
      labels: pod.labels,
      namespaceLabels: ns?.labels ?? {},
      serviceAccount: pod.serviceAccount,
    });
    return { kind: 'pod', ip, pod, labels };
  }
  if (cluster.hostIps?.includes(ip)) return { kind: 'host', ip, labels: HOST_LABELS };
  if (cluster.remoteNodeIps?.includes(ip)) return { kind: 'remote-node', ip, labels: REMOTE_NODE_LABELS };
  return { kind: 'world', ip, labels: WORLD_LABELS };
}

// ---- IPv4 containment (own code, on purpose not util/ip: the oracle shares nothing after translation) ----

function ipv4(text: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}

/** `ip` inside `cidr` ("a.b.c.d/n"; a bare address is a /32, §3.5). IPv6 prefixes never contain an IPv4 address. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const a = ipv4(ip);
  const b = ipv4(base ?? '');
  if (a === undefined || b === undefined) return false;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

// ---- DNS names (§1.5; own code, not resolve/fqdn) ----

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** One pattern label: `*` is zero or more DNS characters inside that label. */
function labelMatches(pattern: string, label: string): boolean {
  const parts = pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[-a-z0-9_]*')}$`).test(label);
}

/**
 * §1.5: `matchName` is literal (case-insensitive, trailing dot optional); `matchPattern` `*` alone matches every
 * name, a leading `**.` stands for one or more labels, and `*` elsewhere stays within one label.
 */
export function dnsNameMatches(sel: { matchName?: string; matchPattern?: string }, name: string): boolean {
  const labels = normalizeName(name).split('.');
  if (sel.matchName !== undefined) return normalizeName(sel.matchName) === normalizeName(name);
  if (sel.matchPattern === undefined) return false;
  const pattern = normalizeName(sel.matchPattern);
  if (pattern === '*') return true;
  let pl = pattern.split('.');
  let nl = labels;
  if (pl[0] === '**') {
    pl = pl.slice(1);
    if (nl.length <= pl.length) return false;
    nl = nl.slice(nl.length - pl.length);
  }
  return nl.length === pl.length && pl.every((p, i) => labelMatches(p, nl[i]!));
}

// ---- peers and ports ----

interface PeerContext {
  /** §3.5: toFQDNs learns IPs only from DNS answers the proxy intercepted (the source has a DNS rule). */
  interceptsDns: boolean;
  dnsCache: Record<string, string[]>;
}

function inCidrRule(ip: string, p: Extract<Peer, { kind: 'cidr' }>): boolean {
  return ipInCidr(ip, p.cidr) && !p.except.some((e) => ipInCidr(ip, e));
}

function peerMatches(p: Peer, party: Party, ctx: PeerContext): boolean {
  switch (p.kind) {
    // §3.3/§3.4: endpoint selectors (namespace scoping already ANDed by translation) against identity labels.
    case 'endpoints':
      return selectorMatches(p.selector, party.labels);
    case 'cidr':
      switch (party.kind) {
        // §3.5: Cilium CIDR rules never match pod IPs; K8s ipBlock matches the peer pod's IP (K8s rule 5).
        case 'pod':
          return p.matchPods && inCidrRule(party.ip, p);
        // §3.3/§3.5: CIDR rules select the local host's own IPs (the host identity carries cidr: labels).
        case 'host':
          return inCidrRule(party.ip, p);
        // §3.5: remote nodes only with policy-cidr-match-mode=nodes (off by default).
        case 'remote-node':
          return false;
        // §3.5: external IPs by containment, minus `except`; a /0 contains every address.
        case 'world':
          return inCidrRule(party.ip, p);
      }
      return false;
    // §3.5: only IPs the DNS proxy saw for a matching name; in-cluster IPs never match.
    case 'fqdn':
      return (
        party.kind === 'world' &&
        ctx.interceptsDns &&
        Object.entries(ctx.dnsCache).some(([name, ips]) => ips.includes(party.ip) && dnsNameMatches(p, name))
      );
    case 'service':
      throw new Error('oracle: toServices peers are not modelled');
  }
}

function ruleSelectsPeer(r: Rule, party: Party, ctx: PeerContext): boolean {
  // model.ts / §3.3: 'any' is a rule without a peer field (with toPorts): every peer, world and host included.
  return r.peers === 'any' || r.peers.some((p) => peerMatches(p, party, ctx));
}

/** A matching port entry: a PortSpec, or `L3` for an L3-only rule (ports 'all') or the synthesised allow-any. */
type PortHit = PortSpec | 'L3';

/** §1.3: omitted protocol / ANY = TCP+UDP+SCTP, never ICMP. */
function specProtocols(spec: PortSpec): string[] {
  return spec.protocol === 'ANY' ? ['TCP', 'UDP', 'SCTP'] : [spec.protocol];
}

function specMatches(spec: PortSpec, flow: Flow, namedPorts: readonly NamedPort[]): boolean {
  if (!specProtocols(spec).includes(flow.protocol)) return false;
  // §1.3 icmps: the "port" of an ICMP entry is the exact ICMP type (type 0 is EchoReply, not "all").
  if (flow.protocol === 'ICMP') return spec.port === flow.dport;
  // §1.3 / K8s rule 6: a named port must match the container port's number AND protocol.
  if (typeof spec.port === 'string') {
    return namedPorts.some((np) => np.name === spec.port && np.protocol === flow.protocol && np.port === flow.dport);
  }
  // §1.3: port 0 = every port of the protocol; endPort makes an inclusive range.
  if (spec.port === 0) return true;
  return flow.dport >= spec.port && flow.dport <= (spec.endPort ?? spec.port);
}

function portHits(r: Rule, flow: Flow, namedPorts: readonly NamedPort[]): PortHit[] {
  // §3.6: an L3-only rule (no toPorts / no K8s ports) covers every protocol and port, ICMP included.
  if (r.ports === 'all') return ['L3'];
  return r.ports.filter((s) => specMatches(s, flow, namedPorts));
}

function hasL7(h: PortHit): boolean {
  return h !== 'L3' && ((h.http?.length ?? 0) > 0 || (h.dns?.length ?? 0) > 0);
}

// ---- one direction ----

function judgeDirection(
  translated: readonly TranslatedPolicy[],
  dir: Direction,
  subject: Extract<Party, { kind: 'pod' }>,
  peer: Party,
  flow: Flow,
  dnsCache: Record<string, string[]>,
): OracleVerdict {
  const selects = (x: Rule | Isolation) => x.direction === dir && selectorMatches(x.subject, subject.labels);
  const rules = translated.flatMap((t) => t.rules).filter(selects);
  const isolations = translated.flatMap((t) => t.isolations).filter(selects);

  // §3.1: a direction is enforced iff some policy section for it selects the endpoint (deny-only sections too);
  // K8s rule 2: a non-isolated direction allows everything.
  if (isolations.length === 0) return ALLOWED;
  // §3.1: if every selecting section has enableDefaultDeny=false, the agent adds a lowest-precedence allow-all.
  const defaultAllow = isolations.every((i) => !i.defaultDeny);

  const ctx: PeerContext = {
    interceptsDns:
      dir === 'egress' &&
      rules.some((r) => r.verdict === 'allow' && r.ports !== 'all' && r.ports.some((p) => (p.dns?.length ?? 0) > 0)),
    dnsCache,
  };
  // Named ports resolve against the destination pod: on ingress the subject's own containers (§1.3), on egress the
  // peer's (K8s rule 6). A non-pod destination has no named ports.
  const dst = dir === 'ingress' ? subject : peer;
  const namedPorts = dst.kind === 'pod' ? dst.pod.ports : [];
  const hits = (verdict: Rule['verdict']): PortHit[] =>
    rules
      .filter((r) => r.verdict === verdict && ruleSelectsPeer(r, peer, ctx))
      .flatMap((r) => portHits(r, flow, namedPorts));

  // §3.2.2: any deny covering (peer, proto, port) drops, whatever allows exist.
  if (hits('deny').length > 0) return { verdict: 'denied-l3l4', dropReason: 'POLICY_DENY' };
  // §3.2 "special allows": allow-localhost — host → pod ingress passes every port, never proxied; denies still win.
  if (dir === 'ingress' && peer.kind === 'host') return ALLOWED;

  // §3.2.3: union of the allows covering (peer, proto, port); none ⇒ default deny.
  const allows = hits('allow');
  if (defaultAllow) allows.push('L3');
  if (allows.length === 0) return { verdict: 'denied-l3l4', dropReason: 'POLICY_DENIED' };

  // §3.2.4 / §3.6: one matching allow without L7 (L3-only, L4-only, any kind) lets every request through.
  if (allows.some((h) => !hasL7(h))) return ALLOWED;
  // §3.2.4: otherwise a request must match the union of the L7 rules of all matching allows (403 / REFUSED).
  const http = allows.flatMap((h) => (h === 'L3' ? [] : (h.http ?? [])));
  const dns = allows.flatMap((h) => (h === 'L3' ? [] : (h.dns ?? [])));
  if (flow.dns) {
    return dns.some((d) => dnsNameMatches(d, flow.dns!.query)) ? ALLOWED : { verdict: 'denied-l7' };
  }
  if (flow.http) {
    const headers = Object.fromEntries(Object.entries(flow.http.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const req = { method: flow.http.method, path: flow.http.path, host: flow.http.host ?? '', headers };
    return matchHttp(http, req).allowed ? ALLOWED : { verdict: 'denied-l7' };
  }
  // A connection without a request (a probe, a plain TCP handshake) is proxied and passes.
  return ALLOWED;
}

// ---- the flow ----

/** Translation is shared input; cached per cluster object (clusters are treated as immutable values). */
const translations = new WeakMap<ClusterInput, TranslatedPolicy[]>();

function translatedOf(cluster: ClusterInput): TranslatedPolicy[] {
  let t = translations.get(cluster);
  if (!t) {
    t = cluster.policies.map(translatePolicy);
    translations.set(cluster, t);
  }
  return t;
}

/** The flow verdict plus each side's own verdict (absent when that side is not a local pod). */
export interface OracleFlowVerdict extends OracleVerdict {
  egress?: OracleVerdict;
  ingress?: OracleVerdict;
}

/**
 * The verdict for one post-DNAT flow, computed naively from the translated rules.
 * §3.2: pod → pod must pass the source's egress AND the destination's ingress; pod → external (or host) is judged at
 * egress only, external (or host) → pod at ingress only. The sides are combined in packet order: the source's egress
 * first, L3/L4 and then its proxy's L7 verdict (a 403 from the egress proxy means the request never leaves the
 * node, §3.7, so the destination's ingress is never consulted), then the destination's ingress.
 */
export function oracleVerdict(cluster: ClusterInput, flow: Flow): OracleFlowVerdict {
  const translated = translatedOf(cluster);
  const dnsCache = cluster.dnsCache ?? {};
  const src = partyOf(cluster, flow.srcIp);
  const dst = partyOf(cluster, flow.dstIp);
  const egress = src.kind === 'pod' ? judgeDirection(translated, 'egress', src, dst, flow, dnsCache) : undefined;
  const ingress = dst.kind === 'pod' ? judgeDirection(translated, 'ingress', dst, src, flow, dnsCache) : undefined;
  const deciding = egress && egress.verdict !== 'allowed' ? egress : (ingress ?? ALLOWED);
  return { ...deciding, ...(egress ? { egress } : {}), ...(ingress ? { ingress } : {}) };
}
