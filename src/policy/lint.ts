/**
 * Lint: policies that are valid but probably not what their author meant (users' "silently not enforced" pain).
 * Every finding names the policy, the field path inside it, what is wrong and what to write instead.
 */
import type { AnyPolicy, CiliumNetworkPolicy, CiliumPeerRule } from '../api/types.js';
import { ID_HOST } from '../identity/reserved.js';
import { selectorMatches } from '../labels/index.js';
import { cidrContainsIp, parseCidr, parseIp } from '../util/ip.js';
import type { ClusterInput } from './cluster.js';
import { podKey } from './cluster.js';
import { formatRef } from './explain.js';
import type { Peer, Rule, TranslatedPolicy } from './model.js';
import type { CompiledCluster } from './resolve/compile.js';
import { peerKey } from './resolve/peers.js';
import type { RuleRef } from './types.js';

export type LintSeverity = 'error' | 'warning' | 'info';

export interface LintFinding {
  code: string;
  severity: LintSeverity;
  /** `Kind/namespace/name` of the policy. */
  policy: string;
  /** Field path inside the policy object. */
  path: string;
  message: string;
  suggestion: string;
}

function policyKeyOf(p: AnyPolicy): string {
  return p.kind === 'CiliumClusterwideNetworkPolicy'
    ? `${p.kind}/${p.metadata.name}`
    : `${p.kind}/${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;
}

function refPolicyKey(r: RuleRef): string {
  return r.namespace !== undefined ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`;
}

function ciliumRules(p: CiliumNetworkPolicy): { prefix: string; rule: NonNullable<CiliumNetworkPolicy['spec']> }[] {
  const out: { prefix: string; rule: NonNullable<CiliumNetworkPolicy['spec']> }[] = [];
  if (p.spec) out.push({ prefix: 'spec', rule: p.spec });
  (p.specs ?? []).forEach((rule, i) => {
    out.push({ prefix: `specs[${i}]`, rule });
  });
  return out;
}

const DNS_PORT = 53;

export function lintPolicies(cluster: ClusterInput, compiled: CompiledCluster): LintFinding[] {
  const findings: LintFinding[] = [];
  const u = compiled.universe;
  const podIdentities = u.identities.filter((i) => i.kind === 'pod');
  const add = (f: LintFinding) => findings.push(f);

  for (const t of compiled.translated) {
    for (const w of t.warnings) {
      const path = w.split(':')[0] ?? '';
      add({
        code: 'not-enforced',
        severity: 'warning',
        policy: t.key,
        path,
        message: w,
        suggestion: 'remove the part podwall cannot enforce, or expect it to have no effect',
      });
    }
    lintTranslated(t, compiled, podIdentities, add);
  }

  // Raw-shape findings that translation erases.
  for (const p of cluster.policies) {
    if (p.kind === 'NetworkPolicy') continue;
    for (const { prefix, rule } of ciliumRules(p as CiliumNetworkPolicy)) {
      for (const section of ['ingress', 'egress'] as const) {
        (rule[section] ?? []).forEach((r: CiliumPeerRule, i) => {
          const field = section === 'ingress' ? 'fromEndpoints' : 'toEndpoints';
          if (Array.isArray(r[field]) && r[field]!.length === 0) {
            add({
              code: 'empty-endpoints',
              severity: 'warning',
              policy: policyKeyOf(p),
              path: `${prefix}.${section}[${i}].${field}`,
              message: `${field}: [] selects no endpoint at all, so this rule allows nothing (but still turns on default-deny)`,
              suggestion: `use ${field}: [{}] for every pod of the namespace, or remove the rule`,
            });
          }
        });
      }
      for (const dir of ['ingress', 'egress'] as const) {
        const allow = rule[dir] ?? [];
        const deny = rule[`${dir}Deny`] ?? [];
        if (allow.length === 0 && deny.length > 0 && rule.enableDefaultDeny?.[dir] !== false) {
          add({
            code: 'deny-only-default-deny',
            severity: 'warning',
            policy: policyKeyOf(p),
            path: `${prefix}.${dir}Deny`,
            message: `a deny-only ${dir} section turns on default-deny for ${dir}: every ${dir} flow of the selected pods not allowed by another policy is dropped`,
            suggestion: `add enableDefaultDeny: {${dir}: false} to only deny what the rules name`,
          });
        }
      }
    }
  }

  // Egress that blocks DNS, per enforced endpoint identity (reported once per policy that isolates it).
  const dnsServers = [...compiled.pods.values()].filter((p) => p.labels['k8s-app'] === 'kube-dns');
  const reported = new Set<string>();
  for (const [key, ep] of compiled.endpoints) {
    const eg = ep.egress;
    if (!eg.enforced || eg.defaultAllow) continue;
    const targets =
      dnsServers.length > 0 ? dnsServers.map((p) => ({ ip: p.ip, id: u.podIdentity.get(podKey(p))! })) : [];
    const blocked =
      targets.length > 0
        ? targets.every((t) => !allows(eg.byIp[t.ip] ?? eg.byIdentity[t.id] ?? eg.wildcard, 'UDP', DNS_PORT))
        : !Object.values(eg.byIdentity).some((segs) => allows(segs, 'UDP', DNS_PORT)) &&
          !allows(eg.wildcard, 'UDP', DNS_PORT);
    if (!blocked) continue;
    for (const by of eg.enforcedBy) {
      const k = refPolicyKey(by);
      if (reported.has(k)) continue;
      reported.add(k);
      add({
        code: 'egress-blocks-dns',
        severity: 'warning',
        policy: k,
        path: by.path,
        message: `egress of ${key} (and other pods it selects) is default-deny and nothing allows DNS (UDP/53 to kube-dns): name lookups will fail`,
        suggestion: 'allow egress to the kube-dns pods (k8s-app: kube-dns in kube-system) on port 53 UDP and TCP',
      });
    }
  }
  return dedupe(findings);
}

function allows(
  segs: readonly { protocol: string; lo: number; hi: number; verdict: string }[] | undefined,
  proto: string,
  port: number,
): boolean {
  return (segs ?? []).some((s) => s.protocol === proto && s.lo <= port && s.hi >= port && s.verdict === 'allow');
}

function lintTranslated(
  t: TranslatedPolicy,
  compiled: CompiledCluster,
  podIdentities: CompiledCluster['universe']['identities'],
  add: (f: LintFinding) => void,
): void {
  const u = compiled.universe;
  const subjectsOf = (sel: Rule['subject']) => podIdentities.filter((i) => selectorMatches(sel, i.labels));
  // Without any pod in the input (policies linted alone) "selects nothing" would flag everything: skip it.
  const havePods = podIdentities.length > 0;
  const first = t.isolations[0] ?? t.rules[0];
  if (havePods && first && subjectsOf(first.subject).length === 0) {
    add({
      code: 'selects-nothing',
      severity: 'warning',
      policy: t.key,
      path: first.ref.path.startsWith('specs')
        ? first.ref.path.split('.')[0]!
        : first.ref.kind === 'NetworkPolicy'
          ? 'spec.podSelector'
          : 'spec.endpointSelector',
      message: 'the policy selects no pod in the cluster: it enforces nothing',
      suggestion:
        'check the selector labels (and, for a CiliumNetworkPolicy, that the pods are in the policy namespace)',
    });
  }
  const seenBodies = new Map<string, RuleRef>();
  for (const r of t.rules) {
    const subjects = subjectsOf(r.subject);
    if (r.peers !== 'any') {
      r.peers.forEach((peer: Peer, i) => {
        const m = compiled.peers.match(peer);
        if (havePods && peer.kind === 'endpoints' && m.ids.size === 0) {
          add({
            code: 'peer-matches-nothing',
            severity: 'warning',
            policy: t.key,
            path: r.ref.path,
            message: `peer ${i} (${peerKey(peer).slice(3)}) matches no endpoint right now`,
            suggestion:
              'check the labels; a CiliumNetworkPolicy peer without a namespace label only matches pods of the policy namespace',
          });
        }
        if (peer.kind === 'cidr' && !peer.matchPods) {
          const c = parseCidr(peer.cidr, true);
          const inside = c ? [...u.podByIp.keys()].filter((ip) => cidrContainsIp(c, parseIp(ip)!)) : [];
          if (inside.length > 0) {
            add({
              code: 'cidr-contains-pods',
              severity: 'warning',
              policy: t.key,
              path: r.ref.path,
              message: `CIDR ${peer.cidr} contains ${inside.length} pod IP(s) (e.g. ${inside[0]}), but Cilium CIDR rules never match pods: traffic with those pods is not covered by this rule`,
              suggestion: 'select the pods by label (fromEndpoints/toEndpoints) or use an entity (cluster)',
            });
          }
        }
      });
    }
    if (r.ports !== 'all') {
      for (const spec of r.ports) {
        if (typeof spec.port !== 'string') continue;
        const pool =
          r.direction === 'ingress'
            ? subjects.flatMap((i) => i.namedPorts)
            : podIdentities.flatMap((i) => i.namedPorts);
        if (!pool.some((p) => p.name === spec.port)) {
          add({
            code: 'unknown-port-name',
            severity: 'warning',
            policy: t.key,
            path: r.ref.path,
            message: `port name "${spec.port}" is not defined by any ${r.direction === 'ingress' ? 'selected' : ''} pod: the rule matches no port`,
            suggestion: 'use the container port name from the pod spec, or a port number',
          });
        }
      }
    }
    const body = JSON.stringify({ d: r.direction, v: r.verdict, s: r.subject, p: r.peers, o: r.ports });
    const dup = seenBodies.get(body);
    if (dup) {
      add({
        code: 'redundant-rule',
        severity: 'info',
        policy: t.key,
        path: r.ref.path,
        message: `same rule as ${dup.path}`,
        suggestion: 'remove one of them',
      });
    } else seenBodies.set(body, r.ref);
  }

  // L7 rules shadowed by an allow without L7 for the same peer and port.
  const shadowed = new Map<string, Set<string>>();
  for (const ep of compiled.endpoints.values()) {
    for (const dir of ['ingress', 'egress'] as const) {
      const st = ep[dir];
      for (const [id, segs] of [...Object.entries(st.byIdentity), ['*', st.wildcard] as const]) {
        if (Number(id) === ID_HOST) continue;
        for (const s of segs) {
          if (!s.l7?.wildcard || s.l7.http.length === 0) continue;
          const by = s.l7.wildcardBy.filter((r) => r.kind !== 'Builtin');
          if (by.length === 0) continue;
          for (const h of s.l7.http) {
            if (refPolicyKey(h.ref) !== t.key) continue;
            const set = shadowed.get(h.httpPath) ?? new Set<string>();
            for (const b of by) set.add(formatRef(b));
            shadowed.set(h.httpPath, set);
          }
        }
      }
    }
  }
  for (const [path, by] of shadowed) {
    add({
      code: 'l7-shadowed',
      severity: 'warning',
      policy: t.key,
      path,
      message: `these HTTP rules have no effect for some peers/ports: ${[...by].join(', ')} allows the same traffic without L7 rules, so every request passes`,
      suggestion: 'narrow or remove the L4 allow, or add the same HTTP rules to it',
    });
  }
}

function dedupe(fs: LintFinding[]): LintFinding[] {
  const seen = new Set<string>();
  return fs.filter((f) => {
    const k = `${f.code}|${f.policy}|${f.path}|${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
