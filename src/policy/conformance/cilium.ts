/**
 * Runs the Cilium semantic suite format (shared/conformance/cilium/cases.yaml): each case lists endpoints,
 * services, a DNS cache and policies, then flows with the expected verdict; the `invalid:` section lists
 * policies that validation must reject with a given reason. Pure: the caller parses the YAML and passes a
 * validator (the CLI passes src/validation).
 */
import type { AnyPolicy, KubeObject } from '../../api/types.js';
import type { ClusterInput, PodInput, ServiceInput } from '../cluster.js';
import { evaluateFlow } from '../evaluate.js';
import { explainFlow } from '../explain.js';
import { compile } from '../resolve/compile.js';
import type { Flow, Protocol } from '../types.js';
import { emptyResult, recordCase, recordCheck, type SuiteResult } from './result.js';

export interface CiliumSuite {
  schema_version?: number;
  cases?: CiliumCase[];
  invalid?: InvalidCase[];
}

interface CaseEndpoint {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  ip: string;
  serviceAccount?: string;
  namedPorts?: { name: string; port: number; protocol?: string }[];
}

interface CaseFlow {
  from: string;
  to: string;
  port?: number;
  protocol: string;
  icmp_type?: number;
  http?: { method: string; path: string; headers?: Record<string, string> };
  dns?: { query: string };
  to_service?: string;
  verdict: 'allowed' | 'denied-l3l4' | 'denied-l7';
  drop_reason?: string;
  note?: string;
}

export interface CiliumCase {
  name: string;
  namespaces?: Record<string, { labels?: Record<string, string> }>;
  endpoints?: CaseEndpoint[];
  services?: {
    name: string;
    namespace: string;
    selector?: Record<string, string>;
    ports: { port: number; targetPort?: number; protocol?: string; name?: string }[];
  }[];
  dns_cache?: Record<string, string[]>;
  policies?: KubeObject[];
  expect?: CaseFlow[];
  settings?: Record<string, unknown>;
}

export interface InvalidCase {
  name: string;
  policy: KubeObject;
  /** The rejection text; may carry the other layer's text too (see `rejectionTexts`). */
  error: string;
  rejected_by?: 'apiserver' | 'agent';
}

/**
 * An entry's text may name two layers: `A (agent text if the CRD is bypassed: B)` or
 * `A [apiserver]; agent text if bypassed: B`. The first is what the rejecting layer says; podwall must say it.
 */
export function rejectionTexts(error: string): { primary: string; alternate?: string } {
  const m =
    error.match(/^(.*?) \[apiserver\]; agent text[^:]*: (.*)$/s) ?? error.match(/^(.*?) \(agent text[^:]*: (.*)\)$/s);
  return m ? { primary: m[1]!.trim(), alternate: m[2]!.trim() } : { primary: error.trim() };
}

/** Validator hook: returns the rejection texts for an object (empty when valid). */
export type Validate = (obj: KubeObject) => string[];

/** Synthetic addresses for the node and a remote node in offline runs (never assigned to pods by the cases). */
export const OFFLINE_HOST_IP = '192.0.2.254';
export const OFFLINE_REMOTE_NODE_IP = '192.0.2.253';

export function clusterOfCase(c: CiliumCase): ClusterInput {
  const nsNames = new Set<string>(Object.keys(c.namespaces ?? {}));
  for (const e of c.endpoints ?? []) nsNames.add(e.namespace);
  for (const p of c.policies ?? []) if (p.metadata?.namespace) nsNames.add(p.metadata.namespace);
  const pods: PodInput[] = (c.endpoints ?? []).map((e) => ({
    namespace: e.namespace,
    name: e.name,
    labels: e.labels ?? {},
    ip: e.ip,
    ...(e.serviceAccount ? { serviceAccount: e.serviceAccount } : {}),
    ports: (e.namedPorts ?? []).map((p) => ({ name: p.name, port: p.port, protocol: (p.protocol ?? 'TCP') as 'TCP' })),
  }));
  const services: ServiceInput[] = (c.services ?? []).map((s) => ({
    namespace: s.namespace,
    name: s.name,
    ...(s.selector ? { selector: s.selector } : {}),
    ports: s.ports.map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      protocol: (p.protocol ?? 'TCP') as 'TCP',
    })),
  }));
  return {
    namespaces: [...nsNames].sort().map((name) => ({ name, labels: { ...(c.namespaces?.[name]?.labels ?? {}) } })),
    pods,
    services,
    policies: (c.policies ?? []) as AnyPolicy[],
    dnsCache: c.dns_cache ?? {},
    hostIps: [OFFLINE_HOST_IP],
    remoteNodeIps: [OFFLINE_REMOTE_NODE_IP],
  };
}

function addressOf(c: CiliumCase, who: string): string | undefined {
  if (who === 'host') return OFFLINE_HOST_IP;
  if (who === 'remote-node') return OFFLINE_REMOTE_NODE_IP;
  if (who.startsWith('ip:')) return who.slice(3);
  return c.endpoints?.find((e) => e.name === who)?.ip;
}

export function flowOfCase(c: CiliumCase, f: CaseFlow): Flow | string {
  const srcIp = addressOf(c, f.from);
  const dstIp = addressOf(c, f.to);
  if (!srcIp) return `unknown endpoint ${f.from}`;
  if (!dstIp) return `unknown endpoint ${f.to}`;
  const protocol = f.protocol.toUpperCase() as Protocol;
  let dport = protocol === 'ICMP' ? (f.icmp_type ?? 8) : (f.port ?? 0);
  if (f.to_service) {
    // The policy sees the backend and the service's targetPort.
    const [ns, name] = f.to_service.split('/');
    const svc = c.services?.find((s) => s.namespace === ns && s.name === name);
    const sp = svc?.ports.find((p) => p.port === f.port && (p.protocol ?? 'TCP').toUpperCase() === protocol);
    if (!sp) return `service ${f.to_service} has no port ${f.port}/${protocol}`;
    dport = sp.targetPort ?? sp.port;
  }
  const flow: Flow = { srcIp, dstIp, protocol, dport };
  if (f.http)
    flow.http = {
      method: f.http.method,
      path: f.http.path,
      host: f.to_service ? `${f.to_service.split('/')[1]}` : dstIp,
      ...(f.http.headers ? { headers: f.http.headers } : {}),
    };
  if (f.dns) flow.dns = { query: f.dns.query };
  return flow;
}

function flowLabel(f: CaseFlow): string {
  const l7 = f.http ? ` ${f.http.method} ${f.http.path}` : f.dns ? ` dns ${f.dns.query}` : '';
  return `${f.protocol === 'ICMP' ? `icmp-type ${f.icmp_type ?? 8}` : `${f.port}/${f.protocol}`}${l7}`;
}

export function runCiliumSuite(suite: CiliumSuite, name: string, validate: Validate): SuiteResult {
  const result = emptyResult(name);
  for (const c of suite.cases ?? []) {
    const before = result.checks.failed;
    // A case's policies must also pass validation: a rejected policy would never be enforced.
    const rejected = (c.policies ?? []).flatMap((p) => validate(p).map((e) => `${p.metadata?.name}: ${e}`));
    if (rejected.length > 0) {
      recordCheck(result, false, {
        case: c.name,
        expected: 'policies valid',
        got: 'rejected',
        why: rejected.join('; '),
      });
      recordCase(result, 'failed');
      continue;
    }
    const compiled = compile(clusterOfCase(c));
    for (const f of c.expect ?? []) {
      const flow = flowOfCase(c, f);
      const pair = `${f.from} -> ${f.to}${f.to_service ? ` (via ${f.to_service})` : ''}`;
      if (typeof flow === 'string') {
        recordCheck(result, false, {
          case: c.name,
          probe: flowLabel(f),
          pair,
          expected: f.verdict,
          got: 'error',
          why: flow,
        });
        continue;
      }
      const v = evaluateFlow(compiled, flow);
      const ok = v.verdict === f.verdict && (f.drop_reason === undefined || f.drop_reason === v.dropReason);
      recordCheck(
        result,
        ok,
        ok
          ? undefined
          : {
              case: c.name,
              probe: flowLabel(f),
              pair,
              expected: f.drop_reason ? `${f.verdict} (${f.drop_reason})` : f.verdict,
              got: v.dropReason ? `${v.verdict} (${v.dropReason})` : v.verdict,
              why: explainFlow(v),
            },
      );
    }
    recordCase(result, result.checks.failed > before ? 'failed' : 'passed');
  }
  for (const inv of suite.invalid ?? []) {
    const errors = validate(inv.policy);
    const { primary } = rejectionTexts(inv.error);
    const ok = errors.some((e) => e.includes(primary));
    recordCheck(
      result,
      ok,
      ok
        ? undefined
        : {
            case: inv.name,
            expected: `rejected: ${primary}`,
            got: errors.length ? `rejected: ${errors.join('; ')}` : 'accepted',
            why: 'validation',
          },
    );
    recordCase(result, ok ? 'passed' : 'failed');
  }
  return result;
}
