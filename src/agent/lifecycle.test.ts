/**
 * `podwall up` / `status` / `down` as a user runs them: the built CLI (`node dist/src/cli/main.js`) forks the
 * daemon, kubectl works with the printed KUBECONFIG, a second `up` is a no-op, `down` leaves the host exactly as
 * before (processes, runtime files, listening port), objects survive `down`/`up`, and `down --purge` removes them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlBinary, REPO, removeHome, runKubectl } from '../apiserver/e2e/harness.js';
import { freePort, runCommand } from '../testing/process.js';
import { findDaemonProcesses, hostState, stopDaemon } from './lifecycle.js';

const MAIN = join(REPO, 'dist/src/cli/main.js');
// issue 5 (workloads): `up` runs a node; keep its pods on a test CIDR with a test netns prefix, routed to cluster ranges only.
const NODE_ENV = {
  ...process.env,
  PODWALL_POD_CIDR: '10.244.212.0/24',
  PODWALL_NETNS_PREFIX: `pw-l${Math.random().toString(16).slice(2, 6)}-`,
  PODWALL_POD_ROUTES: '10.96.0.0/12',
};

function cli(args: string[]) {
  return runCommand(process.execPath, [MAIN, ...args], { env: NODE_ENV, timeoutMs: 90_000 });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('podwall up / status / down', () => {
  let home: string;
  let port: number;

  beforeAll(() => {
    // The CLI runs from dist/: build it (tsc emits even when files elsewhere in the tree have type errors).
    try {
      execFileSync(join(REPO, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'ignore' });
    } catch {
      // type errors elsewhere do not stop the emit
    }
    home = mkdtempSync(join(tmpdir(), 'pw-cli-'));
  }, 300_000);

  afterAll(async () => {
    await stopDaemon(home, 5000);
    removeHome(home);
  });

  it('starts, is idempotent, reports status, and down leaves the host as it was', async () => {
    expect(existsSync(MAIN)).toBe(true);
    port = await freePort();
    const before = { ...hostState(home), listening: await portOpen(port) };
    expect(before).toEqual({ processes: [], runtimeFiles: [], listening: false });

    const up = await cli(['up', '--home', home, '--port', String(port)]);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`export KUBECONFIG=${join(home, 'kubeconfig')}`);
    const during = hostState(home);
    expect(during.processes).toHaveLength(1);
    // issue 5/6: agent components may add runtime files (the enforcement's run/observer.sock); down removes run/.
    expect(during.runtimeFiles).toEqual(
      expect.arrayContaining([join(home, 'run/daemon.json'), join(home, 'run/podwall.pid')]),
    );
    expect(await portOpen(port)).toBe(true);

    const again = await cli(['up', '--home', home]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('podwall is already running');
    expect(hostState(home).processes).toEqual(during.processes);

    const bin = kubectlBinary('1.32');
    if (bin) {
      const r = await runKubectl(
        bin,
        { home, kubeconfig: join(home, 'kubeconfig') },
        ['apply', '-f', '-'],
        'apiVersion: v1\nkind: Pod\nmetadata:\n  name: keep-me\nspec:\n  containers: [{name: c, image: busybox}]\n',
      );
      expect(r.stdout).toBe('pod/keep-me created\n');
    }

    const st = await cli(['status', '--home', home, '-o', 'json']);
    expect(st.code).toBe(0);
    const report = JSON.parse(st.stdout);
    expect(report.running).toBe(true);
    expect(report.versions.kubernetes).toMatch(/^v1\.32\./);
    expect(report.counts.namespaces).toBe(4);
    // issue 5/6: the agent components (node, controllers, DNS, enforcement) follow daemon, apiserver and store.
    expect(report.components.slice(0, 3).map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ['daemon', true],
      ['apiserver', true],
      ['store', true],
    ]);
    expect(report.components.every((c: { ok: boolean }) => c.ok)).toBe(true);
    const text = await cli(['status', '--home', home]);
    expect(text.stdout).toMatch(/^apiserver:\s+OK/m);
    expect(text.stdout).toMatch(/^uptime:\s+\d+/m);

    const down = await cli(['down', '--home', home]);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('podwall is down');
    expect({ ...hostState(home), listening: await portOpen(port) }).toEqual(before);
    const st2 = await cli(['status', '--home', home]);
    expect(st2.code).toBe(1);
    expect(st2.stdout).toMatch(/^daemon:\s+error\s+not running/m);
  }, 120_000);

  it('keeps objects across down/up and removes them with down --purge', async () => {
    const bin = kubectlBinary('1.32');
    expect((await cli(['up', '--home', home, '--port', String(port)])).code).toBe(0);
    if (bin) {
      const r = await runKubectl(bin, { home, kubeconfig: join(home, 'kubeconfig') }, [
        'get',
        'pod',
        'keep-me',
        '-o',
        'name',
      ]);
      expect(r.stdout).toBe('pod/keep-me\n');
    }
    const purge = await cli(['down', '--home', home, '--purge']);
    expect(purge.stdout).toContain(`removed ${join(home, 'state.db')}`);
    expect(existsSync(join(home, 'state.db'))).toBe(false);
    // Nothing podwall wrote stays in its home: the store, certificates, logs and every component's state.
    expect(readdirSync(home).filter((f) => f !== 'kubectl-home')).toEqual([]); // kubectl-home: this test's kubectl cache
    expect(hostState(home)).toEqual({ processes: [], runtimeFiles: [] });
    expect(await portOpen(port)).toBe(false);
  }, 120_000);
});

describe('findDaemonProcesses', () => {
  it('does not count a child caught between fork and exec (it shows the daemon command line) as a daemon', async () => {
    const home = `/var/tmp/pw-fdp-${Math.random().toString(16).slice(2, 8)}`;
    const argv = ['up', '--foreground', '--home', home];
    // A stand-in daemon whose child keeps the very same command line (as a fork does before exec).
    const code = `const { spawn } = require('node:child_process');
      spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', ...process.argv.slice(1)], { stdio: 'inherit' });
      setTimeout(() => {}, 30000);`;
    const parent = spawn(process.execPath, ['-e', code, ...argv], { stdio: 'ignore' });
    try {
      let all: number[] = [];
      for (let i = 0; i < 100 && all.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        all = allWithCommandLine(argv);
      }
      expect(all).toHaveLength(2);
      expect(findDaemonProcesses(home)).toEqual([parent.pid]);
    } finally {
      for (const pid of allWithCommandLine(argv)) process.kill(pid, 'SIGKILL');
    }
  });
});

function allWithCommandLine(argv: string[]): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv.every((a, i) => cmd[cmd.length - 1 - argv.length + i] === a)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}
