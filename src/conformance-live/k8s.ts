/**
 * `podwall conformance run --live` for the Kubernetes NetworkPolicy suite format (shared/conformance/k8s-netpol):
 * the same cases, expectations and JSON result as the offline runner (src/policy/conformance/k8s.ts, whose
 * `expectedPairs` and `resolvePlaceholders` are reused), but judged by real traffic on a running node:
 *
 *  - the topology (model.yaml's x/y/z × a/b/c, or a legacy case's inline one) is created through the API: namespaces
 *    with the model's labels (names as in the model: policies select `kubernetes.io/metadata.name`), agnhost pods with
 *    one container per model container (`serve-hostname --tcp|--udp` on its port, named container ports as in the
 *    model) and a ClusterIP Service per pod (port == targetPort); pods whose spec did not change are reused across
 *    cases, and labels are reset before each case;
 *  - each step's actions go through the API (policy create/update/delete, namespace and pod label changes);
 *  - every judged pair is probed from the from-pod with `agnhost connect <to-pod's Service ClusterIP>:<port>`
 *    (exec through the API), each probe polled every 1 s for up to 10 s until it matches, then the whole block is
 *    probed once more if any cell is still wrong (upstream's second try); probes run concurrently (bounded);
 *  - SCTP blocks are skipped (no SCTP in this kernel), everything we created is deleted at the end.
 */
import { existsSync } from 'node:fs';
import type { AnyPolicy, KubeObject } from '../api/types.js';
import { KubeApiError } from '../kube/client.js';
import { RESOURCE_REFS } from '../kube/resources.js';
import type { ClusterInput, PodInput } from '../policy/cluster.js';
import { expectedPairs, type K8sCase, type K8sModel, resolvePlaceholders } from '../policy/conformance/k8s.js';
import { emptyResult, recordCase, recordCheck, type SuiteResult } from '../policy/conformance/result.js';
import { evaluateFlow } from '../policy/evaluate.js';
import { explainFlow } from '../policy/explain.js';
import { compile } from '../policy/resolve/compile.js';
import type { Protocol } from '../policy/types.js';
import { type LiveApi, policyRef } from './api.js';
import { Agnhost, type AttemptResult, mapBounded, type PollOptions, pollUntil, UPSTREAM_POLL } from './probe.js';
import {
  AGNHOST_IMAGE,
  agnhostContainer,
  type LiveEnv,
  type LiveTopology,
  OWNER_LABEL,
  POD_LABEL,
  TopologyManager,
} from './topology.js';

type Step = NonNullable<K8sCase['steps']>[number];
export type K8sAction = NonNullable<Step['actions']>[number];
type ExpectBlock = NonNullable<Step['expect']>[number];
type Topology = Exclude<K8sCase['topology'], 'default'>;

export const NO_SCTP_REASON = 'the kernel on this machine has no SCTP (CONFIG_IP_SCTP unset): not probed live';

export interface LiveOptions {
  api: LiveApi;
  log?: (line: string) => void;
  /** Probes in flight at once (default 8). */
  concurrency?: number;
  /** Per-probe polling (default upstream's: every 1 s for up to 10 s). */
  poll?: PollOptions;
  /** Whether SCTP can be probed (default: whether this kernel has SCTP). */
  sctp?: boolean;
  /** Keep the namespaces at the end (debugging). */
  keep?: boolean;
  readyTimeoutMs?: number;
  image?: string;
  /** Where the built-in agnhost program lives (the `/agnhost` fallback), default the build's. */
  programDir?: string;
}

export function kernelHasSctp(): boolean {
  return existsSync('/proc/sys/net/sctp');
}

function caseName(c: K8sCase): string {
  return `${c.id}${c.slug ? `-${c.slug}` : ''}`;
}

/** The live topology of a case: model namespaces/pods, agnhost containers, one Service per serving pod. */
export function liveTopology(topo: K8sModel | Topology, image = AGNHOST_IMAGE): LiveTopology {
  const namespaces = topo.namespaces.map((n) => ({
    name: n.name,
    labels: { 'kubernetes.io/metadata.name': n.name, ...(n.labels ?? {}) },
  }));
  const pods = topo.pods.map((p) => ({
    namespace: p.namespace,
    name: p.name,
    labels: { ...(p.labels ?? {}) },
    containers: (p.containers?.length ? p.containers : [{ name: 'cont', ports: [] }]).map((c) =>
      agnhostContainer(c, image),
    ),
  }));
  const services = topo.pods
    .map((p) => {
      const ports = (p.containers ?? []).flatMap((c) =>
        (c.ports ?? []).map((port) => {
          const protocol = (port.protocol ?? 'TCP').toUpperCase() as 'TCP' | 'UDP' | 'SCTP';
          return {
            name: `service-port-${protocol.toLowerCase()}-${port.containerPort}`,
            port: port.containerPort,
            targetPort: port.containerPort,
            protocol,
          };
        }),
      );
      return { namespace: p.namespace, name: `s-${p.namespace}-${p.name}`, pod: p.name, ports };
    })
    .filter((s) => s.ports.length > 0);
  return { namespaces, pods, services };
}

function withOwner<T extends KubeObject>(obj: T): T {
  return { ...obj, metadata: { ...obj.metadata, labels: { ...(obj.metadata.labels ?? {}), [OWNER_LABEL]: 'true' } } };
}

function labelKeys(spec: { labels?: Record<string, string> | string[]; keys?: string[] }): string[] {
  if (spec.keys) return spec.keys;
  if (Array.isArray(spec.labels)) return spec.labels;
  return Object.keys(spec.labels ?? {});
}

const nulls = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, null]));

/** Applies one action through the API. Returns an error text for an unknown action or a rejected object. */
export async function applyLiveAction(
  api: LiveApi,
  a: K8sAction,
  ipOf: (pod: string) => string | undefined,
): Promise<{ error?: string; rejected?: string }> {
  try {
    if ('create' in a || 'update' in a) {
      const obj = withOwner(resolvePlaceholders('create' in a ? a.create : a.update, ipOf) as KubeObject);
      const ref = policyRef(obj.kind);
      const cur = await api.get(ref, obj.metadata.namespace, obj.metadata.name ?? '');
      if (cur) {
        await api.update(ref, { ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata.resourceVersion } });
      } else await api.create(ref, obj);
      return {};
    }
    if ('delete' in a) {
      await api.delete(policyRef(a.delete.kind), a.delete.namespace, a.delete.name);
      return {};
    }
    const nsRef = RESOURCE_REFS.namespaces;
    const podRef = RESOURCE_REFS.pods;
    const replaceLabels = async (
      ref: typeof nsRef | typeof podRef,
      ns: string | undefined,
      name: string,
      labels: Record<string, string>,
    ) => {
      const cur = await api.get(ref, ns, name);
      if (!cur) throw new Error(`${ns ? `${ns}/` : ''}${name} not found`);
      await api.update(ref, { ...cur, metadata: { ...cur.metadata, labels } });
    };
    if ('addNamespaceLabels' in a) {
      await api.patch(nsRef, undefined, a.addNamespaceLabels.namespace, {
        metadata: { labels: a.addNamespaceLabels.labels },
      });
    } else if ('setNamespaceLabels' in a) {
      const ns = a.setNamespaceLabels.namespace;
      await replaceLabels(nsRef, undefined, ns, {
        'kubernetes.io/metadata.name': ns,
        ...a.setNamespaceLabels.labels,
        [OWNER_LABEL]: 'true',
      });
    } else if ('deleteNamespaceLabels' in a || 'removeNamespaceLabels' in a) {
      const spec = 'deleteNamespaceLabels' in a ? a.deleteNamespaceLabels : a.removeNamespaceLabels;
      const keys = labelKeys(spec).filter((k) => k !== OWNER_LABEL);
      await api.patch(nsRef, undefined, spec.namespace, { metadata: { labels: nulls(keys) } });
    } else if ('addPodLabels' in a) {
      await api.patch(podRef, a.addPodLabels.namespace, a.addPodLabels.pod, {
        metadata: { labels: a.addPodLabels.labels },
      });
    } else if ('setPodLabels' in a) {
      const { namespace, pod, labels } = a.setPodLabels;
      await replaceLabels(podRef, namespace, pod, { ...labels, [OWNER_LABEL]: 'true', [POD_LABEL]: pod });
    } else if ('deletePodLabels' in a || 'removePodLabels' in a) {
      const spec = 'deletePodLabels' in a ? a.deletePodLabels : a.removePodLabels;
      const keys = labelKeys(spec).filter((k) => k !== OWNER_LABEL && k !== POD_LABEL);
      await api.patch(podRef, spec.namespace, spec.pod, { metadata: { labels: nulls(keys) } });
    } else return { error: `unknown action ${Object.keys(a).join(',')}` };
    return {};
  } catch (e) {
    if (e instanceof KubeApiError && (e.code === 422 || e.code === 400)) return { rejected: e.message };
    return { error: (e as Error).message };
  }
}

/** The cluster as the API holds it now, as the offline engine's input (for failure explanations). */
async function liveCluster(api: LiveApi, namespaces: string[]): Promise<ClusterInput> {
  const nsObjs = await Promise.all(namespaces.map((n) => api.get(RESOURCE_REFS.namespaces, undefined, n)));
  const pods: PodInput[] = [];
  const policies: AnyPolicy[] = [];
  for (const ns of namespaces) {
    for (const p of await api.list(RESOURCE_REFS.pods, ns)) {
      // biome-ignore lint/suspicious/noExplicitAny: pod status/spec are loosely typed
      const a = p as any;
      pods.push({
        namespace: ns,
        name: p.metadata.name ?? '',
        labels: p.metadata.labels ?? {},
        ip: a.status?.podIP ?? '',
        ports: (a.spec?.containers ?? []).flatMap(
          (c: { ports?: { name?: string; containerPort: number; protocol?: string }[] }) =>
            (c.ports ?? []).map((x) => ({
              ...(x.name ? { name: x.name } : {}),
              port: x.containerPort,
              protocol: (x.protocol ?? 'TCP') as 'TCP',
            })),
        ),
      });
    }
    for (const kind of ['NetworkPolicy', 'CiliumNetworkPolicy'] as const) {
      try {
        policies.push(...((await api.list(policyRef(kind), ns)) as AnyPolicy[]));
      } catch {
        // kind not served
      }
    }
  }
  return {
    namespaces: nsObjs
      .filter((n): n is KubeObject => !!n)
      .map((n) => ({ name: n.metadata.name ?? '', labels: n.metadata.labels ?? {} })),
    pods,
    services: [],
    policies,
  };
}

interface Probe {
  from: string;
  to: string;
  expect: 'allow' | 'deny';
}

/** Runs connectivity and validation cases of the k8s suite live; the result has the offline runner's shape. */
export async function runK8sLive(
  cases: K8sCase[],
  model: K8sModel,
  o: LiveOptions,
  suite = 'k8s-netpol',
): Promise<SuiteResult> {
  const log = o.log ?? (() => {});
  const result = emptyResult(suite);
  const topoMgr = new TopologyManager({ api: o.api, log, readyTimeoutMs: o.readyTimeoutMs });
  const agnhost = new Agnhost(o.api, { log, programDir: o.programDir });
  const poll = o.poll ?? UPSTREAM_POLL;
  const concurrency = o.concurrency ?? 8;
  const sctp = o.sctp ?? kernelHasSctp();
  // Refuse before creating anything when any namespace a case needs belongs to someone else.
  const allNs = new Set<string>();
  for (const c of cases) {
    if (c.kind === 'validation') continue;
    for (const n of (c.topology === 'default' ? model : c.topology).namespaces) allNs.add(n.name);
  }
  await topoMgr.checkOwnership(allNs);
  const createdForValidation = new Set<string>();
  try {
    for (const c of cases) {
      const t0 = Date.now();
      if (c.kind === 'validation') await runValidationCase(c, o.api, topoMgr, result, createdForValidation);
      else await runConnectivityCase(c, model, { ...o, poll, concurrency, sctp }, topoMgr, agnhost, result);
      log(`${caseName(c)}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    if (!o.keep) {
      const left = await topoMgr.teardown();
      for (const l of left) log(`cleanup: ${l}`);
    }
  }
  return result;
}

async function runValidationCase(
  c: K8sCase,
  api: LiveApi,
  topo: TopologyManager,
  result: SuiteResult,
  created: Set<string>,
): Promise<void> {
  const name = caseName(c);
  const before = result.checks.failed;
  for (const check of c.checks ?? []) {
    // `<unique>` stands for the random value upstream generates per test.
    const obj = JSON.parse(
      JSON.stringify(check.policy).replaceAll('"<unique>"', `"u${result.checks.total}"`),
    ) as KubeObject;
    const ns = obj.metadata.namespace;
    // dryRun still needs the namespace; create ours when it is missing (a foreign one is fine: nothing is stored).
    if (ns && !created.has(ns) && (await topo.foreignNamespaces([ns])).length === 0) {
      const cur = await api.get(RESOURCE_REFS.namespaces, undefined, ns);
      if (!cur)
        await api.create(RESOURCE_REFS.namespaces, {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: ns, labels: { [OWNER_LABEL]: 'true' } },
        } as KubeObject);
      created.add(ns);
    }
    let errors: string[];
    try {
      errors = await api.validate(policyRef(obj.kind), obj);
    } catch (e) {
      recordCheck(result, false, { case: name, expected: check.expect, got: 'error', why: (e as Error).message });
      continue;
    }
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
}

async function runConnectivityCase(
  c: K8sCase,
  model: K8sModel,
  o: LiveOptions & { poll: PollOptions; concurrency: number; sctp: boolean },
  topoMgr: TopologyManager,
  agnhost: Agnhost,
  result: SuiteResult,
): Promise<void> {
  const name = caseName(c);
  const before = result.checks.failed;
  const topo = c.topology === 'default' ? model : c.topology;
  const live = liveTopology(topo, o.image);
  let env: LiveEnv;
  try {
    env = await topoMgr.ensure(live);
  } catch (e) {
    recordCheck(result, false, { case: name, expected: 'topology ready', got: 'error', why: (e as Error).message });
    recordCase(result, 'failed');
    return;
  }
  const podNames = topo.pods.map((p) => `${p.namespace}/${p.name}`);
  const pods = new Map(topo.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const ipOf = (pod: string) => env.podIp.get(pod);
  const namespaces = topo.namespaces.map((n) => n.name);
  let skipped = 0;
  let judged = 0;
  const steps = c.steps ?? [];
  for (let stepIndex = 0; stepIndex < steps.length; stepIndex++) {
    const step = steps[stepIndex]!;
    let rejected = false;
    for (const action of step.actions ?? []) {
      const r = await applyLiveAction(o.api, action, ipOf);
      if (r.error)
        recordCheck(result, false, {
          case: name,
          step: stepIndex,
          expected: 'action applied',
          got: 'error',
          why: r.error,
        });
      if (r.rejected) {
        recordCheck(result, false, {
          case: name,
          step: stepIndex,
          expected: 'valid policies',
          got: 'rejected',
          why: r.rejected,
        });
        rejected = true;
      }
    }
    if (rejected) continue;
    let engine: ReturnType<typeof compile> | undefined;
    const explain = async (from: string, to: string, protocol: Protocol, dport: number): Promise<string> => {
      try {
        engine ??= compile(await liveCluster(o.api, namespaces));
        const v = evaluateFlow(engine, { srcIp: ipOf(from) ?? '', dstIp: ipOf(to) ?? '', protocol, dport });
        return `policy engine on the live objects: ${v.verdict}\n${explainFlow(v)}`;
      } catch (e) {
        return `policy engine: ${(e as Error).message}`;
      }
    };
    for (const block of step.expect ?? []) {
      const protocol = (block.probe.protocol ?? 'TCP').toUpperCase() as Protocol;
      const probeLabel = `${block.probe.port}/${protocol}`;
      const pairs = expectedPairs(block as ExpectBlock, podNames);
      if (protocol === 'SCTP' && !o.sctp) {
        result.checks.total += pairs.length;
        result.checks.skipped += pairs.length;
        skipped += pairs.length;
        continue;
      }
      const outcomes = await probeBlock(pairs, block as ExpectBlock, protocol, pods, env, agnhost, o);
      for (let i = 0; i < pairs.length; i++) {
        const { from, to, expect } = pairs[i]!;
        const r = outcomes[i]!;
        judged++;
        const got = r.error ? 'error' : r.connected ? 'allow' : 'deny';
        const ok = got === expect;
        recordCheck(
          result,
          ok,
          ok
            ? undefined
            : {
                case: name,
                step: stepIndex,
                probe: probeLabel,
                pair: `${from} -> ${to}`,
                expected: expect,
                got,
                why: `${r.how}: ${r.detail} (${r.attempts} attempt${r.attempts === 1 ? '' : 's'} in ${(r.elapsedMs / 1000).toFixed(1)} s, block probed twice)\n${r.dport === undefined ? '' : await explain(from, to, protocol, r.dport)}`.trimEnd(),
              },
        );
      }
    }
  }
  if (judged === 0 && skipped > 0) {
    result.skips.push({ case: name, reason: NO_SCTP_REASON });
    recordCase(result, 'skipped');
    return;
  }
  recordCase(result, result.checks.failed > before ? 'failed' : 'passed');
}

interface BlockOutcome extends AttemptResult {
  attempts: number;
  elapsedMs: number;
  how: string;
  dport?: number;
}

/** Probes every pair of a block (polled), then once more the whole block if any cell is wrong. */
async function probeBlock(
  pairs: Probe[],
  block: ExpectBlock,
  protocol: Protocol,
  pods: Map<string, K8sModel['pods'][number]>,
  env: LiveEnv,
  agnhost: Agnhost,
  o: { poll: PollOptions; concurrency: number },
): Promise<BlockOutcome[]> {
  const one = async (p: Probe): Promise<BlockOutcome> => {
    const src = pods.get(p.from);
    const dst = pods.get(p.to);
    if (!src || !dst)
      return { connected: false, error: 'unknown pod', detail: 'unknown pod', attempts: 0, elapsedMs: 0, how: 'setup' };
    let dport = typeof block.probe.port === 'number' ? block.probe.port : Number.NaN;
    if (typeof block.probe.port === 'string') {
      dport = /^[0-9]+$/.test(block.probe.port)
        ? Number(block.probe.port)
        : ((dst.containers ?? []).flatMap((c) => c.ports ?? []).find((x) => x.name === block.probe.port)
            ?.containerPort ?? Number.NaN);
    }
    const svc = env.serviceIp.get(`${dst.namespace}/s-${dst.namespace}-${dst.name}`);
    if (!Number.isFinite(dport) || !svc)
      return {
        connected: false,
        error: `no service port ${block.probe.port}/${protocol} on ${p.to}`,
        detail: 'no target',
        attempts: 0,
        elapsedMs: 0,
        how: 'setup',
      };
    const container = src.containers?.[0]?.name ?? 'cont';
    const target = { address: svc, port: dport, protocol: protocol.toLowerCase() as 'tcp' | 'udp' };
    const r = await pollUntil(
      () => agnhost.connect({ namespace: src.namespace, pod: src.name, container }, target),
      p.expect === 'allow',
      o.poll,
    );
    return { ...r, dport, how: `agnhost connect ${svc}:${dport} --protocol=${target.protocol} from ${p.from}` };
  };
  const wrong = (p: Probe, r: BlockOutcome) => !!r.error || r.connected !== (p.expect === 'allow');
  let out = await mapBounded(pairs, o.concurrency, one);
  if (pairs.some((p, i) => wrong(p, out[i]!))) out = await mapBounded(pairs, o.concurrency, one);
  return out;
}
