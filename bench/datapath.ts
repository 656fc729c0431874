/**
 * Datapath benchmark (P1, P3): pod→pod TCP throughput and new-connection rate with no podwall rules (A) versus
 * podwall's nftables table loaded with 1,000 policies compiled to ≥ 10,000 map entries (B), interleaved A B A B,
 * medians; plus the load time of that table and the time of a one-element / one-pod incremental update.
 *
 * Run (root): npm run build && node dist/bench/datapath.js [--runs N] [--seconds S] [--quick] [--no-stress] [--no-small]
 *   [--modes A,E]  (a subset of the interleaved modes below; A is required)
 * Prints one JSON document on stdout; progress on stderr.
 *
 * Setup: two netns pods `client` and `server` from src/datapath/testing-netns.ts (CNI ptp, routed through the host
 * like podwall's pods; netns `pw-t<id>-*`, veths `pw-<id>-*`). The server runs `iperf3 -s` and an nginx
 * (`return 200`, private config/pid/temp dir under /var/tmp/pw-bench-*) bound to its pod IP only.
 *
 * State B: `syntheticCluster({pods: 10_000, policies: 1_000})` with its pod IPs moved to a /16 nothing on this host
 * routes (10.2xx.0.0/16, so no other engineer's pods are ever matched), plus the two test pods (and two
 * NetworkPolicies: server ingress from `tier: frontend` pods of any namespace on 5201/8081, client egress to
 * `tier: backend` pods on 5201/8081), compiled with the real engine (`compile`). The node's table holds the ipcache
 * of all 10,002 pods and the policy elements of 100 sampled endpoints + the two test pods (a node's local pods),
 * so every measured packet is classified through the ipcache and the client's egress and the server's ingress
 * verdict maps, each holding one element per `tier: frontend`/`backend` identity. A connection's first packet walks
 * the policy; the verdict is then cached in its ct mark under the table's policy generation
 * (src/datapath/nftables/README.md), so later packets cost one conntrack mark lookup until the next change.
 *
 * Diagnostics, interleaved too (A S K B C A S K B C …): S = conntrack alone (a table with one `ct state established
 * accept` rule: the floor of any stateful filter); K = podwall's table with the same two pods and no policy (conntrack,
 * service NAT hooks, the fixed chains); C = the two pods and their two policies in a table that holds nothing else.
 * S vs A is the price of connection tracking, K vs S that of podwall's fixed chains, B vs K that of the policies,
 * B vs C that of the map sizes.
 *
 * Connection rate: `wrk -t1 -c32 -H 'Connection: close'` from the client pod against nginx in the server pod:
 * every request is a new TCP connection (SYN → policy walk on egress and ingress), and both ends are C programs, so
 * the client is not the bottleneck (the recipe's Node connect+close loop topped out at ~2k conn/s and hid any
 * cost). The server closes first (TIME_WAIT on the server side), and after each run the run's conntrack entries
 * (client pod → server pod only) are deleted so the shared conntrack table never fills.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { AnyPolicy } from '../src/api/types.js';
import { createEbpfDriver, type EbpfDriverOptions } from '../src/datapath/ebpf/ebpf-driver.js';
import { ifindexOf } from '../src/datapath/ebpf/kernel/attach.js';
import { bpfObjectPath, loadDatapath } from '../src/datapath/ebpf/kernel/loader.js';
import { testRun } from '../src/datapath/ebpf/kernel/test-run.js';
import { createNftDriver } from '../src/datapath/nftables/nft-driver.js';
import { renderModel } from '../src/datapath/nftables/render.js';
import { createTestNet, type TestNet } from '../src/datapath/testing-netns.js';
import type { DesiredState, Driver, EndpointState } from '../src/datapath/types.js';
import type { ClusterInput, PodInput } from '../src/policy/cluster.js';
import { evaluateFlow } from '../src/policy/evaluate.js';
import { type CompiledCluster, compile } from '../src/policy/resolve/compile.js';
import { flag, list, opt } from './lib/args.js';
import {
  Cleanup,
  compareAB,
  have,
  isRoot,
  leftovers,
  machineFacts,
  median,
  must,
  placed,
  round,
  run,
  startNginx,
  stopChild,
  tempDir,
  waitFor,
  wrk,
} from './lib/host.js';
import { syntheticCluster } from './synthetic.js';

const quick = flag('quick');
const RUNS = opt('runs', quick ? 2 : 7);
const SECONDS = opt('seconds', quick ? 2 : 3);
const IPERF_PORT = 5201;
const NGINX_PORT = 8081;
const log = (s: string) => process.stderr.write(`[datapath] ${s}\n`);

export interface BenchState {
  state: DesiredState;
  compiled: CompiledCluster;
  mapEntries: number;
  clusterPods: number;
  policies: number;
  localEndpoints: number;
}

/** A /16 under 10.220–10.239 that no route on this host mentions. */
async function freeSlash16(): Promise<number> {
  const routes = (await must('ip', ['-4', 'route', 'show', 'table', 'all'])) + (await must('ip', ['-4', 'addr']));
  for (let i = 0; i < 40; i++) {
    const x = 220 + Math.floor(Math.random() * 20);
    if (!routes.includes(`10.${x}.`)) return x;
  }
  throw new Error('no free 10.22x/16 for the synthetic pods');
}

/** The state of the table: synthetic cluster + the two measured pods, compiled by the real engine. */
export function buildState(o: {
  clientIp: string;
  serverIp: string;
  gateway: string;
  slash16: number;
  pods: number;
  policies: number;
  local: number;
  proxyPort: number;
  /** Every endpoint local (stress variant) instead of a sample of `local`. */
  allLocal?: boolean;
}): BenchState {
  const input: ClusterInput = syntheticCluster({ pods: o.pods, policies: o.policies });
  input.pods.forEach((p, i) => {
    p.ip = `10.${o.slash16}.${i >> 8}.${i & 255}`;
  });
  input.hostIps = [o.gateway];
  const ns = input.namespaces[0]!.name;
  const mk = (name: string, ip: string, labels: Record<string, string>): PodInput => ({
    namespace: ns,
    name,
    labels,
    ip,
    ports: [
      { name: 'iperf', port: IPERF_PORT, protocol: 'TCP' },
      { name: 'http', port: NGINX_PORT, protocol: 'TCP' },
    ],
  });
  input.pods.push(
    mk('pw-bench-client', o.clientIp, { app: 'pw-bench-client', tier: 'frontend' }),
    mk('pw-bench-server', o.serverIp, { app: 'pw-bench-server', tier: 'backend' }),
  );
  const ports = [
    { port: IPERF_PORT, protocol: 'TCP' },
    { port: NGINX_PORT, protocol: 'TCP' },
  ];
  input.policies.push(
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'pw-bench-server-ingress', namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'pw-bench-server' } },
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { tier: 'frontend' } } }], ports }],
      },
    } as AnyPolicy,
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'pw-bench-client-egress', namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'pw-bench-client' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { tier: 'backend' } } }], ports }],
      },
    } as AnyPolicy,
  );
  const compiled = compile(input);
  const all: EndpointState[] = [...compiled.endpoints].map(([name, policy]) => ({
    name,
    ip: compiled.pods.get(name)!.ip,
    identity: policy.identity,
    policy,
  }));
  const measured = new Set([`${ns}/pw-bench-client`, `${ns}/pw-bench-server`]);
  const others = all.filter((e) => !measured.has(e.name));
  const step = Math.max(1, Math.floor(others.length / o.local));
  const endpoints = o.allLocal
    ? all
    : [...others.filter((_, i) => i % step === 0).slice(0, o.local), ...all.filter((e) => measured.has(e.name))];
  const state: DesiredState = {
    ipcache: all.map((e) => ({ prefix: `${e.ip}/32`, identity: e.identity })),
    endpoints,
    services: [],
    proxyPort: o.proxyPort,
    hostIps: [o.gateway],
  };
  const model = renderModel(state, { table: 'count', nflogGroup: 100, tproxyMark: 0x80000000 });
  let mapEntries = 0;
  for (const s of model.sets.values()) mapEntries += s.elements.size;
  return {
    state,
    compiled,
    mapEntries,
    clusterPods: input.pods.length,
    policies: input.policies.length,
    localEndpoints: endpoints.length,
  };
}

/** The engine must agree that the measured flows are allowed and another port is not (else B measures nothing). */
function checkVerdicts(b: BenchState, clientIp: string, serverIp: string): void {
  for (const dport of [IPERF_PORT, NGINX_PORT]) {
    const v = evaluateFlow(b.compiled, { srcIp: clientIp, dstIp: serverIp, protocol: 'TCP', dport });
    if (v.verdict !== 'allowed') throw new Error(`engine denies the measured flow :${dport}`);
  }
  const v = evaluateFlow(b.compiled, { srcIp: clientIp, dstIp: serverIp, protocol: 'TCP', dport: 8080 });
  if (v.verdict === 'allowed') throw new Error('engine allows client → server:8080; the policy is not enforced');
}

async function iperf(net: TestNet, serverIp: string, seconds: number): Promise<number> {
  const [cmd, args] = placed(['iperf3', '-c', serverIp, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'], {
    netns: net.pods.client!.netns,
  });
  const r = await run(cmd, args, { timeoutMs: (seconds + 20) * 1000 });
  let j: { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`iperf3: ${r.stderr || r.stdout}`);
  }
  if (j.error || !j.end?.sum_received?.bits_per_second) throw new Error(`iperf3: ${j.error ?? 'no result'}`);
  return j.end.sum_received.bits_per_second / 1e9;
}

async function connRate(net: TestNet, serverIp: string, seconds: number): Promise<number> {
  const r = await wrk(`http://${serverIp}:${NGINX_PORT}/`, {
    seconds,
    connections: 32,
    headers: ['Connection: close'],
    netns: net.pods.client!.netns,
  });
  if (r.errors > r.requests * 0.01) throw new Error(`wrk: ${r.errors} socket errors of ${r.requests}`);
  // Only the flows this run created: client pod → server pod.
  await run('conntrack', ['-D', '-s', net.pods.client!.ip, '-d', serverIp], { timeoutMs: 30_000 });
  return r.requestsPerSec;
}

/** curl client → server:8080 (the pod's own server): must pass without rules, must be dropped with B loaded. */
async function reachable8080(net: TestNet): Promise<boolean> {
  const r = await net.curl('client', `http://${net.pods.server!.ip}:8080/`, { timeoutS: 1 });
  return r.exit === 0 && r.code === 200;
}

/** An Ethernet + IPv4 + TCP frame from `src` to `dst`:NGINX_PORT with the given TCP flags (checksums left 0). */
function tcpFrame(src: string, dst: string, sport: number, flags: number): Buffer {
  const b = Buffer.alloc(14 + 20 + 20);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(40, 16);
  b[22] = 64;
  b[23] = 6;
  src.split('.').forEach((x, i) => {
    b[26 + i] = Number(x);
  });
  dst.split('.').forEach((x, i) => {
    b[30 + i] = Number(x);
  });
  b.writeUInt16BE(sport, 34);
  b.writeUInt16BE(NGINX_PORT, 36);
  b[46] = 0x50;
  b[47] = flags;
  return b;
}

/**
 * What the eBPF program itself costs per packet, measured in the kernel (BPF_PROG_TEST_RUN, 200k repeats, state B
 * loaded): a SYN from the client pod (both directions judged, a connection-table entry written, two verdict
 * records) and a packet of the established connection (one endpoint and one connection-table lookup). Far less
 * noisy than the traffic runs, which it helps read.
 */
function programCost(pinDir: string, client: { ip: string; hostIfname: string }, serverIp: string) {
  const dp = loadDatapath({ pinDir });
  try {
    const ifindex = ifindexOf(client.hostIfname);
    const fromPod = dp.progFd('from_pod');
    const syn = tcpFrame(client.ip, serverIp, 40001, 0x02);
    const ack = tcpFrame(client.ip, serverIp, 40001, 0x10);
    const first = testRun(fromPod, syn, { ifindex });
    if (first.retval !== 0) throw new Error(`programCost: the SYN was dropped (retval ${first.retval})`);
    return {
      newConnectionNs: testRun(fromPod, syn, { ifindex, repeat: 200_000 }).durationNs,
      establishedPacketNs: testRun(fromPod, ack, { ifindex, repeat: 200_000 }).durationNs,
    };
  } finally {
    dp.close();
  }
}

type TimedDriver = Driver & { readonly last?: { ms: number; renderMs: number } };

async function updateTimes(driver: TimedDriver, b: BenchState, n: number) {
  const base = b.state;
  // One element: the server allows one more identity (not yet in its ingress map) on one port: a new key.
  const server = base.endpoints.find((e) => e.name.endsWith('/pw-bench-server'))!;
  const withElem = structuredClone(base);
  const srv = withElem.endpoints.find((e) => e.name === server.name)!;
  const newId = base.ipcache.map((e) => e.identity).find((id) => srv.policy.ingress.byIdentity[id] === undefined);
  if (newId === undefined) throw new Error('no identity outside the server ingress map');
  srv.policy.ingress.byIdentity[newId] = [{ protocol: 'TCP', lo: 443, hi: 443, verdict: 'allow', rules: [] }];
  const elem: number[] = [];
  const renderMs: number[] = [];
  const changes = new Set<number>();
  for (let i = 0; i < n; i++) {
    const st = await driver.apply(i % 2 === 0 ? withElem : base);
    if (st.full) throw new Error('one-element update fell back to a full load');
    changes.add(st.changes);
    elem.push(driver.last!.ms);
    renderMs.push(driver.last!.renderMs);
  }
  // The same with a port range: the element goes to the shared interval map, which libnftables reads whole.
  const withRange = structuredClone(withElem);
  withRange.endpoints.find((e) => e.name === server.name)!.policy.ingress.byIdentity[newId] = [
    { protocol: 'TCP', lo: 9000, hi: 9100, verdict: 'allow', rules: [] },
  ];
  const range: number[] = [];
  for (let i = 0; i < n; i++) {
    const st = await driver.apply(i % 2 === 0 ? withRange : base);
    if (st.full) throw new Error('range update fell back to a full load');
    range.push(driver.last!.ms);
  }
  // One pod added / removed: its ipcache, eps, hairpin, policy and default-deny elements (no chain, no map).
  const addPod = structuredClone(base);
  const template = base.endpoints[0]!;
  const newIp = template.ip.replace(/\.\d+\.\d+$/, '.250.1');
  if (base.ipcache.some((e) => e.prefix === `${newIp}/32`)) throw new Error('pod IP in use');
  addPod.ipcache.push({ prefix: `${newIp}/32`, identity: template.identity });
  addPod.endpoints.push({ ...structuredClone(template), name: `${template.name}-pw-new`, ip: newIp });
  const pod: number[] = [];
  const podChanges = new Set<number>();
  for (let i = 0; i < n; i++) {
    const st = await driver.apply(i % 2 === 0 ? addPod : base);
    if (st.full) throw new Error('pod add/remove fell back to a full load');
    podChanges.add(st.changes);
    pod.push(driver.last!.ms);
  }
  return {
    oneElementMs: { median: round(median(elem)), max: round(Math.max(...elem)), runs: elem.length },
    oneElementChanges: [...changes],
    // The pure part before the kernel transaction (render the whole desired state, diff against the last one).
    renderAndDiffMs: { median: round(median(renderMs)), max: round(Math.max(...renderMs)) },
    oneRangeElementMs: { median: round(median(range)), max: round(Math.max(...range)), runs: range.length },
    podAddRemoveMs: { median: round(median(pod)), max: round(Math.max(...pod)), runs: pod.length },
    podAddRemoveChanges: [...podChanges],
  };
}

async function main(): Promise<Record<string, unknown>> {
  if (!isRoot) return { skipped: 'needs root (netns pods, nftables)' };
  for (const c of ['iperf3', 'wrk', 'nginx', 'nft', 'conntrack', 'taskset', 'curl'])
    if (!have(c)) return { skipped: `${c} is not installed` };
  const facts = machineFacts();
  const cleanup = new Cleanup();
  const suffix = randomBytes(3).toString('hex');
  const table = `pw-bench-${suffix}`;
  const markers = [table];
  const out: Record<string, unknown> = { machine: facts };
  try {
    const dir = tempDir(`pw-bench-${suffix}-`, cleanup);
    log('creating pods');
    const net = await createTestNet(['client', 'server'], [8080]);
    cleanup.push('test pods', () => net.teardown());
    markers.push(`pw-t${net.id}-`, `pw-${net.id}-`);
    const client = net.pods.client!;
    const server = net.pods.server!;
    // Client netns only (per-netns sysctls): a wide ephemeral range for the connection-rate runs.
    await must('ip', ['netns', 'exec', client.netns, 'sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65000']);
    await must('ip', ['netns', 'exec', client.netns, 'sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1']);
    const [icmd, iargs] = placed(['iperf3', '-s', '-B', server.ip, '-p', String(IPERF_PORT)], { netns: server.netns });
    const iperfd: ChildProcess = spawn(icmd, iargs, { stdio: 'ignore' });
    cleanup.push('iperf3 server', () => stopChild(iperfd));
    await startNginx({
      name: 'conn',
      dir,
      netns: server.netns,
      listen: [{ ip: server.ip, port: NGINX_PORT }],
      http: `  server { listen ${server.ip}:${NGINX_PORT} backlog=4096; location / { return 200 "ok\\n"; } }`,
      cleanup,
    });
    await waitFor('iperf3 server', async () => {
      const r = await run('ip', ['netns', 'exec', server.netns, 'ss', '-ltn', `sport = :${IPERF_PORT}`]);
      return r.stdout.includes(`:${IPERF_PORT}`);
    });

    log('compiling the state');
    const slash16 = await freeSlash16();
    const t0 = performance.now();
    const b = buildState({
      clientIp: client.ip,
      serverIp: server.ip,
      gateway: net.gateway,
      slash16,
      pods: quick ? 2000 : 10_000,
      policies: 1000,
      local: 100,
      proxyPort: 15001,
    });
    const compileMs = performance.now() - t0;
    checkVerdicts(b, client.ip, server.ip);
    const srvEp = b.state.endpoints.find((e) => e.ip === server.ip)!;
    const cliEp = b.state.endpoints.find((e) => e.ip === client.ip)!;
    out.state = {
      clusterPods: b.clusterPods,
      policies: b.policies,
      localEndpoints: b.localEndpoints,
      mapEntries: b.mapEntries,
      compileMs: Math.round(compileMs),
      serverIngressIdentities: Object.keys(srvEp.policy.ingress.byIdentity).length,
      clientEgressIdentities: Object.keys(cliEp.policy.egress.byIdentity).length,
      syntheticSubnet: `10.${slash16}.0.0/16`,
    };
    log(`state: ${JSON.stringify(out.state)}`);
    if (b.mapEntries < 10_000 && !quick) throw new Error(`only ${b.mapEntries} map entries`);

    const driver = createNftDriver({ table, manageRouting: false });
    cleanup.push(`nft table ${table}`, async () => {
      await driver.teardown();
      driver.runner.close();
    });

    // Warm-up (not recorded): one of each, so first-run effects (ARP, page cache) hit neither side.
    await iperf(net, server.ip, 1);
    await connRate(net, server.ip, 1);

    // C (diagnostic): the same two pods and policies in a table with nothing else (a few dozen entries). B vs C
    // separates the cost of the map sizes from the cost of walking podwall's chains at all.
    const small = buildState({
      clientIp: client.ip,
      serverIp: server.ip,
      gateway: net.gateway,
      slash16,
      pods: 0,
      policies: 0,
      local: 0,
      proxyPort: 15001,
    });
    checkVerdicts(small, client.ip, server.ip);
    // K: podwall's table with the same two pods and no policy at all — conntrack, the service NAT hooks and the
    // verdict cache, i.e. what every cluster pays for kube-proxy's conntrack before any network policy. B vs K is
    // the cost of the policies themselves; K vs A the cost of stateful filtering as such.
    const noPolicy: DesiredState = {
      ...small.state,
      endpoints: small.state.endpoints.map((e) => ({
        ...e,
        policy: {
          ...e.policy,
          ingress: { ...e.policy.ingress, enforced: false },
          egress: { ...e.policy.egress, enforced: false },
        },
      })),
    };
    // S: conntrack alone — a table of our own with one `ct state established accept` rule, nothing else. The
    // floor of any stateful filter: K vs S is what podwall's fixed chains add on top of connection tracking.
    const ctTable = `${table}-ct`;
    const ctOnly = (verb: 'load' | 'drop') =>
      driver.runner.run(
        verb === 'drop'
          ? `add table inet ${ctTable}\ndelete table inet ${ctTable}\n`
          : `add table inet ${ctTable}\nadd chain inet ${ctTable} pre { type filter hook prerouting priority -90 ; policy accept ; }\n` +
              `add rule inet ${ctTable} pre ct state established accept\n`,
      );
    cleanup.push(`nft table ${ctTable}`, () => ctOnly('drop'));
    // E: the same state B through the eBPF datapath (no netfilter, its own connection table); X and L are variants
    // of it, each with its own bpffs (only one is attached at a time).
    const veths = new Map([
      [client.ip, client.hostIfname],
      [server.ip, server.hostIfname],
    ]);
    const ebpfDriver = (tag: string, what: string, extra: Partial<EbpfDriverOptions> = {}) => {
      const d = createEbpfDriver({
        stateDir: tempDir(`pw-bench-${suffix}-${tag}-`, cleanup),
        manageRouting: false,
        interfaceOf: (ep) => veths.get(ep.ip),
        ...extra,
      });
      cleanup.push(what, () => d.teardown());
      return d;
    };
    const haveEbpf = existsSync(bpfObjectPath());
    if (!haveEbpf) log('no compiled eBPF object (npm run build): mode E skipped');
    const ebpf = haveEbpf ? ebpfDriver('ebpf', 'eBPF datapath') : undefined;
    const ebpfTc = haveEbpf ? ebpfDriver('tcx', 'eBPF datapath (tc filters)', { attach: 'tc' }) : undefined;
    const ebpfLegacy = haveEbpf
      ? ebpfDriver('legacy', 'eBPF datapath (host routing off)', { hostRouting: false })
      : undefined;
    type Mode = 'A' | 'S' | 'K' | 'B' | 'C' | 'E' | 'Z' | 'X' | 'L';
    const all: Mode[] = flag('no-small') ? ['A', 'S', 'K', 'B'] : ['A', 'S', 'K', 'B', 'C'];
    if (ebpf) all.push('E');
    // Z (opt-in, --modes): the eBPF programs attached to the same two pods with no policy — the fixed cost of the
    // hooks and the connection table, apart from the policy lookups E adds.
    // X (opt-in): E with the programs attached as tc filters (clsact + cls_bpf) instead of tcx links.
    // L (opt-in): E with BPF host routing off: every packet goes through the host's IP stack as with no podwall.
    const optIn: Mode[] = ebpf ? ['Z', 'X', 'L'] : [];
    const modes = list('modes', all).filter((m): m is Mode => ([...all, ...optIn] as string[]).includes(m));
    if (!modes.includes('A')) throw new Error('--modes must include A (the baseline)');
    const tput: Record<Mode, number[]> = { A: [], S: [], K: [], B: [], C: [], E: [], Z: [], X: [], L: [] };
    const conns: Record<Mode, number[]> = { A: [], S: [], K: [], B: [], C: [], E: [], Z: [], X: [], L: [] };
    const loadMs: number[] = [];
    const ebpfLoadMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const mode of modes) {
        await ebpf?.teardown();
        await ebpfTc?.teardown();
        await ebpfLegacy?.teardown();
        if (mode === 'E' || mode === 'Z' || mode === 'X' || mode === 'L') {
          await driver.teardown();
          const d = mode === 'X' ? ebpfTc! : mode === 'L' ? ebpfLegacy! : ebpf!;
          const st = await d.apply(mode === 'Z' ? noPolicy : b.state);
          if (!st.full) throw new Error('expected a full load');
          if (mode === 'E') ebpfLoadMs.push(ebpf!.last!.ms);
          if ((await reachable8080(net)) !== (mode === 'Z'))
            throw new Error(`${mode}: client ${mode === 'Z' ? 'cannot reach' : 'reaches'} server:8080`);
        } else if (mode === 'A' || mode === 'S') {
          await driver.teardown();
          if (mode === 'S') await ctOnly('load');
          if (!(await reachable8080(net))) throw new Error(`${mode}: client cannot reach server:8080 without policy`);
        } else {
          await driver.teardown();
          const st = await driver.apply(mode === 'B' ? b.state : mode === 'C' ? small.state : noPolicy);
          if (!st.full) throw new Error('expected a full load');
          if (mode === 'B') loadMs.push(driver.last!.ms);
          const reaches = await reachable8080(net);
          if (mode === 'K' && !reaches) throw new Error('K: client cannot reach server:8080 with no policy');
          if (mode !== 'K' && reaches)
            throw new Error(`${mode}: client reaches server:8080: the table is not enforcing`);
        }
        tput[mode].push(await iperf(net, server.ip, SECONDS));
        conns[mode].push(await connRate(net, server.ip, SECONDS));
        if (mode === 'S') await ctOnly('drop');
        log(
          `run ${i + 1}/${RUNS} ${mode}: ${tput[mode].at(-1)!.toFixed(2)} Gbit/s, ${Math.round(conns[mode].at(-1)!)} conn/s` +
            (mode === 'B' ? `, load ${loadMs.at(-1)!.toFixed(0)} ms` : '') +
            (mode === 'E' ? `, load ${ebpfLoadMs.at(-1)!.toFixed(0)} ms` : ''),
        );
      }
    }
    const ran = (m: Mode) => tput[m].length > 0;
    if (ran('B')) {
      out.throughputGbps = { ...compareAB(tput.A, tput.B), target: 'P1: >= 0.95', seconds: SECONDS, streams: 1 };
      out.connectionsPerSec = { ...compareAB(conns.A, conns.B, 0), target: 'P1: >= 0.90', seconds: SECONDS };
      if (ran('K'))
        out.vsNoPolicy = {
          what: 'B vs K: podwall with 1k policies vs podwall with no policy (conntrack + service NAT, like kube-proxy)',
          throughput: compareAB(tput.K, tput.B),
          connections: compareAB(conns.K, conns.B, 0),
          noPolicyVsBare: { throughput: compareAB(tput.A, tput.K), connections: compareAB(conns.A, conns.K, 0) },
        };
      if (ran('S') && ran('K'))
        out.statefulFloor = {
          what: 'S: conntrack alone (one `ct state established accept` rule) vs no rules; K vs S: podwall without policy vs conntrack alone',
          throughput: compareAB(tput.A, tput.S),
          connections: compareAB(conns.A, conns.S, 0),
          noPolicyVsConntrack: { throughput: compareAB(tput.S, tput.K), connections: compareAB(conns.S, conns.K, 0) },
        };
      if (tput.C.length) {
        out.smallTable = {
          mapEntries: small.mapEntries,
          throughputVsNoRules: compareAB(tput.A, tput.C),
          connectionsVsNoRules: compareAB(conns.A, conns.C, 0),
          bigVsSmallThroughput: compareAB(tput.C, tput.B),
          bigVsSmallConnections: compareAB(conns.C, conns.B, 0),
        };
      }
      out.nftLoadMs = {
        median: round(median(loadMs)),
        runs: loadMs.map((x) => round(x, 1)),
        runner: driver.runner.kind,
      };
    }
    if (ebpf && ran('E')) {
      out.ebpf = {
        what: 'E: state B through the eBPF datapath (tc programs, own connection table, no netfilter) vs no rules (A)',
        throughput: { ...compareAB(tput.A, tput.E), target: 'P1: >= 0.95' },
        connections: { ...compareAB(conns.A, conns.E, 0), target: 'P1: >= 0.90' },
        ...(ran('X')
          ? {
              tcFilters: {
                throughput: compareAB(tput.A, tput.X),
                connections: compareAB(conns.A, conns.X, 0),
                tcxVsTcFilters: { throughput: compareAB(tput.X, tput.E), connections: compareAB(conns.X, conns.E, 0) },
              },
            }
          : {}),
        ...(ran('L')
          ? {
              hostRoutingOff: {
                what: 'L: E with BPF host routing off (every packet through the host stack, as with no podwall)',
                throughput: compareAB(tput.A, tput.L),
                connections: compareAB(conns.A, conns.L, 0),
                hostRoutingGain: { throughput: compareAB(tput.L, tput.E), connections: compareAB(conns.L, conns.E, 0) },
              },
            }
          : {}),
        ...(ran('Z')
          ? {
              noPolicyVsBare: { throughput: compareAB(tput.A, tput.Z), connections: compareAB(conns.A, conns.Z, 0) },
              policyVsNoPolicy: { throughput: compareAB(tput.Z, tput.E), connections: compareAB(conns.Z, conns.E, 0) },
            }
          : {}),
        ...(ran('B')
          ? { vsNftables: { throughput: compareAB(tput.B, tput.E), connections: compareAB(conns.B, conns.E, 0) } }
          : {}),
        loadMs: { median: round(median(ebpfLoadMs)), runs: ebpfLoadMs.map((x) => round(x, 1)) },
      };
      await ebpf.apply(b.state);
      (out.ebpf as Record<string, unknown>).updates = {
        ...(await updateTimes(ebpf, b, quick ? 10 : 40)),
        target: 'P3: <= 10 ms',
      };
      (out.ebpf as Record<string, unknown>).programCost = programCost(ebpf.pinDir, client, server.ip);
      log(`ebpf: ${JSON.stringify(out.ebpf)}`);
      await ebpf.teardown();
    }

    // Incremental updates on the loaded B state (P3).
    if (ran('B')) {
      await driver.apply(b.state);
      out.updates = { ...(await updateTimes(driver, b, quick ? 10 : 40)), target: 'P3: <= 10 ms' };
      log(`updates: ${JSON.stringify(out.updates)}`);
      await driver.teardown();
    }

    // Stress variant (no traffic): every endpoint of a 1,000-pod cluster local to this node.
    if (!flag('no-stress') && !quick) {
      const s = buildState({
        clientIp: client.ip,
        serverIp: server.ip,
        gateway: net.gateway,
        slash16,
        pods: 1000,
        policies: 1000,
        local: 0,
        proxyPort: 15001,
        allLocal: true,
      });
      const loads: number[] = [];
      for (let i = 0; i < 3; i++) {
        await driver.teardown();
        await driver.apply(s.state);
        loads.push(driver.last!.ms);
      }
      out.stressAllLocal = {
        clusterPods: s.clusterPods,
        policies: s.policies,
        localEndpoints: s.localEndpoints,
        mapEntries: s.mapEntries,
        nftLoadMs: { median: round(median(loads)), runs: loads.map((x) => round(x, 1)) },
        ...(await updateTimes(driver, s, 20)),
      };
      log(`stress: ${JSON.stringify(out.stressAllLocal)}`);
      await driver.teardown();
    }
  } catch (e) {
    out.error = String((e as Error).stack ?? e);
  } finally {
    const errors = await cleanup.runAll();
    if (errors.length) out.cleanupErrors = errors;
    facts.loadEnd = loadavg().map((x) => Number(x.toFixed(2)));
    out.leftovers = await leftovers(markers);
  }
  return out;
}

main().then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    if (r.error || (Array.isArray(r.leftovers) && r.leftovers.length)) process.exitCode = 1;
  },
  (e) => {
    process.stdout.write(`${JSON.stringify({ error: String((e as Error).stack ?? e) }, null, 2)}\n`);
    process.exitCode = 1;
  },
);
