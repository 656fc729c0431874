/**
 * Standalone node benchmarks (issue 5): `podwall up` to ready, `kubectl apply` to Running for 1 pod and for a
 * 50-replica Deployment, deletion of those 50, and DNS queries/s against the coredns pod (UDP, from the host to
 * the pod IP; a bounded number of queries). Prints JSON. Root only; uses its own home, pod CIDR 10.244.213.0/24
 * and netns prefix, and runs `podwall down` at the end (checked: no pw- object of the run is left).
 * Run: npm run build && node dist/bench/node-runtime.js [--quick]
 */
import { execFile, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import type { KubeObject, Pod } from '../src/api/types.js';
import { KubeClient, loadKubeconfig } from '../src/kube/client.js';
import { Informer } from '../src/kube/informer.js';
import { RESOURCE_REFS } from '../src/kube/resources.js';
import { hostInventory } from '../src/runtime/inventory.js';
import { machine, median } from './stats.js';

const quick = process.argv.includes('--quick');
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, existsSync(join(HERE, '../package.json')) ? '..' : '../..');
const MAIN = join(REPO, 'dist/src/cli/main.js');
const CIDR_PREFIX = '10.244.213.';
const tag = `pw-b${Math.random().toString(16).slice(2, 7)}`;
const ENV = {
  ...process.env,
  PODWALL_POD_CIDR: `${CIDR_PREFIX}0/24`,
  PODWALL_NETNS_PREFIX: `${tag}-`,
  PODWALL_POD_ROUTES: '10.96.0.0/12',
  PODWALL_NODE_NAME: `${tag}-node`,
};

if (process.getuid?.() !== 0) {
  process.stderr.write('node-runtime bench needs root\n');
  process.exit(1);
}
if (!existsSync(MAIN)) {
  process.stderr.write(`missing ${MAIN}: run npm run build first\n`);
  process.exit(1);
}

function kubectlPath(): string | undefined {
  try {
    const link = execFileSync('sh', ['-c', 'readlink -f "$(command -v kubectl)"'], { encoding: 'utf8' }).trim();
    const p = join(dirname(link), 'kubectl.1.32');
    return existsSync(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

function sh(file: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  return new Promise((res, rej) => {
    const c = execFile(file, args, { env, timeout: 180_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      err ? rej(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : res(String(stdout)),
    );
    c.stdin?.end(input ?? '');
  });
}

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
}

const running = (p: Pod) =>
  p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

/** Resolves when `cond` holds for the informer's pods (checked on every pod event). */
function until(inf: Informer<Pod>, cond: (pods: Pod[]) => boolean, timeoutMs = 120_000): Promise<void> {
  return new Promise((res, rej) => {
    const check = () => {
      if (cond(inf.list())) {
        clearInterval(t);
        clearTimeout(to);
        res();
      }
    };
    const t = setInterval(check, 5);
    const to = setTimeout(() => {
      clearInterval(t);
      rej(new Error('timed out'));
    }, timeoutMs);
    check();
  });
}

/** `total` A queries over one UDP socket with `window` in flight; returns queries/s and failures. */
async function dnsQps(server: string, name: string, total: number, window: number) {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '0.0.0.0', () => r()));
  const msgs = new Map<number, number>();
  let sent = 0;
  let ok = 0;
  let bad = 0;
  const t0 = performance.now();
  await new Promise<void>((done) => {
    const send = () => {
      if (sent >= total) return;
      const id = sent++ & 0xffff;
      msgs.set(id, performance.now());
      sock.send(
        dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }),
        53,
        server,
      );
    };
    const finish = () => {
      if (ok + bad >= total) done();
    };
    sock.on('message', (m) => {
      const id = m.readUInt16BE(0);
      if (!msgs.delete(id)) return;
      if ((m[3]! & 0x0f) === 0) ok++;
      else bad++;
      send();
      finish();
    });
    // Lost datagrams: count them after 1 s and keep the window full.
    const sweep = setInterval(() => {
      const now = performance.now();
      for (const [id, at] of msgs) {
        if (now - at > 1000) {
          msgs.delete(id);
          bad++;
          send();
        }
      }
      finish();
      if (ok + bad >= total) clearInterval(sweep);
    }, 100);
    for (let i = 0; i < window; i++) send();
  });
  const s = (performance.now() - t0) / 1000;
  sock.close();
  return { qps: Math.round(ok / s), failed: bad };
}

const results: Record<string, unknown> = { machine: machine() };
const home = mkdtempSync(join(tmpdir(), 'pw-bench-'));
const port = await freePort();
const kubectl = kubectlPath();
const kenv = { PATH: process.env.PATH ?? '', HOME: join(home, 'kubectl-home'), KUBECONFIG: join(home, 'kubeconfig') };
const podwall = (args: string[]) => sh(process.execPath, [MAIN, ...args], ENV);
let client: KubeClient | undefined;
let pods: Informer<Pod> | undefined;

async function applyYaml(yaml: string): Promise<void> {
  if (kubectl) await sh(kubectl, ['apply', '-f', '-'], kenv, yaml);
  else throw new Error('kubectl.1.32 not found');
}

try {
  // podwall up → ready (the command returns once the API answers and every component has started).
  let t = performance.now();
  await podwall(['up', '--home', home, '--port', String(port)]);
  const upMs = performance.now() - t;
  client = new KubeClient(loadKubeconfig({ path: join(home, 'kubeconfig') }));
  pods = new Informer<Pod>(client, RESOURCE_REFS.pods);
  pods.start();
  await pods.waitForSync();
  await until(pods, (ps) => ps.some((p) => p.metadata.labels?.['k8s-app'] === 'kube-dns' && running(p)));
  const dnsReadyMs = performance.now() - t;
  results.up = { upToReadyMs: Math.round(upMs), upToCorednsRunningMs: Math.round(dnsReadyMs) };

  // One pod: kubectl apply → Running and Ready.
  const one: number[] = [];
  for (let i = 0; i < (quick ? 2 : 5); i++) {
    const name = `bench-one-${i}`;
    t = performance.now();
    await applyYaml(
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: c\n    image: docker.io/tgraf/netperf\n`,
    );
    await until(pods, (ps) => ps.some((p) => p.metadata.name === name && running(p)));
    one.push(performance.now() - t);
    await client.delete(RESOURCE_REFS.pods, 'default', name);
    await until(pods, (ps) => !ps.some((p) => p.metadata.name === name));
  }
  results.onePod = { applyToRunningMedianMs: Math.round(median(one)), runsMs: one.map(Math.round) };

  // 50 pods: a Deployment with 50 replicas of the toolbox image (a Node program each).
  const n = quick ? 20 : 50;
  t = performance.now();
  await applyYaml(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench
spec:
  replicas: ${n}
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      containers:
      - name: c
        image: docker.io/tgraf/netperf
`);
  let firstRunning = 0;
  await until(pods, (ps) => {
    const mine = ps.filter((p) => p.metadata.labels?.app === 'bench');
    if (!firstRunning && mine.some(running)) firstRunning = performance.now() - t;
    return mine.length === n && mine.every(running);
  });
  const allRunning = performance.now() - t;
  const deploys = async () => client!.get<KubeObject>(RESOURCE_REFS.deployments, 'default', 'bench');
  while (((await deploys()).status as { availableReplicas?: number } | undefined)?.availableReplicas !== n)
    await new Promise((r) => setTimeout(r, 20));
  const available = performance.now() - t;
  t = performance.now();
  await client.delete(RESOURCE_REFS.deployments, 'default', 'bench');
  await until(pods, (ps) => !ps.some((p) => p.metadata.labels?.app === 'bench'));
  const deleted = performance.now() - t;
  results.manyPods = {
    pods: n,
    applyToFirstRunningMs: Math.round(firstRunning),
    applyToAllRunningMs: Math.round(allRunning),
    applyToDeploymentAvailableMs: Math.round(available),
    deleteToAllGoneMs: Math.round(deleted),
  };

  // DNS queries/s against the coredns pod IP (host → pod, UDP, bounded).
  const coredns = pods.list().find((p) => p.metadata.labels?.['k8s-app'] === 'kube-dns')?.status?.podIP;
  if (!coredns) throw new Error('no coredns pod IP');
  const total = quick ? 5000 : 20_000;
  const runs = [];
  for (let i = 0; i < (quick ? 1 : 3); i++)
    runs.push(await dnsQps(coredns, 'kubernetes.default.svc.cluster.local', total, 32));
  results.dns = {
    target: `${coredns}:53/udp`,
    queriesPerRun: total,
    window: 32,
    medianQps: median(runs.map((r) => r.qps)),
    runsQps: runs.map((r) => r.qps),
    failed: runs.reduce((a, r) => a + r.failed, 0),
  };
} finally {
  await pods?.stop();
  client?.close();
  const t = performance.now();
  const down = await podwall(['down', '--home', home]).catch((e) => `${(e as Error).message}\n`);
  results.downMs = Math.round(performance.now() - t);
  if (process.env.PW_BENCH_DEBUG) {
    process.stderr.write(down);
    process.stderr.write(execFileSync('tail', ['-n', '40', join(home, 'logs', 'podwall.log')], { encoding: 'utf8' }));
  }
  const left = await hostInventory(tag, CIDR_PREFIX);
  results.leftover = left;
  rmSync(home, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
