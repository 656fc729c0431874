/**
 * The one internal rule model. NetworkPolicy, CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy are all
 * translated into these plain values at the edge of the engine; everything after translation (resolver, oracle,
 * lint, trace) reads only this dialect.
 */
import type { Selector } from '../labels/selector.js';
import type { Direction, DnsRule, HttpRule, Protocol, RuleRef } from './types.js';

/** Who a rule talks to. A rule's peer list is ORed; `undefined` peers means any peer at all. */
export type Peer =
  /** Endpoints (pods, reserved identities) whose identity labels match. */
  | { kind: 'endpoints'; selector: Selector }
  /**
   * IPs inside `cidr` and outside every `except` (canonical CIDR strings).
   * `matchPods`: Kubernetes ipBlock semantics (pod IPs match too); Cilium CIDR rules never match pods.
   */
  | { kind: 'cidr'; cidr: string; except: string[]; matchPods: boolean }
  /** IPs the DNS proxy saw as answers for names matching the pattern. */
  | { kind: 'fqdn'; matchName?: string; matchPattern?: string }
  /**
   * Cilium toServices: the backends of a Service, resolved against the cluster when compiling
   * (a Service with a selector becomes its pods; one without becomes its endpoint IPs as CIDRs).
   */
  | { kind: 'service'; namespace: string; name?: string; selector?: Selector };

/** One port entry. Named ports are resolved per peer (egress) or per subject (ingress). */
export interface PortSpec {
  /** `ANY` = TCP, UDP and SCTP (Cilium's omitted protocol). */
  protocol: Protocol | 'ANY';
  /** A number (0 = all ports of the protocol) or a container port name. */
  port: number | string;
  /** Inclusive end of a range; only with a numeric port. */
  endPort?: number;
  http?: HttpRule[];
  dns?: DnsRule[];
}

export interface Rule {
  ref: RuleRef;
  direction: Direction;
  verdict: 'allow' | 'deny';
  /** Endpoints this rule applies to (already scoped to the policy's namespace where the kind requires it). */
  subject: Selector;
  /** ORed peers; `'any'` matches every peer, including world and host. An empty list matches nothing. */
  peers: Peer[] | 'any';
  /** ORed ports; `'all'` matches every protocol and port, including ICMP (an L3-only rule). */
  ports: PortSpec[] | 'all';
  /** When false this rule does not turn on default-deny (Cilium enableDefaultDeny). */
  defaultDeny: boolean;
  audit?: boolean;
}

/**
 * A policy section that selects endpoints for a direction even when it has no rules
 * (a NetworkPolicy with policyTypes [Egress] and no egress rules; a CNP with `ingress: [{}]`).
 */
export interface Isolation {
  ref: RuleRef;
  direction: Direction;
  subject: Selector;
  defaultDeny: boolean;
  audit?: boolean;
}

/** Everything one policy object contributes. */
export interface TranslatedPolicy {
  /** `Kind/namespace/name` or `Kind/name`. */
  key: string;
  rules: Rule[];
  isolations: Isolation[];
  /** Findings that are not errors (e.g. host policies parsed but not enforced). */
  warnings: string[];
}
