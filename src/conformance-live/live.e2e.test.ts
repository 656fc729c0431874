/**
 * Root end-to-end test of the live conformance path: a real node (daemon in-process with the workload and
 * enforcement components, a private home, test pod CIDR and netns prefix) and a handful of shared Kubernetes
 * NetworkPolicy cases probed live through the API (exec `agnhost connect` in the pods): 003 (ingress podSelector),
 * 026 (egress deny), 034 (egress ipBlock with a live pod IP), 063 (legacy inline topology, egress named port).
 * Skipped when not root, without the CNI plugins or nft, or when the node cannot start. Afterwards the host has
 * exactly the pw- objects it had before.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, startDaemon } from '../agent/daemon.js';
import { createEnforcementComponent, settingsForHome } from '../agent/enforcement/index.js';
import { HOST_CLEANERS } from '../agent/lifecycle.js';
import { workloadComponents } from '../agent/workloads/index.js';
import { removeHome } from '../apiserver/e2e/harness.js';
import { bundlePrograms } from '../images/bundle-programs.js';
import { KubeClient, loadKubeconfig } from '../kube/client.js';
import type { K8sCase, K8sModel } from '../policy/conformance/k8s.js';
import { type HostInventory, hostInventory } from '../runtime/inventory.js';
import { loadSharedYaml, sharedPath } from '../testing/shared.js';
import { kubeLiveApi } from './api.js';
import { runK8sLive } from './k8s.js';

const hasNft = (() => {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const SKIP =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync('/usr/lib/cni/ptp')
      ? 'CNI plugins missing'
      : !hasNft
        ? 'nft missing'
        : undefined;

const CASES = ['003', '026', '034', '063'];
const tag = `pw-c${Math.random().toString(16).slice(2, 6)}`;
const third = 100 + Math.floor(Math.random() * 40);
const CIDR = `10.244.${third}.0/24`;
const CIDR_PREFIX = `10.244.${third}.`;

const model = loadSharedYaml<K8sModel>('conformance/k8s-netpol/model.yaml');
const files = readdirSync(sharedPath('conformance/k8s-netpol/cases'));
const load = (id: string) =>
  loadSharedYaml<K8sCase>(`conformance/k8s-netpol/cases/${files.find((f) => f.startsWith(`${id}-`))!}`);

describe.skipIf(SKIP !== undefined)(`live conformance on a real node${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  let home = '';
  let programDir = '';
  let daemon: Daemon | undefined;
  let client: KubeClient | undefined;
  let before: HostInventory | undefined;
  let notStarted: string | undefined;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'pw-live-'));
    programDir = await bundlePrograms(join(home, 'programs'));
    before = await hostInventory(tag, CIDR_PREFIX);
    try {
      daemon = await startDaemon({
        home,
        foreground: true,
        port: 0,
        components: [
          ...workloadComponents({
            node: {
              nodeName: `${tag}-node`,
              podCIDR: CIDR,
              netnsPrefix: `${tag}-`,
              podRoutes: ['10.96.0.0/12'],
              programDir,
            },
            clusterDns: false,
          }),
          createEnforcementComponent({ teardownOnStop: true, nflog: false, observerSocket: false }),
        ],
      });
      client = new KubeClient(loadKubeconfig({ path: join(home, 'kubeconfig') }));
    } catch (e) {
      notStarted = (e as Error).message;
    }
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    client?.close();
    for (const c of HOST_CLEANERS) await c.clean(home).catch(() => []);
    const after = await hostInventory(tag, CIDR_PREFIX);
    const tables = execFileSync('nft', ['list', 'tables']).toString();
    removeHome(home);
    expect(after).toEqual(before);
    expect(tables).not.toContain(settingsForHome(home).table);
  }, 120_000);

  it(`runs cases ${CASES.join(', ')} live: every judged pair as expected, nothing left behind`, async (ctx) => {
    if (notStarted || !client) ctx.skip(`the node did not start: ${notStarted}`);
    const api = kubeLiveApi(client!);
    const lines: string[] = [];
    const r = await runK8sLive(CASES.map(load), model, { api, programDir, log: (l) => lines.push(l) });
    if (r.failures.length) console.log(lines.join('\n'));
    expect(r.failures).toEqual([]);
    expect(r.cases).toEqual({ total: 4, passed: 4, failed: 0, skipped: 0 });
    expect(r.checks.passed).toBe(72 * 3 + 4);
    // Our namespaces are gone.
    const ns = await client!.list({ group: '', version: 'v1', resource: 'namespaces', namespaced: false });
    expect(ns.items.map((n) => n.metadata.name)).not.toContain('x');
    expect(ns.items.map((n) => n.metadata.name)).not.toContain('a');
  }, 180_000);
});
