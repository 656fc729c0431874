/**
 * Runs the Kubernetes NetworkPolicy suite format (shared/conformance/k8s-netpol): a topology (the model's
 * default or a case's inline one), steps of actions (create/update/delete policies, label changes), and after
 * each step probe blocks judged pair by pair. Probes go through the destination's Service, so the policy sees
 * the destination pod's IP and the probed port. Pure: the caller parses the files.
 */
import type { AnyPolicy, KubeObject } from '../../api/types.js';
import { type Cidr, formatCidr, maxBits, parseCidr, parseIp } from '../../util/ip.js';
import type { ClusterInput, PodInput } from '../cluster.js';
import { evaluateFlow } from '../evaluate.js';
import { explainFlow } from '../explain.js';
import { compile } from '../resolve/compile.js';
import type { Protocol } from '../types.js';
import type { Validate } from './cilium.js';
import { emptyResult, recordCase, recordCheck, type SuiteResult } from './result.js';

export interface K8sTopology {
  namespaces: { name: string; labels?: Record<string, string> }[];
  pods: {
    namespace: string;
    name: string;
    labels?: Record<string, string>;
    example_ip?: string;
    containers?: { name: string; ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  }[];
}

export interface K8sModel extends K8sTopology {
  kind?: string;
}

type Action =
  | { create: KubeObject }
  | { update: KubeObject }
  | { delete: { namespace?: string; name: string; kind?: string } }
  | { addNamespaceLabels: { namespace: string; labels: Record<string, string> } }
  | { setNamespaceLabels: { namespace: string; labels: Record<string, string> } }
  | { deleteNamespaceLabels: { namespace: string; labels?: Record<string, string> | string[]; keys?: string[] } }
  | { removeNamespaceLabels: { namespace: string; labels?: Record<string, string> | string[]; keys?: string[] } }
  | { addPodLabels: { namespace: string; pod: string; labels: Record<string, string> } }
  | { setPodLabels: { namespace: string; pod: string; labels: Record<string, string> } }
  | { deletePodLabels: { namespace: string; pod: string; labels?: Record<string, string> | string[]; keys?: string[] } }
  | {
      removePodLabels: { namespace: string; pod: string; labels?: Record<string, string> | string[]; keys?: string[] };
    };

interface ExpectBlock {
  probe: { port: number | string; protocol?: string };
  scope: 'all-pairs' | 'listed';
  ignore_loopback?: boolean;
  default?: 'allow' | 'deny';
  deny?: string[];
  allow?: string[];
}

export interface K8sCase {
  id: string;
  slug?: string;
  kind: 'connectivity' | 'validation';
  title?: string;
  topology: 'default' | K8sTopology;
  steps?: { description?: string; actions?: Action[]; expect?: ExpectBlock[] }[];
  checks?: { description: string; policy: KubeObject; expect: 'accept' | 'reject' }[];
}

export interface K8sRunOptions {
  validate: Validate;
  /** Protocols the runner can judge; others are skipped with the reason (live runs have no SCTP). */
  skipProtocols?: { protocol: string; reason: string }[];
}

interface State {
  namespaces: Map<string, Record<string, string>>;
  pods: Map<string, { pod: PodInput; order: number }>;
  policies: Map<string, AnyPolicy>;
}

function caseName(c: K8sCase): string {
  return `${c.id}${c.slug ? `-${c.slug}` : ''}`;
}

function initialState(topo: K8sTopology): State {
  const namespaces = new Map<string, Record<string, string>>();
  for (const ns of topo.namespaces)
    namespaces.set(ns.name, { 'kubernetes.io/metadata.name': ns.name, ...(ns.labels ?? {}) });
  const pods = new Map<string, { pod: PodInput; order: number }>();
  topo.pods.forEach((p, order) => {
    const ports = (p.containers ?? []).flatMap((c) =>
      (c.ports ?? []).map((port) => ({
        ...(port.name ? { name: port.name } : {}),
        port: port.containerPort,
        protocol: (port.protocol ?? 'TCP') as 'TCP' | 'UDP' | 'SCTP',
      })),
    );
    pods.set(`${p.namespace}/${p.name}`, {
      pod: { namespace: p.namespace, name: p.name, labels: { ...(p.labels ?? {}) }, ip: p.example_ip ?? '', ports },
      order,
    });
  });
  return { namespaces, pods, policies: new Map() };
}

/** Replaces `{{fn ns/pod}}` placeholders with addresses of the topology's pods. */
export function resolvePlaceholders<T>(value: T, ipOf: (pod: string) => string | undefined): T {
  const fill = (s: string): string =>
    s.replace(/\{\{\s*(ip|hostcidr|cidr4|cidr24)\s+([^}\s]+)\s*\}\}/g, (whole, fn: string, pod: string) => {
      const ip = ipOf(pod);
      const parsed = ip ? parseIp(ip) : undefined;
      if (!ip || !parsed) return whole;
      const bits = maxBits(parsed.family);
      const net = (n: number): string => formatCidr(parseCidr(`${ip}/${n}`) as Cidr);
      switch (fn) {
        case 'ip':
          return ip;
        case 'hostcidr':
          return `${ip}/${bits}`;
        case 'cidr4':
          return net(4);
        default:
          return net(parsed.family === 4 ? 24 : 64);
      }
    });
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return fill(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

function policyKey(o: { kind?: string; metadata?: { namespace?: string; name?: string } }): string {
  return `${o.kind ?? 'NetworkPolicy'}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function labelKeys(spec: { labels?: Record<string, string> | string[]; keys?: string[] }): string[] {
  if (spec.keys) return spec.keys;
  if (Array.isArray(spec.labels)) return spec.labels;
  return Object.keys(spec.labels ?? {});
}

/** Applies one action; returns an error text for an action the runner does not know. */
function applyAction(state: State, a: Action, ipOf: (pod: string) => string | undefined): string | undefined {
  if ('create' in a || 'update' in a) {
    const obj = resolvePlaceholders('create' in a ? a.create : a.update, ipOf) as AnyPolicy;
    state.policies.set(policyKey(obj), obj);
    return undefined;
  }
  if ('delete' in a) {
    state.policies.delete(policyKey({ kind: a.delete.kind ?? 'NetworkPolicy', metadata: a.delete }));
    return undefined;
  }
  const nsAction = (ns: string, fn: (labels: Record<string, string>) => Record<string, string>) => {
    const cur = state.namespaces.get(ns) ?? { 'kubernetes.io/metadata.name': ns };
    state.namespaces.set(ns, fn(cur));
  };
  const podAction = (ns: string, name: string, fn: (labels: Record<string, string>) => Record<string, string>) => {
    const p = state.pods.get(`${ns}/${name}`);
    if (p) p.pod = { ...p.pod, labels: fn(p.pod.labels) };
  };
  const without = (labels: Record<string, string>, keys: string[]) =>
    Object.fromEntries(Object.entries(labels).filter(([k]) => !keys.includes(k)));
  if ('addNamespaceLabels' in a)
    nsAction(a.addNamespaceLabels.namespace, (l) => ({ ...l, ...a.addNamespaceLabels.labels }));
  else if ('setNamespaceLabels' in a)
    nsAction(a.setNamespaceLabels.namespace, () => ({
      'kubernetes.io/metadata.name': a.setNamespaceLabels.namespace,
      ...a.setNamespaceLabels.labels,
    }));
  else if ('deleteNamespaceLabels' in a)
    nsAction(a.deleteNamespaceLabels.namespace, (l) => without(l, labelKeys(a.deleteNamespaceLabels)));
  else if ('removeNamespaceLabels' in a)
    nsAction(a.removeNamespaceLabels.namespace, (l) => without(l, labelKeys(a.removeNamespaceLabels)));
  else if ('addPodLabels' in a)
    podAction(a.addPodLabels.namespace, a.addPodLabels.pod, (l) => ({ ...l, ...a.addPodLabels.labels }));
  else if ('setPodLabels' in a)
    podAction(a.setPodLabels.namespace, a.setPodLabels.pod, () => ({ ...a.setPodLabels.labels }));
  else if ('deletePodLabels' in a)
    podAction(a.deletePodLabels.namespace, a.deletePodLabels.pod, (l) => without(l, labelKeys(a.deletePodLabels)));
  else if ('removePodLabels' in a)
    podAction(a.removePodLabels.namespace, a.removePodLabels.pod, (l) => without(l, labelKeys(a.removePodLabels)));
  else return `unknown action ${Object.keys(a).join(',')}`;
  return undefined;
}

export function clusterOfState(state: State): ClusterInput {
  return {
    namespaces: [...state.namespaces].map(([name, labels]) => ({ name, labels })),
    pods: [...state.pods.values()].map((p) => p.pod),
    services: [],
    policies: [...state.policies.values()],
  };
}

function parsePair(s: string): [string, string] | undefined {
  const m = /^\s*(\S+)\s*->\s*(\S+)\s*$/.exec(s);
  return m ? [m[1]!, m[2]!] : undefined;
}

/** The pairs a probe block judges, with the expected verdict of each. */
export function expectedPairs(
  block: ExpectBlock,
  podNames: string[],
): { from: string; to: string; expect: 'allow' | 'deny' }[] {
  const out: { from: string; to: string; expect: 'allow' | 'deny' }[] = [];
  const listed = new Map<string, 'allow' | 'deny'>();
  for (const p of block.deny ?? []) listed.set(p.replace(/\s+/g, ' ').trim(), 'deny');
  for (const p of block.allow ?? []) listed.set(p.replace(/\s+/g, ' ').trim(), 'allow');
  if (block.scope === 'listed') {
    for (const [k, v] of listed) {
      const pair = parsePair(k);
      if (pair) out.push({ from: pair[0], to: pair[1], expect: v });
    }
  } else {
    for (const from of podNames) {
      for (const to of podNames) {
        if (from === to && block.ignore_loopback !== false) continue;
        out.push({ from, to, expect: listed.get(`${from} -> ${to}`) ?? block.default ?? 'allow' });
      }
    }
  }
  return out;
}

export function runK8sCase(c: K8sCase, model: K8sModel, opts: K8sRunOptions, result: SuiteResult): void {
  const name = caseName(c);
  const before = result.checks.failed;
  if (c.kind === 'validation') {
    for (const check of c.checks ?? []) {
      // `<unique>` stands for the random value upstream generates per test (it is not itself a valid label value).
      const obj = JSON.parse(
        JSON.stringify(check.policy).replaceAll('"<unique>"', `"u${result.checks.total}"`),
      ) as KubeObject;
      if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = `${obj.metadata.generateName}abcde`;
      const errors = opts.validate(obj);
      const got = errors.length > 0 ? 'reject' : 'accept';
      recordCheck(
        result,
        got === check.expect,
        got === check.expect
          ? undefined
          : { case: name, expected: check.expect, got, why: errors.join('; ') || check.description },
      );
    }
    recordCase(result, result.checks.failed > before ? 'failed' : 'passed');
    return;
  }
  const topo = c.topology === 'default' ? model : c.topology;
  const state = initialState(topo);
  const ipOf = (pod: string) => state.pods.get(pod)?.pod.ip;
  const podNames = [...state.pods.keys()];
  let skipped = 0;
  let judged = 0;
  (c.steps ?? []).forEach((step, stepIndex) => {
    for (const action of step.actions ?? []) {
      const err = applyAction(state, action, ipOf);
      if (err)
        recordCheck(result, false, { case: name, step: stepIndex, expected: 'known action', got: err, why: err });
    }
    const invalid = [...state.policies.values()].flatMap((p) =>
      opts.validate(p).map((e) => `${p.metadata.name}: ${e}`),
    );
    if (invalid.length > 0) {
      recordCheck(result, false, {
        case: name,
        step: stepIndex,
        expected: 'valid policies',
        got: 'rejected',
        why: invalid.join('; '),
      });
      return;
    }
    const compiled = compile(clusterOfState(state));
    for (const block of step.expect ?? []) {
      const protocol = (block.probe.protocol ?? 'TCP').toUpperCase() as Protocol;
      const probe = `${block.probe.port}/${protocol}`;
      const skip = opts.skipProtocols?.find((s) => s.protocol === protocol);
      const pairs = expectedPairs(block, podNames);
      if (skip) {
        result.checks.total += pairs.length;
        result.checks.skipped += pairs.length;
        skipped += pairs.length;
        continue;
      }
      for (const { from, to, expect } of pairs) {
        const src = state.pods.get(from)?.pod;
        const dst = state.pods.get(to)?.pod;
        if (!src || !dst) {
          recordCheck(result, false, {
            case: name,
            step: stepIndex,
            probe,
            pair: `${from} -> ${to}`,
            expected: expect,
            got: 'error',
            why: 'unknown pod',
          });
          continue;
        }
        // A named probe port resolves against the destination's containers (the probe's Service targetPort).
        let dport = typeof block.probe.port === 'number' ? block.probe.port : Number.NaN;
        if (typeof block.probe.port === 'string') {
          dport = /^[0-9]+$/.test(block.probe.port)
            ? Number(block.probe.port)
            : (dst.ports.find((p) => p.name === block.probe.port)?.port ?? Number.NaN);
        }
        const v = evaluateFlow(compiled, { srcIp: src.ip, dstIp: dst.ip, protocol, dport });
        const got = v.verdict === 'allowed' ? 'allow' : 'deny';
        judged++;
        recordCheck(
          result,
          got === expect,
          got === expect
            ? undefined
            : {
                case: name,
                step: stepIndex,
                probe,
                pair: `${from} -> ${to}`,
                expected: expect,
                got,
                why: explainFlow(v),
              },
        );
      }
    }
  });
  if (judged === 0 && skipped > 0) {
    const reason = opts.skipProtocols?.map((s) => s.reason).join('; ') ?? 'skipped';
    result.skips.push({ case: name, reason });
    recordCase(result, 'skipped');
    return;
  }
  recordCase(result, result.checks.failed > before ? 'failed' : 'passed');
}

export function runK8sSuite(cases: K8sCase[], model: K8sModel, opts: K8sRunOptions, suite = 'k8s-netpol'): SuiteResult {
  const result = emptyResult(suite);
  for (const c of cases) runK8sCase(c, model, opts, result);
  return result;
}
