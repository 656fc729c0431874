/**
 * CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy → rule model, with Cilium 1.19's namespace scoping
 * (pkg/k8s/apis/cilium.io/utils/utils.go) and peer semantics (pkg/policy/api, docs language.rst):
 * - a CNP's endpointSelector always gets `k8s:io.kubernetes.pod.namespace=<ns>`;
 * - a CNP's from/toEndpoints get the policy namespace unless they name a namespace (or namespace labels)
 *   or a reserved label; a CCNP's get `io.kubernetes.pod.namespace Exists` (pods only);
 * - `fromEndpoints: []` selects nothing; a rule with no peer field but with toPorts/icmps selects every peer;
 * - omitted protocol is ANY (TCP, UDP, SCTP).
 * The input is assumed validated; anything still off is skipped with a warning, never thrown.
 */
import type {
  CiliumNetworkPolicy,
  CiliumPeerRule,
  CiliumPortRule,
  CiliumRule,
  LabelSelector,
} from '../../api/types.js';
import { CLUSTER_NAME } from '../../identity/endpoint-labels.js';
import { CLUSTER_ENTITY_RESERVED } from '../../identity/reserved.js';
import {
  andSelectors,
  fromLabelSelector,
  LABEL_NAMESPACE,
  LABEL_NAMESPACE_LABELS_PREFIX,
  makeSelector,
  type Selector,
  SOURCE_ANY,
  SOURCE_K8S,
  SOURCE_RESERVED,
} from '../../labels/index.js';
import { LABEL_CLUSTER } from '../../labels/labels.js';
import { canonicalCidr } from '../../util/ip.js';
import type { Isolation, Peer, PortSpec, Rule, TranslatedPolicy } from '../model.js';
import type { Direction, DnsRule, HttpRule, PolicyKind, Protocol, RuleRef } from '../types.js';
import { icmpTypeNumber } from './icmp.js';
import { IS_POD, namespaceIs } from './network-policy.js';

type Section = `${Direction}Deny` | Direction;

interface Ctx {
  kind: PolicyKind;
  namespace?: string;
  name: string;
  warnings: string[];
}

function reserved(name: string): Selector {
  return makeSelector([{ source: SOURCE_RESERVED, key: name, op: 'Exists', values: [] }]);
}

/** Entity name → peers (pkg/policy/api/entity.go). `all` is handled by the caller (any peer). */
export function entityPeers(entity: string): Peer[] {
  switch (entity) {
    case 'none':
      return [];
    case 'cluster':
      return [
        ...CLUSTER_ENTITY_RESERVED.map((n) => ({ kind: 'endpoints' as const, selector: reserved(n) })),
        {
          kind: 'endpoints',
          selector: makeSelector([{ source: SOURCE_K8S, key: LABEL_CLUSTER, op: 'In', values: [CLUSTER_NAME] }]),
        },
      ];
    case 'world-ipv4':
      // podwall nodes are IPv4-only: plain world traffic (identity 2, reserved:world) is IPv4 world too.
      return [
        { kind: 'endpoints', selector: reserved('world-ipv4') },
        {
          kind: 'endpoints',
          selector: makeSelector([
            { source: SOURCE_RESERVED, key: 'world', op: 'Exists', values: [] },
            { source: SOURCE_RESERVED, key: 'world-ipv6', op: 'DoesNotExist', values: [] },
          ]),
        },
      ];
    default:
      return [{ kind: 'endpoints', selector: reserved(entity) }];
  }
}

function mentionsNamespace(sel: Selector): boolean {
  return sel.requirements.some(
    (r) =>
      ((r.source === SOURCE_K8S || r.source === SOURCE_ANY) && r.key === LABEL_NAMESPACE) ||
      r.key.startsWith(LABEL_NAMESPACE_LABELS_PREFIX),
  );
}

function mentionsReserved(sel: Selector): boolean {
  return sel.requirements.some((r) => r.source === SOURCE_RESERVED);
}

function subjectSelector(raw: LabelSelector | undefined, ctx: Ctx): Selector {
  const sel = fromLabelSelector(raw ?? {}, SOURCE_ANY, true);
  if (ctx.kind === 'CiliumClusterwideNetworkPolicy') return sel;
  // The agent overwrites a user-supplied k8s: namespace key and ANDs the policy namespace.
  const kept = sel.requirements.filter((r) => !(r.source === SOURCE_K8S && r.key === LABEL_NAMESPACE));
  if (kept.length !== sel.requirements.length) {
    ctx.warnings.push(
      `endpointSelector names a namespace; a CiliumNetworkPolicy only selects pods of ${ctx.namespace}`,
    );
  }
  return andSelectors(makeSelector(kept), namespaceIs(ctx.namespace ?? 'default'));
}

function peerSelector(raw: LabelSelector, ctx: Ctx): Selector {
  const sel = fromLabelSelector(raw, SOURCE_ANY, true);
  if (mentionsReserved(sel) || mentionsNamespace(sel)) return sel;
  if (ctx.kind === 'CiliumClusterwideNetworkPolicy') return andSelectors(sel, IS_POD);
  return andSelectors(sel, namespaceIs(ctx.namespace ?? 'default'));
}

function peersOf(rule: CiliumPeerRule, dir: Direction, ctx: Ctx, path: string): Peer[] | 'any' {
  const ep = dir === 'ingress' ? rule.fromEndpoints : rule.toEndpoints;
  const cidr = dir === 'ingress' ? rule.fromCIDR : rule.toCIDR;
  const cidrSet = dir === 'ingress' ? rule.fromCIDRSet : rule.toCIDRSet;
  const entities = dir === 'ingress' ? rule.fromEntities : rule.toEntities;
  const nodes = dir === 'ingress' ? rule.fromNodes : rule.toNodes;
  const groups = dir === 'ingress' ? rule.fromGroups : rule.toGroups;
  const services = dir === 'egress' ? rule.toServices : undefined;
  const fqdns = dir === 'egress' ? rule.toFQDNs : undefined;

  const present = [ep, cidr, cidrSet, entities, nodes, groups, services, fqdns].some((f) => f !== undefined);
  if (!present) {
    // No peer field: with toPorts or icmps it means every peer; with neither it allows nothing.
    return rule.toPorts !== undefined || rule.icmps !== undefined ? 'any' : [];
  }
  const peers: Peer[] = [];
  for (const s of ep ?? []) peers.push({ kind: 'endpoints', selector: peerSelector(s ?? {}, ctx) });
  for (const c of cidr ?? []) {
    const canon = canonicalCidr(c, true);
    if (canon) peers.push({ kind: 'cidr', cidr: canon, except: [], matchPods: false });
  }
  for (const c of cidrSet ?? []) {
    if (c.cidr === undefined) {
      ctx.warnings.push(`${path}: cidrGroupRef/cidrGroupSelector are not supported; this CIDR entry matches nothing`);
      continue;
    }
    const canon = canonicalCidr(c.cidr, true);
    if (canon) {
      const except = (c.except ?? []).map((e) => canonicalCidr(e, true)).filter((e): e is string => !!e);
      peers.push({ kind: 'cidr', cidr: canon, except, matchPods: false });
    }
  }
  for (const e of entities ?? []) {
    if (e === 'all') return 'any';
    peers.push(...entityPeers(e));
  }
  for (const s of services ?? []) {
    if (s.k8sService) {
      peers.push({
        kind: 'service',
        namespace: s.k8sService.namespace ?? ctx.namespace ?? 'default',
        name: s.k8sService.serviceName,
      });
    } else if (s.k8sServiceSelector) {
      peers.push({
        kind: 'service',
        namespace: s.k8sServiceSelector.namespace ?? ctx.namespace ?? 'default',
        selector: fromLabelSelector(s.k8sServiceSelector.selector, SOURCE_K8S, false),
      });
    }
  }
  for (const f of fqdns ?? []) peers.push({ kind: 'fqdn', matchName: f.matchName, matchPattern: f.matchPattern });
  if ((nodes ?? []).length > 0) ctx.warnings.push(`${path}: fromNodes/toNodes are not supported; they match nothing`);
  if ((groups ?? []).length > 0)
    ctx.warnings.push(`${path}: fromGroups/toGroups are not supported; they match nothing`);
  return peers;
}

function parsePort(raw: string | undefined): number | string {
  if (raw === undefined || raw === '') return 0;
  const s = String(raw);
  return /^[0-9]+$/.test(s) ? Number(s) : s;
}

function portsOf(rule: CiliumPeerRule, ctx: Ctx, path: string): PortSpec[] | 'all' {
  if (rule.icmps !== undefined) {
    const out: PortSpec[] = [];
    for (const icmp of rule.icmps) {
      for (const f of icmp.fields ?? []) {
        if ((f.family ?? 'IPv4') !== 'IPv4') continue; // podwall pods are IPv4-only
        const t = icmpTypeNumber(f.type);
        if (t !== undefined) out.push({ protocol: 'ICMP', port: t });
      }
    }
    return out;
  }
  if (rule.toPorts === undefined) return 'all';
  const out: PortSpec[] = [];
  rule.toPorts.forEach((pr: CiliumPortRule, i) => {
    const prPath = `${path}.toPorts[${i}]`;
    const http = (pr.rules?.http ?? []).map((h, j): HttpRule => {
      const hr: HttpRule = { ref: ctxRef(ctx, path), httpPath: `${prPath}.rules.http[${j}]` };
      if (h.method !== undefined) hr.method = h.method;
      if (h.path !== undefined) hr.path = h.path;
      if (h.host !== undefined) hr.host = h.host;
      if (h.headers) hr.headers = h.headers.map(parseHeader);
      if (h.headerMatches) {
        hr.headerMatches = h.headerMatches.map((m) => ({
          name: m.name,
          ...(m.value !== undefined ? { value: m.value } : {}),
          ...(m.mismatch ? { mismatch: m.mismatch as 'LOG' | 'ADD' | 'DELETE' | 'REPLACE' } : {}),
        }));
      }
      return hr;
    });
    const dns = (pr.rules?.dns ?? []).map(
      (d): DnsRule => ({
        ref: ctxRef(ctx, path),
        ...(d.matchName ? { matchName: d.matchName } : {}),
        ...(d.matchPattern ? { matchPattern: d.matchPattern } : {}),
      }),
    );
    for (const p of pr.ports ?? []) {
      const protocol = (p.protocol ?? 'ANY').toUpperCase() as Protocol | 'ANY';
      const port = parsePort(p.port);
      const spec: PortSpec = { protocol, port };
      if (p.endPort !== undefined && typeof port === 'number' && port !== 0) spec.endPort = p.endPort;
      if (http.length > 0) spec.http = http;
      if (dns.length > 0) spec.dns = dns;
      out.push(spec);
    }
  });
  return out;
}

/** `"X-Foo: bar"` means header X-Foo must equal `bar`; `"X-Foo"` means it must be present. */
function parseHeader(h: string): { name: string; value?: string } {
  const i = h.indexOf(' ');
  if (i < 0) return { name: h.replace(/:$/, '') };
  return { name: h.slice(0, i).replace(/:$/, ''), value: h.slice(i + 1).trim() };
}

function ctxRef(ctx: Ctx, path: string): RuleRef {
  return ctx.namespace !== undefined
    ? { kind: ctx.kind, namespace: ctx.namespace, name: ctx.name, path }
    : { kind: ctx.kind, name: ctx.name, path };
}

function translateRule(
  r: CiliumRule,
  prefix: string,
  ctx: Ctx,
  audit: boolean,
  rules: Rule[],
  isolations: Isolation[],
): void {
  if (r.nodeSelector && !r.endpointSelector) {
    ctx.warnings.push(`${prefix}.nodeSelector: host policies are parsed and validated but not enforced by podwall yet`);
    return;
  }
  const subject = subjectSelector(r.endpointSelector, ctx);
  for (const direction of ['ingress', 'egress'] as Direction[]) {
    const allow = (direction === 'ingress' ? r.ingress : r.egress) ?? [];
    const deny = (direction === 'ingress' ? r.ingressDeny : r.egressDeny) ?? [];
    if (allow.length === 0 && deny.length === 0) continue;
    const explicit = r.enableDefaultDeny?.[direction];
    const defaultDeny = explicit === undefined ? true : explicit;
    const sectionName = allow.length > 0 ? direction : (`${direction}Deny` as Section);
    isolations.push({
      ref: ctxRef(ctx, `${prefix}.${sectionName}`),
      direction,
      subject,
      defaultDeny,
      ...(audit ? { audit } : {}),
    });
    for (const [list, verdict, field] of [
      [allow, 'allow', direction],
      [deny, 'deny', `${direction}Deny`],
    ] as const) {
      list.forEach((pr, i) => {
        const path = `${prefix}.${field}[${i}]`;
        const rule: Rule = {
          ref: ctxRef(ctx, path),
          direction,
          verdict,
          subject,
          peers: peersOf(pr ?? {}, direction, ctx, path),
          ports: portsOf(pr ?? {}, ctx, path),
          defaultDeny,
        };
        if (audit) rule.audit = true;
        rules.push(rule);
      });
    }
  }
}

export const AUDIT_ANNOTATION = 'podwall.io/audit';

export function translateCiliumPolicy(p: CiliumNetworkPolicy): TranslatedPolicy {
  const ctx: Ctx = {
    kind: p.kind,
    name: p.metadata.name ?? '',
    warnings: [],
    ...(p.kind === 'CiliumNetworkPolicy' ? { namespace: p.metadata.namespace ?? 'default' } : {}),
  };
  const audit = p.metadata.annotations?.[AUDIT_ANNOTATION] === 'true';
  const rules: Rule[] = [];
  const isolations: Isolation[] = [];
  if (p.spec) translateRule(p.spec, 'spec', ctx, audit, rules, isolations);
  (p.specs ?? []).forEach((r, i) => {
    translateRule(r, `specs[${i}]`, ctx, audit, rules, isolations);
  });
  const key = ctx.namespace !== undefined ? `${p.kind}/${ctx.namespace}/${ctx.name}` : `${p.kind}/${ctx.name}`;
  return { key, rules, isolations, warnings: ctx.warnings };
}
