/**
 * Plain-data types shared by the policy resolver and its consumers (datapath drivers, L7 proxy, observer,
 * offline trace). No logic lives here, so edges can import it without pulling in the resolver.
 *
 * The compiled form is Cilium's "PolicyMapState" idea, made explicit and disjoint:
 * for one endpoint and one direction, a lookup of (peer, protocol, port) walks four levels, most specific first:
 *   1. `byIp`      entries keyed by the peer's exact IP (only for Kubernetes ipBlock rules that cover pod IPs),
 *   2. `byIdentity` entries keyed by the peer's numeric security identity,
 *   3. `pods`      entries for any pod peer, i.e. a peer identity in the cluster-local range 256–65535
 *                  (selectors that match every pod: `cluster`, a CCNP `{}`, `namespaceSelector: {}`),
 *   4. `wildcard`  entries that apply to any peer.
 * The first level that has a segment containing (protocol, port) decides; a miss falls through to the next level.
 * Wherever a level has a segment, the resolver has already merged into it every less specific contribution that
 * overlaps it (a wildcard deny on 1-1024 is folded into an identity's allow on 80), so a driver never combines
 * entries: it renders each level as one lookup table with non-overlapping keys and falls through on a miss.
 * No segment at any level means: not allowed (when the direction is enforced).
 */

export type Direction = 'ingress' | 'egress';

/** Protocols a map key can carry. `ICMP` segments use the ICMP type as the "port". */
export type Protocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP', 'ICMP'];

/** Kinds of policy objects that produce rules. */
export type PolicyKind = 'NetworkPolicy' | 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';

/**
 * Names one rule of one policy object: the unit of attribution. `Builtin` names podwall's implicit rules:
 * `allow-localhost` (host → pod ingress, Cilium's allow-localhost=always) and `allow-any-ingress|egress`
 * (the lowest-precedence allow Cilium synthesises when every selecting rule has enableDefaultDeny=false).
 */
export interface RuleRef {
  kind: PolicyKind | 'Builtin';
  /** Absent for cluster-scoped policies. */
  namespace?: string;
  name: string;
  /** Path of the rule inside the object, e.g. `spec.ingress[1]` or `specs[0].egressDeny[0]`. */
  path: string;
}

/** One HTTP rule of a Cilium policy: every present field must match (regexes are full-string, RE2). */
export interface HttpRule {
  method?: string;
  path?: string;
  host?: string;
  /** `headers: ["X-Foo"]` (presence) or `["X-Foo: bar"]` (exact value). */
  headers?: { name: string; value?: string }[];
  headerMatches?: { name: string; value?: string; mismatch?: 'LOG' | 'ADD' | 'DELETE' | 'REPLACE' }[];
  /** The rule this HTTP rule came from, plus its index: `spec.ingress[0].toPorts[0].rules.http[1]`. */
  ref: RuleRef;
  httpPath: string;
}

/** One DNS rule (egress to a resolver): `matchName` or `matchPattern`. */
export interface DnsRule {
  matchName?: string;
  matchPattern?: string;
  ref: RuleRef;
}

/**
 * What a connection that reaches this segment gets at L7.
 * Absent: no proxy. Present: the connection is redirected to the proxy, which admits a request iff
 * `wildcard` is true (visibility only) or some HTTP rule matches; otherwise it answers 403 "Access denied".
 */
export interface L7Policy {
  http: HttpRule[];
  dns: DnsRule[];
  /** True when some allow for this peer/port has no L7 rules, or the direction is not default-deny. */
  wildcard: boolean;
  /** The rules that made it a wildcard (for attribution: "L4 allow in X cancels the L7 rules of Y"). */
  wildcardBy: RuleRef[];
}

export type SegmentVerdict = 'allow' | 'deny';

/** A run of ports [lo, hi] of one protocol with one outcome. */
export interface Segment {
  protocol: Protocol;
  lo: number;
  hi: number;
  verdict: SegmentVerdict;
  /** For allow: the allow rules that cover this segment. For deny: the deny rules that matched. */
  rules: RuleRef[];
  l7?: L7Policy;
  /** Audit mode of the deciding policies: the datapath logs AUDIT and lets the packet through. */
  audit?: boolean;
}

export interface DirectionState {
  /** False: no policy selects this endpoint for this direction, everything is allowed. */
  enforced: boolean;
  /** The policies (and their sections) that turned enforcement on, for "isolated by" explanations. */
  enforcedBy: RuleRef[];
  /** True when every selecting rule had enableDefaultDeny=false: only explicit denies drop. */
  defaultAllow: boolean;
  /** True when every policy that enforces this direction is in audit mode: default-deny drops are only logged. */
  auditDefault?: boolean;
  /** Segments per peer IP (pod IPs matched by Kubernetes ipBlock rules). Sorted by protocol, lo. */
  byIp: Record<string, Segment[]>;
  /** Segments per peer identity. Sorted by protocol, lo. */
  byIdentity: Record<number, Segment[]>;
  /** Segments for any pod peer (identity 256–65535). Sorted by protocol, lo. */
  pods: Segment[];
  /** Segments for any peer. Sorted by protocol, lo. */
  wildcard: Segment[];
}

/** The compiled policy of one endpoint. */
export interface EndpointPolicy {
  /** `namespace/name` of the pod (or a synthetic name for reserved endpoints). */
  endpoint: string;
  identity: number;
  ingress: DirectionState;
  egress: DirectionState;
}

/** A flow as the datapath sees it after service translation. */
export interface Flow {
  srcIp: string;
  dstIp: string;
  protocol: Protocol;
  /** Destination port (ICMP: the ICMP type). */
  dport: number;
  sport?: number;
  http?: { method: string; path: string; host?: string; headers?: Record<string, string> };
  dns?: { query: string };
}

export type DropReason = 'POLICY_DENIED' | 'POLICY_DENY';

/** The outcome for one direction. */
export interface DirectionVerdict {
  direction: Direction;
  /** The endpoint whose policy was consulted (`ns/pod`), or undefined when the side is not a local endpoint. */
  endpoint?: string;
  verdict: 'allowed' | 'denied-l3l4' | 'denied-l7' | 'not-applicable';
  dropReason?: DropReason;
  enforced: boolean;
  /** Rules that allowed (allowed), or matched as deny (POLICY_DENY). Empty for default deny. */
  rules: RuleRef[];
  /** For default deny: the policies that isolate the endpoint in this direction. */
  enforcedBy: RuleRef[];
  /** For L7: the HTTP rule that admitted the request, or none. */
  l7?: { redirected: boolean; matched?: HttpRule; wildcardBy?: RuleRef[]; candidates: HttpRule[] };
  /** Level of the map state that decided: 'ip' | 'identity' | 'wildcard' | 'default'. */
  matchedBy?: 'ip' | 'identity' | 'pods' | 'wildcard' | 'default' | 'unenforced' | 'host';
  audit?: boolean;
}

export interface FlowVerdict {
  verdict: 'allowed' | 'denied-l3l4' | 'denied-l7';
  dropReason?: DropReason;
  egress: DirectionVerdict;
  ingress: DirectionVerdict;
  srcIdentity: number;
  dstIdentity: number;
}
