/**
 * Enforcement benchmarks (P2, P3), live on this machine (root): an in-process podwall daemon (apiserver, node,
 * controllers, enforcement on the default datapath, eBPF, or `PODWALL_DATAPATH=nftables`) with ~100 pods in a
 * private pod CIDR and a private HOME.
 *
 *  1. Policy change → enforced, end to end: a CiliumNetworkPolicy that isolates the server pod is created / deleted
 *     through the API (KubeClient, like kubectl); a prober inside the client pod opens a TCP connection to the server
 *     every few ms and the latency is API call → first probe that sees the new verdict (the probe period bounds the
 *     resolution). Also the agent-internal part: watch event → datapath update done.
 *  2. One pod added / removed: the datapath transaction time and its size (elements touched).
 *
 * Run: npm run build && node dist/bench/enforcement.js [--pods N] [--changes N] [--quick]   (or npm run bench)
 * Prints JSON (progress on stderr); without root it prints `{ skipped }`. Everything it creates is removed (daemon stop + the host cleaners, as `podwall down` does).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from '../src/agent/daemon.js';
import type { AppliedEvent, EnforcementComponent } from '../src/agent/enforcement/component.js';
import { HOST_CLEANERS } from '../src/agent/lifecycle.js';
import type { KubeObject, Pod } from '../src/api/types.js';
import { KubeClient, loadKubeconfig } from '../src/kube/client.js';
import { RESOURCE_REFS } from '../src/kube/resources.js';
import { machine, median } from './stats.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const quick = process.argv.includes('--quick');
const PODS = arg('--pods', quick ? 30 : 100);
const CHANGES = arg('--changes', quick ? 20 : 24);
const PROBE_EVERY_MS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

function has(cmd: string): boolean {
  try {
    execFileSync(cmd, ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const progress = (s: string) => process.stderr.write(`[enforcement] ${s}\n`);

function freeCidr(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let i = 0; i < 100; i++) {
    const x = 200 + Math.floor(Math.random() * 50);
    if (!routes.includes(`10.${x}.`)) return `10.${x}.0.0/16`;
  }
  throw new Error('no free pod CIDR');
}

/** Opens a TCP connection every PROBE_EVERY_MS ms; prints `<start epoch ms> <1|0>` per attempt. */
const PROBER = `
const net = require('net');
const [host, port, every] = process.argv.slice(1);
setInterval(() => {
  const t = Date.now();
  let done = false;
  const s = net.connect({ host, port: Number(port) });
  const fin = (ok) => { if (done) return; done = true; s.destroy(); process.stdout.write(t + ' ' + (ok ? 1 : 0) + '\\n'); };
  s.setTimeout(250, () => fin(false));
  s.on('connect', () => fin(true));
  s.on('error', () => fin(false));
}, Number(every));
`;

function pod(name: string, labels: Record<string, string>, image: string, command?: string[]): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'c', image, ...(command ? { command } : {}) }],
    },
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync('/usr/lib/cni/ptp') || !has('kubectl')) {
    process.stdout.write(
      `${JSON.stringify({ skipped: 'needs root, the CNI plugins and kubectl (pods, nftables, exec)' })}\n`,
    );
    return;
  }
  const home = mkdtempSync(join(tmpdir(), 'pw-bench-enf-'));
  process.env.PODWALL_POD_CIDR = freeCidr();
  process.env.HOME = join(home, 'user-home');
  const daemon = await startDaemon({ home, foreground: true, port: 0 });
  let prober: ChildProcess | undefined;
  const results: Record<string, unknown> = { machine: machine(), podCIDR: process.env.PODWALL_POD_CIDR };
  try {
    const enf = daemon.components.find((c) => c.name === 'enforcement') as unknown as EnforcementComponent;
    const applied: AppliedEvent[] = [];
    enf.onApplied((e) => applied.push(e));
    const client = new KubeClient(loadKubeconfig({ path: daemon.kubeconfigPath }));
    const env = { ...process.env, KUBECONFIG: daemon.kubeconfigPath };

    // --- the node: a server, a client, fillers with a spread of identities, and background policies ---
    await client.create(
      RESOURCE_REFS.pods,
      pod('bench-server', { app: 'bench-server', org: 'empire' }, 'docker.io/cilium/starwars'),
    );
    await client.create(
      RESOURCE_REFS.pods,
      pod('bench-client', { app: 'bench-client', org: 'alliance' }, 'docker.io/tgraf/netperf'),
    );
    const fillers = Math.max(0, PODS - 3); // + coredns
    await Promise.all(
      Array.from({ length: fillers }, (_, i) =>
        client.create(
          RESOURCE_REFS.pods,
          pod(`filler-${i}`, { app: `filler-${i % 20}`, tier: i % 2 ? 'a' : 'b' }, 'busybox', ['sleep', 'infinity']),
        ),
      ),
    );
    for (let i = 0; i < 20; i++) {
      await client.create(RESOURCE_REFS.ciliumnetworkpolicies, {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: `bg-${i}`, namespace: 'default' },
        spec: {
          endpointSelector: { matchLabels: { app: `filler-${i}` } },
          ingress: [
            {
              fromEndpoints: [{ matchLabels: { app: `filler-${(i + 1) % 20}` } }],
              toPorts: [{ ports: [{ port: String(8000 + i), protocol: 'TCP' }] }],
            },
          ],
        },
      } as KubeObject);
    }
    const tStart = Date.now();
    const running = await until(
      'pods running',
      async () => {
        const l = await client.listAll<Pod>(RESOURCE_REFS.pods);
        const ok = l.items.filter((p) => p.status?.phase === 'Running' && p.status.podIP);
        return ok.length >= PODS ? ok.length : undefined;
      },
      300_000,
    );
    results.pods = { running, startSeconds: round((Date.now() - tStart) / 1000) };
    progress(`${running} pods running; measuring ${CHANGES} policy changes`);
    await until('endpoints enforced', () => ((enf.desired?.endpoints.length ?? 0) >= PODS ? true : undefined), 60_000);
    const server = await client.get<Pod>(RESOURCE_REFS.pods, 'default', 'bench-server');
    const serverIp = server.status!.podIP!;
    await until('server ready', async () => {
      const p = await client.get<Pod>(RESOURCE_REFS.pods, 'default', 'bench-server');
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    });

    // --- 1. policy change → enforced ---
    prober = spawn(
      'kubectl',
      ['exec', 'bench-client', '--', '/usr/bin/node', '-e', PROBER, serverIp, '80', String(PROBE_EVERY_MS)],
      {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const probes: { t: number; ok: boolean }[] = [];
    let buf = '';
    prober.stdout!.on('data', (d) => {
      buf += d;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        const [t, ok] = buf.slice(0, i).split(' ');
        probes.push({ t: Number(t), ok: ok === '1' });
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    });
    await until('prober sees the server', () => (probes.some((p) => p.ok) ? true : undefined), 30_000);
    const isolate = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: 'bench-isolate', namespace: 'default' },
      spec: {
        endpointSelector: { matchLabels: { app: 'bench-server' } },
        ingress: [
          {
            fromEndpoints: [{ matchLabels: { org: 'empire' } }],
            toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
          },
        ],
      },
    } as KubeObject;
    const endToEnd: number[] = [];
    const internal: number[] = [];
    const parts: { compile: number; apply: number; kernel: number; changes: number }[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const deny = i % 2 === 0;
      await sleep(300);
      const nApplied = applied.length;
      const t0 = Date.now();
      const p0 = performance.now();
      if (deny) await client.create(RESOURCE_REFS.ciliumnetworkpolicies, isolate);
      else await client.delete(RESOURCE_REFS.ciliumnetworkpolicies, 'default', 'bench-isolate');
      // The new verdict is seen at the start time of the first probe (by start time, not completion: a refused or
      // dropped attempt reports only after its timeout) from which on every attempt has the new outcome; wait until
      // attempts started 300 ms later have reported.
      const seen = await until(
        `change ${i} seen by the probe`,
        () => {
          const after = probes.filter((p) => p.t >= t0 - PROBE_EVERY_MS).sort((a, b) => a.t - b.t);
          let first = -1;
          for (let k = after.length - 1; k >= 0 && after[k]!.ok === !deny; k--) first = k;
          if (first < 0 || after.at(-1)!.t - after[first]!.t < 300) return undefined;
          return after[first]!.t;
        },
        30_000,
      );
      endToEnd.push(seen - t0);
      const ev = applied.slice(nApplied).find((e) => e.changeAt >= p0 - 1);
      if (ev) {
        internal.push(ev.appliedAt - ev.changeAt);
        parts.push({
          compile: ev.compileMs,
          apply: ev.applyMs,
          kernel: ev.kernelMs ?? Number.NaN,
          changes: ev.stats?.changes ?? 0,
        });
      }
    }
    results.policyChangeToEnforced = {
      changes: CHANGES,
      probeResolutionMs: PROBE_EVERY_MS,
      endToEndMs: {
        p50: round(pct(endToEnd, 50)),
        p99: round(pct(endToEnd, 99)),
        max: round(Math.max(...endToEnd)),
        all: endToEnd,
      },
      watchEventToDatapathMs: internal.length
        ? {
            p50: round(pct(internal, 50)),
            p99: round(pct(internal, 99)),
            n: internal.length,
            compileMsMedian: round(median(parts.map((x) => x.compile))),
            applyMsMedian: round(median(parts.map((x) => x.apply))),
            applyMsMax: round(Math.max(...parts.map((x) => x.apply))),
            kernelTransactionMsMedian: round(median(parts.map((x) => x.kernel))),
            elementsTouchedMedian: median(parts.map((x) => x.changes)),
          }
        : undefined,
    };
    prober.kill('SIGKILL');
    prober = undefined;

    // --- 2. one pod added / removed: datapath transaction ---
    progress('measuring one-pod changes');
    const podTx: {
      kind: string;
      applyMs: number;
      kernelMs: number;
      attachMs: number;
      compileMs: number;
      changes: number;
    }[] = [];
    /** The apply that brought the node to `endpoints` local endpoints, from the events since `mark`. */
    const record = (kind: string, mark: number, endpoints: number) => {
      const ev = applied.slice(mark).find((e) => e.endpoints === endpoints);
      if (!ev?.stats) return;
      podTx.push({
        kind,
        applyMs: ev.applyMs,
        kernelMs: ev.kernelMs ?? Number.NaN,
        attachMs: ev.attachMs ?? 0,
        compileMs: ev.compileMs,
        changes: ev.stats.changes,
      });
    };
    for (let i = 0; i < 10; i++) {
      const name = `one-${i}`;
      const n = enf.desired!.endpoints.length;
      let mark = applied.length;
      await client.create(
        RESOURCE_REFS.pods,
        pod(name, { app: 'one', org: 'alliance' }, 'busybox', ['sleep', 'infinity']),
      );
      await until('pod enforced', () => (enf.desired!.endpoints.length === n + 1 ? true : undefined), 30_000);
      record('add', mark, n + 1);
      mark = applied.length;
      await client.delete(RESOURCE_REFS.pods, 'default', name, { gracePeriodSeconds: 0 } as never);
      await until('pod gone', () => (enf.desired!.endpoints.length === n ? true : undefined), 30_000);
      record('remove', mark, n);
    }
    const applyMs = podTx.map((x) => x.applyMs);
    results.onePodChange = {
      samples: podTx.length,
      datapathApplyMs: { median: round(median(applyMs)), p99: round(pct(applyMs, 99)) },
      kernelTransactionMs: {
        median: round(median(podTx.map((x) => x.kernelMs))),
        p99: round(
          pct(
            podTx.map((x) => x.kernelMs),
            99,
          ),
        ),
      },
      // eBPF: attaching/detaching the pod's programs (tcx links), inside datapathApplyMs, apart from the map update.
      programAttachMs: { median: round(median(podTx.map((x) => x.attachMs))) },
      compileMs: { median: round(median(podTx.map((x) => x.compileMs))) },
      elementsTouched: { median: median(podTx.map((x) => x.changes)), max: Math.max(...podTx.map((x) => x.changes)) },
      runner: (enf as unknown as { nft?: { runner: { kind: string } } }).nft?.runner.kind,
    };
    results.datapath = (enf as unknown as { settings: { datapath: string } }).settings.datapath;
    client.close();
  } finally {
    prober?.kill('SIGKILL');
    await daemon.stop();
    for (const c of HOST_CLEANERS) await c.clean(home).catch(() => []);
    rmSync(home, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
