/**
 * The walkthrough of shared/seed/TUTORIAL.md, steps 0–5, verbatim with the real kubectl against `podwall up` (the
 * built CLI, a temp PODWALL_HOME, a free API port and a free pod CIDR): every output and exit code is checked. Then
 * `podwall observe` (the xwing drop names the policy, the 403 is an L7 DROPPED record), a policy revoke cutting an
 * established keep-alive connection, `podwall demo` on the same node, and `podwall down` leaving nothing behind.
 * Once per datapath (`PODWALL_DATAPATH`: nftables, ebpf).
 * Needs root, kubectl and the CNI plugins; skipped otherwise.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATAPATH_KINDS, settingsForHome } from '../agent/enforcement/settings.js';
import { defaultNetnsPrefix } from '../agent/workloads/config.js';
import { REPO, SEED } from '../apiserver/e2e/harness.js';
import type { FlowResponse } from '../observer/flow.js';
import { fetchObserverStatus } from '../observer/server.js';
import { freePort, runCommand } from '../testing/process.js';

const MAIN = join(REPO, 'dist/src/cli/main.js');

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const live = process.getuid?.() === 0 && has('kubectl', ['version', '--client']) && existsSync('/usr/lib/cni/ptp');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Run> {
  return runCommand(cmd, args, { env, timeoutMs });
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' });
  } catch {
    return '';
  }
}

function pickPodCidr(): string {
  const routes = sh('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (let i = 0; i < 100; i++) {
    const x = 200 + Math.floor(Math.random() * 50);
    if (!routes.includes(`10.${x}.`)) return `10.${x}.0.0/16`;
  }
  throw new Error('no free 10.2xx.0.0/16');
}

/** Everything of the kinds podwall creates on the host, one line per object. */
function hostSnapshot(): Record<string, string[]> {
  const lines = (s: string) =>
    s
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  return {
    tables: lines(sh('nft', ['list', 'tables'])),
    rules: lines(sh('ip', ['-4', 'rule', 'show'])),
    routes: lines(sh('ip', ['-4', 'route', 'show', 'table', 'all'])),
    netns: lines(sh('ip', ['netns', 'list'])).map((l) => l.split(' ')[0]!),
    links: lines(sh('ip', ['-o', 'link', 'show'])).map((l) => l.split(': ')[1]!.split('@')[0]!),
    mounts: lines(readFileSync('/proc/mounts', 'utf8')).map((l) => l.split(' ')[1]!),
  };
}

const PANIC = `Panic: deathstar exploded

goroutine 1 [running]:
main.HandleGarbage(0x2080c3f50, 0x2, 0x4, 0x425c0, 0x5, 0xa)
        /code/src/github.com/empire/deathstar/
        temp/main.go:9 +0x64
main.main()
        /code/src/github.com/empire/deathstar/
        temp/main.go:5 +0x85
`;

const KEEPALIVE_CLIENT = `
const http = require('http');
const fs = require('fs');
const [host, trigger] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function req() {
  return new Promise((resolve) => {
    const q = http.request({ host, port: 80, method: 'POST', path: '/v1/request-landing', agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ ok: true, body, reused: q.reusedSocket }));
    });
    q.setTimeout(3000, () => q.destroy(new Error('timeout')));
    q.on('error', (e) => resolve({ ok: false, error: e.message, reused: q.reusedSocket }));
    q.end();
  });
}
(async () => {
  console.log(JSON.stringify(await req()));
  console.log(JSON.stringify(await req()));
  while (!fs.existsSync(trigger)) await new Promise((r) => setTimeout(r, 20));
  console.log(JSON.stringify(await req()));
  process.exit(0);
})();
`;

describe.skipIf(!live).each(DATAPATH_KINDS)(
  'walkthrough (%s datapath): TUTORIAL.md with podwall up and the real kubectl',
  (datapath) => {
    let home = '';
    let env: NodeJS.ProcessEnv = {};
    let podCidr = '';
    let before: Record<string, string[]> = {};
    const ourLinks = new Set<string>();
    let downDone = false;
    const t0 = Date.now();

    const podwall = (args: string[], timeoutMs?: number) =>
      run(process.execPath, [MAIN, ...args, '--home', home], env, timeoutMs);
    const kubectl = (args: string[]) => run('kubectl', args, env);
    const seed = (f: string) => join(SEED, f);
    const landing = (ship: string, extra: string[] = []) =>
      kubectl([
        'exec',
        ship,
        '--',
        'curl',
        '-s',
        ...extra,
        '-XPOST',
        'deathstar.default.svc.cluster.local/v1/request-landing',
      ]);
    const exhaust = (extra: string[] = []) =>
      kubectl([
        'exec',
        'tiefighter',
        '--',
        'curl',
        '-s',
        ...extra,
        '-XPUT',
        'deathstar.default.svc.cluster.local/v1/exhaust-port',
      ]);

    /** The node's enforcement revision; `settled(r)`: an apply happened after `r` and nothing is pending. */
    const revision = async () => Number((await fetchObserverStatus(join(home, 'run', 'observer.sock'))).revision);
    const settled = async (after: number) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const st = await fetchObserverStatus(join(home, 'run', 'observer.sock'));
        if (Number(st.revision) > after && st.pending === false) return;
        if (Date.now() > deadline) throw new Error(`enforcement did not settle: ${JSON.stringify(st)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    /** `kubectl <args>` that changes policy, then wait until the node enforces it. */
    const kubectlPolicy = async (args: string[]) => {
      const r0 = await revision();
      const r = await kubectl(args);
      if (r.code === 0) await settled(r0);
      return r;
    };

    /** Host veths of our pods (route to a pod IP of our CIDR), remembered for the leak check. */
    const rememberLinks = () => {
      const prefix = podCidr.split('.').slice(0, 2).join('.');
      for (const l of sh('ip', ['-4', 'route', 'show']).split('\n')) {
        const m = new RegExp(`^${prefix.replace('.', '\\.')}\\.\\d+\\.\\d+ dev (\\S+)`).exec(l);
        if (m) ourLinks.add(m[1]!);
      }
    };

    beforeAll(async () => {
      // The CLI runs from dist/ (tsc emits even when files elsewhere in the tree have type errors).
      try {
        execFileSync(join(REPO, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
          cwd: REPO,
          stdio: 'ignore',
        });
      } catch {
        // emitted anyway
      }
      before = hostSnapshot();
      home = mkdtempSync(join(tmpdir(), 'pw-e2e-walk-'));
      podCidr = pickPodCidr();
      env = {
        PATH: process.env.PATH ?? '',
        HOME: join(home, 'user-home'),
        PODWALL_HOME: home,
        PODWALL_POD_CIDR: podCidr,
        KUBECONFIG: join(home, 'kubeconfig'),
        PODWALL_DATAPATH: datapath,
      };
    }, 180_000);

    afterAll(async () => {
      if (home && !downDone) await podwall(['down', '--purge']);
      if (home) rmSync(home, { recursive: true, force: true });
    }, 120_000);

    it('step 0: podwall up prints the KUBECONFIG; kubectl apply -f app.yaml; the pods run', async () => {
      const port = await freePort();
      const up = await podwall(['up', '--port', String(port)], 120_000);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toContain(`export KUBECONFIG=${join(home, 'kubeconfig')}`);
      const apply = await kubectl(['apply', '-f', seed('app.yaml')]);
      expect(apply.code, apply.stderr).toBe(0);
      expect(apply.stdout).toBe(
        'service/deathstar created\ndeployment.apps/deathstar created\npod/tiefighter created\npod/xwing created\n',
      );
      const wait = await kubectl(['wait', '--for=condition=Ready', 'pod', '--all', '--timeout=120s']);
      expect(wait.code, wait.stderr).toBe(0);
      const pods = await kubectl([
        'get',
        'pods',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{"\\n"}{end}',
      ]);
      const lines = pods.stdout.trim().split('\n');
      expect(lines).toHaveLength(4);
      for (const l of lines)
        expect(l).toMatch(
          new RegExp(`^(deathstar-\\S+|tiefighter|xwing) ${podCidr.split('.').slice(0, 2).join('\\.')}\\.`),
        );
      rememberLinks();
    }, 240_000);

    it('step 1: no policy, both ships land', async () => {
      for (const ship of ['tiefighter', 'xwing']) {
        const r = await landing(ship);
        expect(r, ship).toMatchObject({ code: 0, stdout: 'Ship landed\n' });
      }
    }, 60_000);

    it('step 2: NetworkPolicy: tiefighter lands, xwing times out (exit 28)', async () => {
      const apply = await kubectlPolicy(['apply', '-f', seed('native/networkpolicy.yaml')]);
      expect(apply).toMatchObject({ code: 0, stdout: 'networkpolicy.networking.k8s.io/policy created\n' });
      expect(await landing('tiefighter')).toMatchObject({ code: 0, stdout: 'Ship landed\n' });
      const x = await landing('xwing', ['--connect-timeout', '2']);
      expect(x).toMatchObject({ code: 28, stdout: '' });
    }, 60_000);

    it('step 3: the exhaust port panics the deathstar, whose container restarts', async () => {
      const r = await exhaust();
      expect(r).toMatchObject({ code: 0, stdout: PANIC });
      let restarts = 0;
      const deadline = Date.now() + 20_000;
      while (restarts < 1 && Date.now() < deadline) {
        const g = await kubectl([
          'get',
          'pods',
          '-l',
          'class=deathstar',
          '-o',
          'jsonpath={.items[*].status.containerStatuses[0].restartCount}',
        ]);
        restarts = Math.max(0, ...g.stdout.trim().split(/\s+/).map(Number));
        if (restarts < 1) await new Promise((res) => setTimeout(res, 250));
      }
      expect(restarts).toBe(1);
      const table = await kubectl(['get', 'pods', '-l', 'class=deathstar']);
      expect(table.stdout).toMatch(/deathstar-\S+\s+\S+\s+\S+\s+1 \(\S+ ago\)/);
      const wait = await kubectl(['wait', '--for=condition=Ready', 'pod', '-l', 'class=deathstar', '--timeout=60s']);
      expect(wait.code, wait.stderr).toBe(0);
    }, 120_000);

    it('step 4: CiliumNetworkPolicy L3/L4 after deleting the NetworkPolicy', async () => {
      const del = await kubectlPolicy(['delete', '-f', seed('native/networkpolicy.yaml')]);
      expect(del).toMatchObject({ code: 0, stdout: 'networkpolicy.networking.k8s.io "policy" deleted\n' });
      const apply = await kubectlPolicy(['apply', '-f', seed('cilium/networkpolicy-L4.yaml')]);
      expect(apply).toMatchObject({ code: 0, stdout: 'ciliumnetworkpolicy.cilium.io/rule1 created\n' });
      expect(await landing('tiefighter')).toMatchObject({ code: 0, stdout: 'Ship landed\n' });
      expect(await landing('xwing', ['--connect-timeout', '2'])).toMatchObject({ code: 28, stdout: '' });
    }, 60_000);

    it('step 5: CiliumNetworkPolicy L7: PUT exhaust-port → 403 Access denied, POST lands, xwing still dropped', async () => {
      const apply = await kubectlPolicy(['apply', '-f', seed('cilium/networkpolicy-L7.yaml')]);
      expect(apply).toMatchObject({ code: 0, stdout: 'ciliumnetworkpolicy.cilium.io/rule1 configured\n' });
      expect(await exhaust()).toMatchObject({ code: 0, stdout: 'Access denied\r\n' });
      const status = await exhaust(['-o', '/dev/null', '-w', '%{http_code}']);
      expect(status).toMatchObject({ code: 0, stdout: '403' });
      expect(await landing('tiefighter')).toMatchObject({ code: 0, stdout: 'Ship landed\n' });
      expect(await landing('xwing', ['--connect-timeout', '2'])).toMatchObject({ code: 28, stdout: '' });
      // The deathstar survived: the denied request never reached it.
      const g = await kubectl([
        'get',
        'pods',
        '-l',
        'class=deathstar',
        '-o',
        'jsonpath={.items[*].status.containerStatuses[0].restartCount}',
      ]);
      expect(g.stdout.trim().split(/\s+/).map(Number).sort()).toEqual([0, 1]);
    }, 60_000);

    it('podwall observe: the xwing drop names the policy; the 403 is an L7 DROPPED record', async () => {
      const drops = await podwall([
        'observe',
        '--verdict',
        'DROPPED',
        '--from-pod',
        'xwing',
        '--type',
        'policy-verdict',
        '--last',
        '100',
        '--print-policy-names',
      ]);
      expect(drops.code, drops.stderr).toBe(0);
      const lines = drops.stdout.trim().split('\n');
      const pv =
        /^\w{3} [ \d]\d \d\d:\d\d:\d\d\.\d{3}: default\/xwing:\d+ \(ID:\d+\) -> default\/deathstar-\S+:80 \(ID:\d+\) policy-verdict:none INGRESS DENIED \(TCP Flags: SYN\) DENIED BY (\S+ \S+)$/;
      for (const l of lines) expect(l).toMatch(pv);
      const by = new Set(lines.map((l) => pv.exec(l)![1]));
      // Step 2 was dropped by the NetworkPolicy, steps 4 and 5 by rule1 — each drop names the policy of its time.
      expect([...by].sort()).toEqual(['CiliumNetworkPolicy default/rule1', 'NetworkPolicy default/policy']);

      const l7 = await podwall(['observe', '--protocol', 'http', '--http-status', '403', '-o', 'json', '--last', '10']);
      expect(l7.code, l7.stderr).toBe(0);
      const recs = l7.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as FlowResponse);
      expect(recs.length).toBeGreaterThanOrEqual(2);
      for (const r of recs) {
        expect(r.flow).toMatchObject({
          verdict: 'DROPPED',
          Type: 'L7',
          event_type: { type: 129 },
          traffic_direction: 'INGRESS',
          source: { namespace: 'default', pod_name: 'tiefighter' },
          l7: {
            type: 'REQUEST',
            http: { code: 403, method: 'PUT', url: 'http://deathstar.default.svc.cluster.local/v1/exhaust-port' },
          },
          ingress_denied_by: [{ name: 'rule1', namespace: 'default', kind: 'CiliumNetworkPolicy' }],
        });
      }
      const compact = await podwall(['observe', '--type', 'l7', '--verdict', 'DROPPED', '--last', '1']);
      expect(compact.stdout.trim()).toMatch(
        /: default\/tiefighter:\d+ \(ID:\d+\) -> default\/deathstar-\S+:80 \(ID:\d+\) http-request DROPPED \(HTTP\/1\.1 PUT http:\/\/deathstar\.default\.svc\.cluster\.local\/v1\/exhaust-port\)$/,
      );
      const landed = await podwall([
        'observe',
        '--protocol',
        'http',
        '--verdict',
        'FORWARDED',
        '--last',
        '2',
        '--print-policy-names',
      ]);
      expect(landed.stdout).toMatch(
        /http-request FORWARDED \(HTTP\/1\.1 POST http:\/\/deathstar\.default\.svc\.cluster\.local\/v1\/request-landing\) ALLOWED BY CiliumNetworkPolicy default\/rule1/,
      );
      expect(landed.stdout).toMatch(
        /<- default\/deathstar-\S+:80 \(ID:\d+\) http-response FORWARDED \(HTTP\/1\.1 200 \d+ms \(POST /,
      );
    }, 60_000);

    it('revoke: an established keep-alive connection is cut when a policy starts denying it', async () => {
      const del = await kubectlPolicy(['delete', '-f', seed('cilium/networkpolicy-L7.yaml')]);
      expect(del.code, del.stderr).toBe(0);
      const trigger = join(home, 'revoke-now');
      const child: ChildProcess = spawn(
        'kubectl',
        [
          'exec',
          'xwing',
          '--',
          '/usr/bin/node',
          '-e',
          KEEPALIVE_CLIENT,
          'deathstar.default.svc.cluster.local',
          trigger,
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
      });
      const exited = new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)));
      const deadline = Date.now() + 20_000;
      while (out.split('\n').filter(Boolean).length < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      const [r1, r2] = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(r1).toMatchObject({ ok: true, body: 'Ship landed\n' });
      expect(r2).toMatchObject({ ok: true, body: 'Ship landed\n', reused: true });
      const apply = await kubectlPolicy(['apply', '-f', seed('native/networkpolicy.yaml')]);
      expect(apply.code, apply.stderr).toBe(0);
      writeFileSync(trigger, '');
      expect(await exited).toBe(0);
      const r3 = JSON.parse(out.trim().split('\n')[2]!);
      // Same socket as before (not a new connection), and it no longer gets through.
      expect(r3).toMatchObject({ ok: false, error: 'timeout', reused: true });
      await kubectlPolicy(['delete', '-f', seed('native/networkpolicy.yaml')]);
    }, 60_000);

    it('podwall demo runs the same walkthrough on the running node and cleans up after itself', async () => {
      // Start from the tutorial's initial state: the demo applies app.yaml itself.
      await kubectl(['delete', '-f', seed('app.yaml'), '--wait=true']);
      const r = await podwall(['demo', '--seed', SEED], 300_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('podwall is already running');
      expect(r.stdout).toContain(
        '$ kubectl exec xwing -- curl -s --connect-timeout 2 -XPOST deathstar.default.svc.cluster.local/v1/request-landing',
      );
      expect(r.stdout).toMatch(/\(exit code 28: no answer, the packets were dropped\)/);
      expect(r.stdout).toContain('Panic: deathstar exploded');
      expect(r.stdout).toContain('Access denied');
      expect(r.stdout).toMatch(
        /policy-verdict:none INGRESS DENIED \(TCP Flags: SYN\) DENIED BY NetworkPolicy default\/policy/,
      );
      expect(r.stdout).toMatch(
        /http-request DROPPED \(HTTP\/1\.1 PUT http:\/\/deathstar\.default\.svc\.cluster\.local\/v1\/exhaust-port\) DENIED BY CiliumNetworkPolicy default\/rule1/,
      );
      expect(r.stdout).toMatch(/Verdict: DENIED \(L3\/L4: packets dropped\)/);
      expect(r.stdout).toMatch(/Verdict: DENIED \(L7: HTTP 403 "Access denied"\)/);
      const left = await kubectl(['get', 'pods,ciliumnetworkpolicies,networkpolicies', '-n', 'default', '-o', 'name']);
      expect(left.stdout.trim()).toBe('');
    }, 360_000);

    it('podwall down leaves no nft table, bpffs, ip rule, route, netns or link behind', async () => {
      rememberLinks();
      const settings = settingsForHome(home, datapath);
      const bpffs = join(home, 'enforcement', 'bpf');
      const during = hostSnapshot();
      if (datapath === 'nftables') expect(during.tables).toContain(`table inet ${settings.table}`);
      else {
        expect(during.tables.filter((l) => l.includes(settings.table))).toEqual([]);
        expect(during.mounts).toContain(bpffs);
      }
      const down = await podwall(['down', '--purge'], 120_000);
      downDone = true;
      expect(down.code, down.stderr).toBe(0);
      if (datapath === 'nftables') expect(down.stdout).toContain(`removed nft table inet ${settings.table}`);
      const after = hostSnapshot();
      const added = (k: string) => after[k]!.filter((l) => !before[k]!.includes(l));
      const cidr = podCidr.split('.').slice(0, 2).join('.');
      const netnsPrefix = defaultNetnsPrefix(home);
      // Only objects attributable to this run are checked: other processes on the machine may add their own.
      expect(added('tables').filter((l) => l.includes(settings.table))).toEqual([]);
      expect(after.mounts.filter((m) => m.startsWith(home))).toEqual([]);
      expect(
        added('rules').filter(
          (l) => l.startsWith(`${settings.tproxy.pref}:`) || l.includes(`lookup ${settings.tproxy.table}`),
        ),
      ).toEqual([]);
      expect(
        added('routes').filter((l) => l.includes(`${cidr}.`) || l.includes(`table ${settings.tproxy.table}`)),
      ).toEqual([]);
      expect(added('netns').filter((n) => n.startsWith(netnsPrefix))).toEqual([]);
      expect(ourLinks.size).toBeGreaterThan(0);
      expect(after.links.filter((l) => ourLinks.has(l))).toEqual([]);
      console.log(`[walkthrough] total runtime ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }, 120_000);
  },
);
