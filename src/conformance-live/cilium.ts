/**
 * `podwall conformance run --live` for the Cilium semantic suite format (shared/conformance/cilium/cases.yaml):
 * what can be probed between pods is probed on the running node, the rest is skipped with a reason.
 *
 *  - Probed: pod → pod (or → Service) TCP/UDP flows with `agnhost connect`, and HTTP flows with `curl -X METHOD`
 *    from the from-pod (2xx → allowed, 403 → denied-l7, no connection → denied-l3l4). Only the verdict is judged:
 *    the drop reason (POLICY_DENIED vs POLICY_DENY) is not visible from a pod.
 *  - Skipped: flows from/to `host`, `remote-node` or `ip:…` (no such peers on a single node), ICMP, DNS; a flow whose
 *    expectation depends on the case's fixed IP addresses (the live pods have other IPs); the `invalid:` section is
 *    run against the API server with dryRun (rejected_by: agent entries are skipped: the API accepts them).
 *  - Namespaces: the cases use `default`, `kube-system`, … which exist on every node and hold real workloads (kube-dns).
 *    Each case's namespaces are renamed to `pw-c-<name>` (ours, labelled) and the policies rewritten consistently
 *    (`metadata.namespace`, and every namespace-identifying selector value: `kubernetes.io/metadata.name`,
 *    `[k8s:|any:]io.kubernetes.pod.namespace`). The offline engine checks the rewrite: a flow whose offline verdict
 *    changes under the renaming is skipped rather than probed.
 */
import type { Container, KubeObject } from '../api/types.js';
import {
  type CiliumCase,
  type CiliumSuite,
  clusterOfCase,
  flowOfCase,
  rejectionTexts,
} from '../policy/conformance/cilium.js';
import { emptyResult, recordCase, recordCheck, type SuiteResult } from '../policy/conformance/result.js';
import { evaluateFlow } from '../policy/evaluate.js';
import { compile } from '../policy/resolve/compile.js';
import { type LiveApi, policyRef } from './api.js';
import { Agnhost, type AttemptResult, mapBounded, type PollOptions, pollUntil, UPSTREAM_POLL } from './probe.js';
import { AGNHOST_IMAGE, type LiveTopology, OWNER_LABEL, TopologyManager } from './topology.js';

type CaseFlow = NonNullable<CiliumCase['expect']>[number];
type Verdict = CaseFlow['verdict'];

export interface CiliumLiveOptions {
  api: LiveApi;
  log?: (line: string) => void;
  concurrency?: number;
  poll?: PollOptions;
  keep?: boolean;
  readyTimeoutMs?: number;
  image?: string;
  programDir?: string;
}

export const NS_PREFIX = 'pw-c-';

/** `default` → `pw-c-default`; names are lower-cased (the suite has `nsBob`) and kept DNS labels. */
export function liveNamespace(ns: string): string {
  return `${NS_PREFIX}${ns.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 63).replace(/-+$/, '');
}

function isNamespaceKey(key: string): boolean {
  const k = key.replace(/^(k8s|any|reserved|container):/, '');
  return k === 'io.kubernetes.pod.namespace' || k.endsWith('kubernetes.io/metadata.name');
}

/** Rewrites namespace names in a policy: metadata.namespace and namespace-identifying selector values. */
export function renamePolicy<T>(policy: T, rename: (ns: string) => string): T {
  const walk = (v: unknown, parentKey: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, parentKey));
    if (!v || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if (parentKey === 'matchLabels') {
      return Object.fromEntries(
        Object.entries(o).map(([k, x]) => [k, isNamespaceKey(k) && typeof x === 'string' ? rename(x) : x]),
      );
    }
    if (parentKey === 'matchExpressions' && typeof o.key === 'string' && isNamespaceKey(o.key)) {
      return {
        ...o,
        values: Array.isArray(o.values) ? o.values.map((x) => (typeof x === 'string' ? rename(x) : x)) : o.values,
      };
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x, k)]));
  };
  const out = walk(policy, '') as { metadata?: { namespace?: string } };
  if (out.metadata?.namespace) out.metadata = { ...out.metadata, namespace: rename(out.metadata.namespace) };
  return out as T;
}

/** The case with namespaces renamed everywhere (endpoints, services, policies, to_service). */
export function renameCase(c: CiliumCase, rename: (ns: string) => string): CiliumCase {
  return {
    ...c,
    namespaces: c.namespaces
      ? Object.fromEntries(Object.entries(c.namespaces).map(([k, v]) => [rename(k), v]))
      : undefined,
    endpoints: c.endpoints?.map((e) => ({ ...e, namespace: rename(e.namespace) })),
    services: c.services?.map((s) => ({ ...s, namespace: rename(s.namespace) })),
    policies: c.policies?.map((p) => renamePolicy(p, rename)),
    expect: c.expect?.map((f) =>
      f.to_service ? { ...f, to_service: `${rename(f.to_service.split('/')[0]!)}/${f.to_service.split('/')[1]}` } : f,
    ),
  };
}

/** Why a flow cannot be probed between pods, or undefined when it can. */
export function unprobeable(f: CaseFlow): string | undefined {
  for (const who of [f.from, f.to]) {
    if (who === 'host') return 'peer is the node itself (reserved:host): not probed live';
    if (who === 'remote-node') return 'peer is another node (reserved:remote-node): a single node has none';
    if (who.startsWith('ip:')) return `peer ${who} is outside the cluster (world): no traffic leaves this machine`;
  }
  const p = f.protocol.toUpperCase();
  if (p === 'ICMP') return 'ICMP flows are not probed live';
  if (f.dns) return 'DNS/FQDN flows are not probed live (no DNS proxy probe)';
  if (p !== 'TCP' && p !== 'UDP') return `${p} is not probed live`;
  if (f.http && p !== 'TCP') return 'HTTP over a non-TCP protocol';
  if (f.verdict === 'denied-l7' && !f.http) return 'an L7 denial without an HTTP request cannot be observed';
  return undefined;
}

function offlineVerdicts(c: CiliumCase): (string | undefined)[] {
  const compiled = compile(clusterOfCase(c));
  return (c.expect ?? []).map((f) => {
    const flow = flowOfCase(c, f);
    return typeof flow === 'string' ? undefined : evaluateFlow(compiled, flow).verdict;
  });
}

function flowLabel(f: CaseFlow): string {
  const l7 = f.http ? ` ${f.http.method} ${f.http.path}` : f.dns ? ` dns ${f.dns.query}` : '';
  return `${f.protocol === 'ICMP' ? `icmp-type ${f.icmp_type ?? 8}` : `${f.port}/${f.protocol}`}${l7}`;
}

/** Pods (agnhost; porter for TCP so HTTP answers any path, serve-hostname for each UDP port) and Services. */
export function ciliumTopology(c: CiliumCase, image = AGNHOST_IMAGE): LiveTopology {
  const serve = new Map<string, Set<string>>(); // endpoint → "port/PROTO"
  const add = (ep: string, port: number, proto: string) => {
    let s = serve.get(ep);
    if (!s) {
      s = new Set();
      serve.set(ep, s);
    }
    s.add(`${port}/${proto.toUpperCase()}`);
  };
  for (const f of c.expect ?? []) {
    if (unprobeable(f) || f.port === undefined) continue;
    let port = f.port;
    if (f.to_service) {
      const [ns, name] = f.to_service.split('/');
      const svc = c.services?.find((s) => s.namespace === ns && s.name === name);
      const sp = svc?.ports.find((p) => p.port === f.port);
      port = sp?.targetPort ?? sp?.port ?? port;
    }
    add(f.to, port, f.protocol);
  }
  const nsNames = new Set<string>(Object.keys(c.namespaces ?? {}));
  for (const e of c.endpoints ?? []) nsNames.add(e.namespace);
  for (const p of c.policies ?? []) if (p.metadata?.namespace) nsNames.add(p.metadata.namespace);
  for (const s of c.services ?? []) nsNames.add(s.namespace);
  const pods = (c.endpoints ?? []).map((e) => {
    const wanted = [...(serve.get(e.name) ?? [])].map((s) => {
      const [port, proto] = s.split('/');
      return { port: Number(port), proto: proto! };
    });
    for (const np of e.namedPorts ?? []) wanted.push({ port: np.port, proto: (np.protocol ?? 'TCP').toUpperCase() });
    const named = new Map(
      (e.namedPorts ?? []).map((np) => [`${np.port}/${(np.protocol ?? 'TCP').toUpperCase()}`, np.name]),
    );
    const uniq = [...new Map(wanted.map((w) => [`${w.port}/${w.proto}`, w])).values()].sort((a, b) => a.port - b.port);
    const port = (w: { port: number; proto: string }) => ({
      ...(named.get(`${w.port}/${w.proto}`) ? { name: named.get(`${w.port}/${w.proto}`) } : {}),
      containerPort: w.port,
      protocol: w.proto,
    });
    const tcp = uniq.filter((w) => w.proto === 'TCP');
    const udp = uniq.filter((w) => w.proto === 'UDP');
    const other = uniq.filter((w) => w.proto !== 'TCP' && w.proto !== 'UDP');
    const containers: Container[] = [];
    if (tcp.length)
      containers.push({
        name: 'srv-tcp',
        image,
        args: ['porter'],
        env: tcp.map((w) => ({ name: `SERVE_PORT_${w.port}`, value: 'ok' })),
        ports: tcp.map(port),
      } as Container);
    for (const w of udp)
      containers.push({
        name: `srv-udp-${w.port}`,
        image,
        args: ['serve-hostname', '--udp', '--http=false', '--port', String(w.port)],
        ports: [port(w)],
      } as Container);
    if (other.length || containers.length === 0)
      containers.push({
        name: 'idle',
        image,
        args: ['pause'],
        ...(other.length ? { ports: other.map(port) } : {}),
      } as Container);
    return {
      namespace: e.namespace,
      name: e.name,
      labels: { ...(e.labels ?? {}) },
      containers,
      ...(e.serviceAccount ? { serviceAccountName: e.serviceAccount } : {}),
    };
  });
  const services = (c.services ?? []).map((s) => ({
    namespace: s.namespace,
    name: s.name,
    selector: s.selector ?? {},
    ports: s.ports.map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      protocol: (p.protocol ?? 'TCP').toUpperCase() as 'TCP' | 'UDP',
    })),
  }));
  return {
    namespaces: [...nsNames].sort().map((name) => ({ name, labels: { ...(c.namespaces?.[name]?.labels ?? {}) } })),
    pods,
    services,
  };
}

function withOwner<T extends KubeObject>(obj: T): T {
  return { ...obj, metadata: { ...obj.metadata, labels: { ...(obj.metadata.labels ?? {}), [OWNER_LABEL]: 'true' } } };
}

export async function runCiliumLive(suite: CiliumSuite, name: string, o: CiliumLiveOptions): Promise<SuiteResult> {
  const log = o.log ?? (() => {});
  const result = emptyResult(name);
  const topoMgr = new TopologyManager({ api: o.api, log, readyTimeoutMs: o.readyTimeoutMs });
  const agnhost = new Agnhost(o.api, { log, programDir: o.programDir });
  const poll = o.poll ?? UPSTREAM_POLL;
  try {
    for (const original of suite.cases ?? []) {
      const t0 = Date.now();
      await runCase(original, o, topoMgr, agnhost, poll, result);
      log(`${original.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    for (const inv of suite.invalid ?? []) {
      if (inv.rejected_by === 'agent') {
        result.checks.total++;
        result.checks.skipped++;
        result.skips.push({ case: inv.name, reason: 'rejected by the agent, not the API server: not observable live' });
        recordCase(result, 'skipped');
        continue;
      }
      const obj = renamePolicy(inv.policy, liveNamespace);
      const { primary } = rejectionTexts(inv.error);
      let errors: string[] = [];
      try {
        if (obj.metadata.namespace)
          await topoMgr.ensure({ namespaces: [{ name: obj.metadata.namespace, labels: {} }], pods: [], services: [] });
        errors = await o.api.validate(policyRef(obj.kind), obj);
      } catch (e) {
        errors = [`error: ${(e as Error).message}`];
      }
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
              why: 'API server validation (dryRun)',
            },
      );
      recordCase(result, ok ? 'passed' : 'failed');
    }
  } finally {
    if (!o.keep) for (const l of await topoMgr.teardown()) log(`cleanup: ${l}`);
  }
  return result;
}

async function runCase(
  original: CiliumCase,
  o: CiliumLiveOptions,
  topoMgr: TopologyManager,
  agnhost: Agnhost,
  poll: PollOptions,
  result: SuiteResult,
): Promise<void> {
  const before = result.checks.failed;
  const flows = original.expect ?? [];
  const skip = (reason: string) => {
    result.checks.total++;
    result.checks.skipped++;
    return reason;
  };
  const c = renameCase(original, liveNamespace);
  const offline = offlineVerdicts(original);
  const renamed = offlineVerdicts(c);
  const reasons: (string | undefined)[] = flows.map(
    (f, i) =>
      unprobeable(f) ?? (offline[i] !== renamed[i] ? 'renaming the namespaces changes the offline verdict' : undefined),
  );
  const probed = flows.map((_, i) => i).filter((i) => reasons[i] === undefined);
  const skippedReasons = new Set<string>();
  const recordSkips = () => {
    for (const r of reasons) if (r) skippedReasons.add(skip(r));
  };
  if (probed.length === 0) {
    recordSkips();
    result.skips.push({ case: original.name, reason: [...skippedReasons].join('; ') || 'nothing to probe' });
    recordCase(result, 'skipped');
    return;
  }
  const topo = ciliumTopology(c, o.image);
  let env: Awaited<ReturnType<TopologyManager['ensure']>>;
  try {
    env = await topoMgr.ensure(topo);
    for (const p of c.policies ?? []) await o.api.create(policyRef(p.kind), withOwner(p as KubeObject));
  } catch (e) {
    recordSkips();
    recordCheck(result, false, { case: original.name, expected: 'setup', got: 'error', why: (e as Error).message });
    recordCase(result, 'failed');
    return;
  }
  // Flows whose expectation depends on the case's fixed IPs: the offline verdict changes with the live IPs.
  const withLiveIps: CiliumCase = {
    ...c,
    endpoints: c.endpoints?.map((e) => ({ ...e, ip: env.podIp.get(`${e.namespace}/${e.name}`) ?? e.ip })),
  };
  const liveOffline = offlineVerdicts(withLiveIps);
  for (const i of probed)
    if (liveOffline[i] !== renamed[i]) reasons[i] = "the expectation depends on the case's fixed IP addresses";
  recordSkips();
  const toProbe = probed.filter((i) => reasons[i] === undefined);
  const epOf = (n: string) => c.endpoints?.find((e) => e.name === n);
  const outcomes = await mapBounded(toProbe, o.concurrency ?? 8, async (i) => {
    const f = c.expect![i]!;
    const src = epOf(f.from)!;
    const dst = epOf(f.to)!;
    const pod = topo.pods.find((p) => p.namespace === src.namespace && p.name === src.name)!;
    const from = { namespace: src.namespace, pod: src.name, container: pod.containers[0]!.name };
    const address = f.to_service ? env.serviceIp.get(f.to_service) : env.podIp.get(`${dst.namespace}/${dst.name}`);
    if (!address) return { verdict: 'error' as const, detail: `no address for ${f.to_service ?? f.to}`, attempts: 0 };
    const want = f.verdict;
    const attempt = async (): Promise<AttemptResult & { verdict: Verdict | 'error' }> => {
      if (f.http) {
        const args = [
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--connect-timeout',
          '1',
          '-m',
          '3',
          ...Object.entries(f.http.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
          ...(f.to_service ? ['-H', `Host: ${f.to_service.split('/')[1]}`] : []),
          '-X',
          f.http.method,
          `http://${address}:${f.port}${f.http.path}`,
        ];
        const r = await o.api.exec(from.namespace, from.pod, from.container, args, 20_000);
        if (r.error) return { verdict: 'error', connected: false, error: r.error, detail: r.error };
        const code = Number(r.stdout.trim() || 0);
        const verdict: Verdict | 'error' =
          r.exitCode === 0 && code === 403
            ? 'denied-l7'
            : r.exitCode === 0 && code >= 200 && code < 400
              ? 'allowed'
              : r.exitCode !== 0
                ? 'denied-l3l4'
                : 'error';
        return { verdict, connected: verdict !== 'denied-l3l4', detail: `curl exit ${r.exitCode} http ${code}` };
      }
      const r = await agnhost.connect(from, {
        address,
        port: f.port ?? 0,
        protocol: f.protocol.toLowerCase() as 'tcp',
      });
      return { ...r, verdict: r.error ? 'error' : r.connected ? 'allowed' : 'denied-l3l4' };
    };
    let last: AttemptResult & { verdict: Verdict | 'error' } = { verdict: 'error', connected: false, detail: '' };
    const r = await pollUntil(
      async () => {
        last = await attempt();
        // pollUntil compares `connected` with the expectation: encode "matches" as connected === true.
        return { ...last, connected: last.verdict === want };
      },
      true,
      poll,
    );
    return { verdict: last.verdict, detail: last.detail, attempts: r.attempts };
  });
  toProbe.forEach((i, k) => {
    const f = c.expect![i]!;
    const r = outcomes[k]!;
    const ok = r.verdict === f.verdict;
    recordCheck(
      result,
      ok,
      ok
        ? undefined
        : {
            case: original.name,
            probe: flowLabel(f),
            pair: `${original.expect![i]!.from} -> ${original.expect![i]!.to}${f.to_service ? ` (via ${original.expect![i]!.to_service})` : ''}`,
            expected: f.verdict,
            got: r.verdict,
            why: `${r.detail} (${r.attempts} attempts); offline engine: ${renamed[i] ?? 'n/a'}`,
          },
    );
  });
  if (skippedReasons.size) result.skips.push({ case: original.name, reason: [...skippedReasons].join('; ') });
  recordCase(result, result.checks.failed > before ? 'failed' : 'passed');
}
