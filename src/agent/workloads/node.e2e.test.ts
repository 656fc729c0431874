/**
 * Root end-to-end test of the standalone node: the daemon runs in-process with the workload components on a
 * test pod CIDR (10.244.210.0/24) and a unique netns prefix; the real kubectl applies the Star Wars demo and
 * the test checks what a user sees: Running pods with IPs, `deploy 2/2`, exec + curl to a pod IP, DNS from a
 * pod, the exhaust-port crash (restart + `logs --previous`), an image-pull error, scaling 5 → 1, graceful
 * deletion (Terminating, SIGTERM → grace → SIGKILL), a daemon restart that re-adopts pods with their IPs and
 * removes an orphan, `delete -f`, and finally that the host has exactly the pw- objects it had before.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../api/types.js';
import { kubectlBinary, removeHome, runKubectl, SEED, waitFor } from '../../apiserver/e2e/harness.js';
import { bundlePrograms } from '../../images/bundle-programs.js';
import { KubeClient, loadKubeconfig } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { type HostInventory, hostInventory } from '../../runtime/inventory.js';
import { PodRuntime } from '../../runtime/pod-runtime.js';
import { type Daemon, startDaemon } from '../daemon.js';
import { nodeHostCleaner } from './host-cleaner.js';
import { type WorkloadOptions, workloadComponents } from './index.js';
import { serviceDnat } from './service-dnat.test-helper.js';

const KUBECTL = kubectlBinary('1.32');
const SKIP =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/usr/lib/cni/ptp')
      ? 'CNI plugins missing'
      : !KUBECTL
        ? 'kubectl.1.32 not found'
        : undefined;

const CIDR = '10.244.210.0/24';
const CIDR_PREFIX = '10.244.210.';
const tag = `pw-w${Math.random().toString(16).slice(2, 7)}`;

describe.skipIf(SKIP !== undefined)(`standalone node end to end${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  let home: string;
  let daemon: Daemon | undefined;
  let client: KubeClient;
  let before: HostInventory;
  let opts: WorkloadOptions;
  const dnat = { sync: async () => {}, remove: async () => {} };

  const kubectl = (args: string[], stdin?: string) =>
    runKubectl(KUBECTL!, { home, kubeconfig: join(home, 'kubeconfig') }, args, stdin);
  const podList = async () => (await client.list<Pod>(RESOURCE_REFS.pods, { namespace: 'default' })).items;
  const pod = (name: string) => client.get<Pod>(RESOURCE_REFS.pods, 'default', name);
  const deathstars = async () => (await podList()).filter((p) => p.metadata.labels?.class === 'deathstar');
  const running = (p: Pod) =>
    p.status?.phase === 'Running' &&
    !!p.status.podIP &&
    p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const netnsOf = async () => (await hostInventory(tag)).netns;
  const dump = () => {
    try {
      return readFileSync(join(home, 'logs', 'podwall.log'), 'utf8')
        .split('\n')
        .slice(-40)
        .join('\n');
    } catch {
      return '';
    }
  };
  const start = async () => {
    daemon = await startDaemon({ home, foreground: true, port: 0, components: workloadComponents(opts) });
    client?.close();
    client = new KubeClient(loadKubeconfig({ path: join(home, 'kubeconfig') }));
  };

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'pw-wl-'));
    const programDir = await bundlePrograms(join(home, 'programs'));
    before = await hostInventory(tag, CIDR_PREFIX);
    opts = {
      node: {
        nodeName: `${tag}-node`,
        podCIDR: CIDR,
        netnsPrefix: `${tag}-`,
        podRoutes: ['10.96.0.0/12'],
        programDir,
        backoff: { baseMs: 1000, maxMs: 4000, resetMs: 60_000 },
      },
    };
    await start();
    const d = serviceDnat(client, `${tag}-svc`, CIDR);
    dnat.sync = d.sync;
    dnat.remove = d.remove;
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    client?.close();
    const cleaned = await nodeHostCleaner.clean(home);
    await dnat.remove();
    const after = await hostInventory(tag, CIDR_PREFIX);
    removeHome(home);
    expect(cleaned.filter((l) => l.startsWith('pods:'))).toEqual([]);
    expect(after).toEqual(before);
  }, 120_000);

  it('registers a Ready node', async () => {
    const r = await kubectl(['get', 'nodes', '--no-headers']);
    expect(r.stdout).toMatch(new RegExp(`^${tag}-node\\s+Ready\\s+control-plane\\s+\\d+s\\s+v1\\.32\\.\\d+\\n$`));
  });

  it('runs the Star Wars demo: pods Running with IPs, deploy 2/2, exec curl to a pod IP', async () => {
    const apply = await kubectl(['apply', '-f', join(SEED, 'app.yaml')]);
    expect(apply.stderr).toBe('');
    expect(apply.stdout).toBe(
      'service/deathstar created\ndeployment.apps/deathstar created\npod/tiefighter created\npod/xwing created\n',
    );
    await waitFor(
      async () => {
        const ps = await podList();
        return ps.length === 4 && ps.every(running);
      },
      30_000,
      'demo pods running',
    ).catch((e) => {
      throw new Error(`${e.message}\n${dump()}`);
    });
    for (const p of await podList()) {
      expect(p.status?.podIP?.startsWith(CIDR_PREFIX), `${p.metadata.name} ${p.status?.podIP}`).toBe(true);
      expect(p.spec.nodeName).toBe(`${tag}-node`);
      expect(p.status?.hostIP).toBeTruthy();
    }
    const rollout = await kubectl(['rollout', 'status', 'deploy/deathstar', '--timeout=30s']);
    expect(rollout.stdout).toBe('deployment "deathstar" successfully rolled out\n');
    const g = await kubectl(['get', 'deploy', 'deathstar', '--no-headers']);
    expect(g.stdout).toMatch(/^deathstar\s+2\/2\s+2\s+2\s+\d+s\n$/);
    const gp = await kubectl(['get', 'pods', '--no-headers']);
    expect(gp.stdout.trim().split('\n')).toHaveLength(4);
    for (const line of gp.stdout.trim().split('\n')) expect(line).toMatch(/\s1\/1\s+Running\s+0\s+/);
    const ds = await deathstars();
    const r = await kubectl([
      'exec',
      'tiefighter',
      '--',
      'curl',
      '-s',
      '--max-time',
      '5',
      '-XPOST',
      `${ds[0]!.status?.podIP}/v1/request-landing`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('Ship landed\n');
    const logs = await kubectl(['logs', ds[0]!.metadata.name ?? '']);
    expect(logs.stdout).toContain('Serving deathstar');
    expect(logs.stdout).toContain('POST /v1/request-landing');
  }, 90_000);

  it('injects KUBERNETES_SERVICE_HOST/PORT and writes the kubernetes Service endpoints', async () => {
    const env = await kubectl(['exec', 'tiefighter', '--', 'env']);
    expect(env.stdout).toContain('KUBERNETES_SERVICE_HOST=10.96.0.1\n');
    expect(env.stdout).toContain('KUBERNETES_SERVICE_PORT=443\n');
    expect(env.stdout).toContain('KUBERNETES_PORT=tcp://10.96.0.1:443\n');
    const ep = await kubectl(['get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[0].addresses[0].ip}']);
    expect(ep.stdout).toBe('10.244.210.1');
    const eps = await kubectl(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=deathstar', '--no-headers']);
    expect(eps.stdout).toMatch(/^deathstar-\w{5}\s+IPv4\s+80\s+10\.244\.210\.\d+,10\.244\.210\.\d+\s+/);
    // The pod gateway relays to the API server: pods reach the kubernetes endpoint.
    const port = new URL(client.config.server).port;
    const v = await kubectl([
      'exec',
      'tiefighter',
      '--',
      'curl',
      '-sk',
      '--max-time',
      '5',
      `https://10.244.210.1:${port}/version`,
    ]);
    expect(v.stdout).toContain('"gitVersion"');
  }, 30_000);

  it('serves cluster DNS from the coredns pod; names resolve from inside a pod', async () => {
    await waitFor(
      async () => {
        const ps = (await client.list<Pod>(RESOURCE_REFS.pods, { namespace: 'kube-system' })).items;
        return ps.length === 1 && running(ps[0]!);
      },
      30_000,
      'coredns running',
    );
    const cd = (await client.list<Pod>(RESOURCE_REFS.pods, { namespace: 'kube-system' })).items[0]!;
    expect(cd.metadata.labels?.['k8s-app']).toBe('kube-dns');
    const svc = await kubectl(['get', 'svc', 'deathstar', '-o', 'jsonpath={.spec.clusterIP}']);
    const clusterIP = svc.stdout;
    expect(clusterIP).toMatch(/^10\.(9[6-9]|1[01]\d)\.\d+\.\d+$/);
    const resolv = await kubectl(['exec', 'tiefighter', '--', 'cat', '/etc/resolv.conf']);
    expect(resolv.stdout).toContain('nameserver 10.96.0.10\n');
    expect(resolv.stdout).toContain('search default.svc.cluster.local svc.cluster.local cluster.local\n');
    // Straight to the coredns pod.
    const dig = await kubectl([
      'exec',
      'tiefighter',
      '--',
      'dig',
      '+short',
      '+time=2',
      '+tries=2',
      `@${cd.status?.podIP}`,
      'deathstar.default.svc.cluster.local',
    ]);
    expect(dig.stdout).toBe(`${clusterIP}\n`);
    // Through the kube-dns ClusterIP (DNAT by the stand-in datapath until the enforcement one lands).
    await dnat.sync();
    const getent = await kubectl([
      'exec',
      'tiefighter',
      '--',
      'getent',
      'hosts',
      'deathstar.default.svc.cluster.local',
    ]);
    expect(getent.stdout).toMatch(
      new RegExp(`^${clusterIP.replace(/\./g, '\\.')}\\s+deathstar\\.default\\.svc\\.cluster\\.local\\n$`),
    );
    const viaSvc = await kubectl([
      'exec',
      'tiefighter',
      '--',
      'curl',
      '-s',
      '--max-time',
      '5',
      '-XPOST',
      'deathstar.default.svc.cluster.local/v1/request-landing',
    ]);
    expect(viaSvc.stdout).toBe('Ship landed\n');
  }, 60_000);

  it('restarts a deathstar container after the exhaust-port panic; logs --previous shows the request', async () => {
    const ds = (await deathstars())[0]!;
    const name = ds.metadata.name ?? '';
    const r = await kubectl([
      'exec',
      'tiefighter',
      '--',
      'curl',
      '-s',
      '--max-time',
      '5',
      '-XPUT',
      `${ds.status?.podIP}/v1/exhaust-port`,
    ]);
    expect(r.stdout).toContain('Panic: deathstar exploded');
    await waitFor(
      async () => {
        const p = await pod(name);
        const cs = (p.status?.containerStatuses ?? []) as { restartCount: number }[];
        return cs[0]?.restartCount === 1 && running(p);
      },
      20_000,
      'restart',
    );
    const p = await pod(name);
    const cs = (p.status?.containerStatuses ?? []) as {
      restartCount: number;
      lastState: { terminated?: { exitCode: number; reason: string } };
      state: { running?: unknown };
    }[];
    expect(cs[0]?.lastState.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    expect(cs[0]?.state.running).toBeDefined();
    expect(p.status?.podIP).toBe(ds.status?.podIP);
    const prev = await kubectl(['logs', '--previous', name]);
    expect(prev.stdout).toContain('PUT /v1/exhaust-port');
    const cur = await kubectl(['logs', name]);
    expect(cur.stdout).not.toContain('PUT /v1/exhaust-port');
    const gp = await kubectl(['get', 'pod', name, '--no-headers']);
    expect(gp.stdout).toMatch(/\s1\/1\s+Running\s+1 \(\d+s ago\)\s+/);
  }, 40_000);

  it('reports an image outside the catalog as ErrImagePull / ImagePullBackOff with the runtime message', async () => {
    const r = await kubectl(['run', 'bad', '--image=busybox', '--restart=Never']);
    expect(r.stdout).toBe('pod/bad created\n');
    await waitFor(
      async () => {
        const cs = ((await pod('bad')).status?.containerStatuses ?? []) as {
          state: { waiting?: { reason: string } };
        }[];
        return ['ErrImagePull', 'ImagePullBackOff'].includes(cs[0]?.state.waiting?.reason ?? '');
      },
      15_000,
      'image pull error',
    );
    const cs = ((await pod('bad')).status?.containerStatuses ?? []) as {
      state: { waiting: { reason: string; message: string } };
    }[];
    expect(cs[0]?.state.waiting.message).toContain('"busybox" is not a built-in image');
    expect(cs[0]?.state.waiting.message).toContain('set command: to run a host binary');
    const g = await kubectl(['get', 'pod', 'bad', '--no-headers']);
    expect(g.stdout).toMatch(/^bad\s+0\/1\s+(ErrImagePull|ImagePullBackOff)\s+0\s+/);
    await kubectl(['delete', 'pod', 'bad', '--wait=true']);
  }, 40_000);

  it('scales the deployment to 5 and back to 1; new pods get the service environment', async () => {
    const sc = await kubectl(['scale', 'deploy', 'deathstar', '--replicas=5']);
    expect(sc.stdout).toBe('deployment.apps/deathstar scaled\n');
    await waitFor(
      async () => {
        const ds = await deathstars();
        return ds.length === 5 && ds.every(running);
      },
      30_000,
      '5 deathstars',
    );
    const rollout = await kubectl(['rollout', 'status', 'deploy/deathstar', '--timeout=30s']);
    expect(rollout.stdout).toContain('successfully rolled out');
    expect((await kubectl(['get', 'deploy', 'deathstar', '--no-headers'])).stdout).toMatch(
      /^deathstar\s+5\/5\s+5\s+5\s/,
    );
    const svcIP = (await kubectl(['get', 'svc', 'deathstar', '-o', 'jsonpath={.spec.clusterIP}'])).stdout;
    const newest = (await deathstars()).sort((a, b) =>
      (a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? 1 : -1,
    )[0]!;
    const env = await kubectl(['exec', newest.metadata.name ?? '', '--', 'env']);
    expect(env.stdout).toContain(`DEATHSTAR_SERVICE_HOST=${svcIP}\n`);
    expect(env.stdout).toContain('DEATHSTAR_SERVICE_PORT=80\n');
    expect(env.stdout).toContain(`DEATHSTAR_PORT_80_TCP=tcp://${svcIP}:80\n`);
    const nsBefore = (await netnsOf()).length;
    await kubectl(['scale', 'deploy', 'deathstar', '--replicas=1']);
    await waitFor(async () => (await deathstars()).length === 1, 40_000, '1 deathstar');
    await waitFor(async () => (await netnsOf()).length === nsBefore - 4, 10_000, 'netns of removed pods gone');
    expect((await kubectl(['get', 'deploy', 'deathstar', '--no-headers'])).stdout).toMatch(
      /^deathstar\s+1\/1\s+1\s+1\s/,
    );
    const eps = await kubectl(['get', 'endpoints', 'deathstar', '--no-headers']);
    expect(eps.stdout).toMatch(/^deathstar\s+10\.244\.210\.\d+:80\s/);
  }, 90_000);

  it('deletes gracefully: Terminating during the grace period, SIGKILL after it, then the object goes', async () => {
    const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: stubborn
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: c
    image: docker.io/tgraf/netperf
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"]
`;
    await kubectl(['apply', '-f', '-'], manifest);
    await waitFor(async () => running(await pod('stubborn')), 20_000, 'stubborn running');
    const nsBefore = (await netnsOf()).length;
    const t0 = Date.now();
    const del = await kubectl(['delete', 'pod', 'stubborn', '--wait=false']);
    expect(del.stdout).toBe('pod "stubborn" deleted\n');
    const g = await kubectl(['get', 'pod', 'stubborn', '--no-headers']);
    expect(g.stdout).toMatch(/^stubborn\s+1\/1\s+Terminating\s/);
    await waitFor(
      async () =>
        await client.get(RESOURCE_REFS.pods, 'default', 'stubborn').then(
          () => false,
          () => true,
        ),
      15_000,
      'stubborn gone',
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2500);
    expect((await netnsOf()).length).toBe(nsBefore - 1);
  }, 40_000);

  it('survives a daemon restart: pods are re-adopted with their IPs, an orphan is removed', async () => {
    const ipsBefore = new Map((await podList()).map((p) => [p.metadata.uid, p.status?.podIP]));
    await daemon?.stop();
    daemon = undefined;
    // An orphan: a pod the runtime records but the API does not know.
    const rt = await PodRuntime.open({
      home,
      podCIDR: CIDR,
      netnsPrefix: `${tag}-`,
      podRoutes: ['10.96.0.0/12'],
      programDir: opts.node?.programDir,
    });
    const orphan = await rt.runPod({
      uid: randomUUID(),
      namespace: 'default',
      name: 'orphan',
      containers: [{ name: 'c', image: 'docker.io/tgraf/netperf' }],
    });
    await rt.close();
    expect(await netnsOf()).toContain(orphan.netns);
    await start();
    await waitFor(async () => !(await netnsOf()).includes(orphan.netns), 15_000, 'orphan removed');
    await waitFor(async () => (await podList()).every(running), 20_000, 'pods running again');
    for (const p of await podList()) expect(p.status?.podIP).toBe(ipsBefore.get(p.metadata.uid));
    const ds = (await deathstars())[0]!;
    const r = await kubectl([
      'exec',
      'tiefighter',
      '--',
      'curl',
      '-s',
      '--max-time',
      '5',
      '-XPOST',
      `${ds.status?.podIP}/v1/request-landing`,
    ]);
    expect(r.stdout).toBe('Ship landed\n');
    const cs = (ds.status?.containerStatuses ?? []) as { restartCount: number }[];
    expect(cs[0]?.restartCount).toBeLessThanOrEqual(1);
  }, 60_000);

  it('kubectl delete -f app.yaml removes every pod and its netns', async () => {
    const del = await kubectl(['delete', '-f', join(SEED, 'app.yaml')]);
    expect(del.stdout).toBe(
      'service "deathstar" deleted\ndeployment.apps "deathstar" deleted\npod "tiefighter" deleted\npod "xwing" deleted\n',
    );
    // Well inside the 30 s grace period: the (re-adopted) processes stop on SIGTERM.
    await waitFor(async () => (await podList()).length === 0, 20_000, 'default pods gone');
    // Only coredns is left on the node.
    await waitFor(async () => (await netnsOf()).length === 1, 10_000, 'only the coredns netns left');
    const eps = await kubectl(['get', 'endpoints', 'deathstar']);
    expect(eps.stderr).toContain('NotFound');
  }, 60_000);
});
