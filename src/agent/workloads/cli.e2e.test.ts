/**
 * `podwall up` is also a node, as a user runs it (built CLI, real kubectl, the default components, so the
 * enforcement datapath too): the demo comes up, a ship lands on a deathstar pod IP and through the Service name,
 * `kill -9` of the daemon leaves the pods running and the next `up` re-adopts them with the same IPs, and
 * `down` leaves the host exactly as before (pw- netns/links/routes//etc/netns, this home's nft table and
 * TPROXY rule, no pod processes). Pods use 10.244.211.0/24 and a unique netns prefix (PODWALL_* variables).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../api/types.js';
import { kubectlBinary, REPO, removeHome, runKubectl, SEED, waitFor } from '../../apiserver/e2e/harness.js';
import { KubeClient, loadKubeconfig } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { run } from '../../runtime/exec.js';
import { type HostInventory, hostInventory } from '../../runtime/inventory.js';
import { freePort, runCommand } from '../../testing/process.js';
import { settingsForHome } from '../enforcement/settings.js';
import { isAlive, readPid, readState, stopDaemon } from '../lifecycle.js';

const MAIN = join(REPO, 'dist/src/cli/main.js');
const KUBECTL = kubectlBinary('1.32');
const SKIP =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/usr/lib/cni/ptp')
      ? 'CNI plugins missing'
      : !KUBECTL
        ? 'kubectl.1.32 not found'
        : undefined;
const CIDR_PREFIX = '10.244.211.';
const tag = `pw-c${Math.random().toString(16).slice(2, 7)}`;
const ENV = {
  ...process.env,
  PODWALL_POD_CIDR: `${CIDR_PREFIX}0/24`,
  PODWALL_NETNS_PREFIX: `${tag}-`,
  PODWALL_POD_ROUTES: '10.96.0.0/12',
  PODWALL_NODE_NAME: `${tag}-node`,
};

function cli(args: string[]) {
  return runCommand(process.execPath, [MAIN, ...args], { env: ENV, timeoutMs: 120_000 });
}

interface HostView {
  inventory: HostInventory;
  nftTable: boolean;
  ipRule: boolean;
}

describe.skipIf(SKIP !== undefined)(`podwall up is a node${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  let home: string;
  let port: number;
  let before: HostView;
  let client: KubeClient | undefined;

  const kubectl = (args: string[]) => runKubectl(KUBECTL!, { home, kubeconfig: join(home, 'kubeconfig') }, args);
  const view = async (): Promise<HostView> => {
    const s = settingsForHome(home);
    const tables = await run('nft', ['list', 'tables']);
    const rules = await run('ip', ['rule', 'show']);
    return {
      inventory: await hostInventory(tag, CIDR_PREFIX),
      nftTable: tables.stdout.split('\n').some((l) => l.trim() === `table inet ${s.table}`),
      ipRule: rules.stdout.split('\n').some((l) => l.startsWith(`${s.tproxy.pref}:`)),
    };
  };
  const pods = async () => (await client!.list<Pod>(RESOURCE_REFS.pods, { namespace: 'default' })).items;
  const running = (p: Pod) =>
    p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const connect = () => {
    client?.close();
    client = new KubeClient(loadKubeconfig({ path: join(home, 'kubeconfig') }));
  };
  const curl = (target: string) =>
    kubectl(['exec', 'tiefighter', '--', 'curl', '-s', '--max-time', '5', '-XPOST', `${target}/v1/request-landing`]);

  beforeAll(async () => {
    try {
      execFileSync(join(REPO, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'ignore' });
    } catch {
      // type errors elsewhere in the tree do not stop the emit
    }
    home = mkdtempSync(join(tmpdir(), 'pw-cliwl-'));
    port = await freePort();
    before = await view();
    expect(before.nftTable).toBe(false);
  }, 300_000);

  afterAll(async () => {
    client?.close();
    await stopDaemon(home, 5000);
    removeHome(home);
  }, 120_000);

  it('runs the demo: pods Running, a ship lands on a pod IP and through the Service name', async () => {
    const up = await cli(['up', '--home', home, '--port', String(port)]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`export KUBECONFIG=${join(home, 'kubeconfig')}`);
    connect();
    const nodes = await kubectl(['get', 'nodes', '--no-headers']);
    expect(nodes.stdout).toMatch(new RegExp(`^${tag}-node\\s+Ready\\s`));
    const apply = await kubectl(['apply', '-f', join(SEED, 'app.yaml')]);
    expect(apply.code).toBe(0);
    await waitFor(
      async () => {
        const ps = await pods();
        return ps.length === 4 && ps.every(running);
      },
      40_000,
      'demo running',
    );
    expect((await kubectl(['get', 'deploy', 'deathstar', '--no-headers'])).stdout).toMatch(
      /^deathstar\s+2\/2\s+2\s+2\s/,
    );
    const ds = (await pods()).find((p) => p.metadata.labels?.class === 'deathstar')!;
    expect((await curl(ds.status?.podIP ?? '')).stdout).toBe('Ship landed\n');
    if (readState(home)?.components.includes('enforcement')) {
      // ClusterIP load balancing and DNS through 10.96.0.10 come from the enforcement datapath.
      await waitFor(
        async () => (await curl('deathstar.default.svc.cluster.local')).stdout === 'Ship landed\n',
        20_000,
        'landing through the service name',
      );
      const svcIP = (await kubectl(['get', 'svc', 'deathstar', '-o', 'jsonpath={.spec.clusterIP}'])).stdout;
      const getent = await kubectl([
        'exec',
        'tiefighter',
        '--',
        'getent',
        'hosts',
        'deathstar.default.svc.cluster.local',
      ]);
      expect(getent.stdout.split(/\s+/)[0]).toBe(svcIP);
    }
  }, 120_000);

  it('kill -9 of the daemon keeps the pods; the next up re-adopts them with the same IPs', async () => {
    const ips = new Map((await pods()).map((p) => [p.metadata.name, p.status?.podIP]));
    const pid = readPid(home)!;
    expect(isAlive(pid)).toBe(true);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !isAlive(pid), 10_000, 'daemon dead');
    const inv = await hostInventory(tag);
    expect(inv.netns).toHaveLength(5); // 4 demo pods + coredns
    for (const ns of inv.netns) expect((await run('ip', ['netns', 'pids', ns])).stdout.trim()).not.toBe('');
    const up = await cli(['up', '--home', home, '--port', String(port)]);
    expect(up.code).toBe(0);
    connect();
    await waitFor(async () => (await pods()).every(running), 30_000, 'pods running after restart');
    for (const p of await pods()) {
      expect(p.status?.podIP).toBe(ips.get(p.metadata.name));
      for (const c of (p.status?.containerStatuses ?? []) as { restartCount: number }[]) expect(c.restartCount).toBe(0);
    }
    expect((await hostInventory(tag)).netns).toEqual(inv.netns);
    const ds = (await pods()).find((p) => p.metadata.labels?.class === 'deathstar')!;
    expect((await curl(ds.status?.podIP ?? '')).stdout).toBe('Ship landed\n');
  }, 120_000);

  it('down removes every pod netns, link, route and file: the host is as before up', async () => {
    // A pod deleted just before: the daemon must still stop on SIGTERM (no timer may keep it alive).
    const del = await kubectl(['delete', 'pod', 'xwing']);
    expect(del.stdout).toBe('pod "xwing" deleted\n');
    const netns = (await hostInventory(tag)).netns;
    const pids = (await Promise.all(netns.map((n) => run('ip', ['netns', 'pids', n])))).flatMap((r) =>
      r.stdout
        .split(/\s+/)
        .filter((x) => /^\d+$/.test(x))
        .map(Number),
    );
    expect(pids.length).toBeGreaterThanOrEqual(4);
    const down = await cli(['down', '--home', home]);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^stopped process \d+$/m);
    expect(down.stdout).not.toContain('killed process');
    expect(down.stdout).toContain('removed pod default/tiefighter');
    expect(down.stdout).toContain('podwall is down');
    expect(await view()).toEqual(before);
    // A killed pod process whose parent (the killed daemon) is gone is reaped by init, possibly a little later.
    const gone = (pid: number) => {
      if (!isAlive(pid)) return true;
      try {
        const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) === 'Z';
      } catch {
        return true;
      }
    };
    await waitFor(() => pids.every(gone), 5000, 'pod processes gone');
  }, 120_000);
});
