/**
 * Crash recovery: `kill -9` of a process writing to the store, and of the running daemon under load, loses no
 * acknowledged write, leaves a database that opens (integrity_check ok), keeps resourceVersions increasing, and
 * lets watches resume from a pre-crash resourceVersion; kubectl sees the same objects after the restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../api/types.js';
import { KubeClient, loadKubeconfig } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { SqliteStore } from '../storage.js';
import { kubectlBinary, REPO, removeHome, runKubectl, waitFor } from './harness.js';

const VITE_NODE = join(REPO, 'node_modules/.bin/vite-node');
const FIXTURES = join(REPO, 'src/apiserver/e2e/fixtures');

function startChild(script: string, args: string[]): { child: ChildProcess; lines: string[] } {
  const child = spawn(VITE_NODE, [join(FIXTURES, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
  const lines: string[] = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', () => {});
  return { child, lines };
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function pod(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  };
}

describe('crash recovery', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.reverse()) await f();
    cleanup.length = 0;
  });

  it('kill -9 of a writer loses no acknowledged write and the store reopens with increasing resourceVersions', async () => {
    const home = mkdtempSync(join(tmpdir(), 'pw-crash-'));
    cleanup.push(() => removeHome(home));
    const db = join(home, 'state.db');
    for (let round = 0; round < 2; round++) {
      const { child, lines } = startChild('store-writer.ts', [db, `r${round}-`]);
      cleanup.push(() => killHard(child));
      const target = 150 + Math.floor(Math.random() * 200);
      await waitFor(() => lines.filter((l) => l.startsWith('ack')).length >= target, 30_000, 'acknowledged writes');
      await killHard(child);
      const acked = lines.filter((l) => l.startsWith('ack ')).map((l) => l.split(' '));
      const check = new Database(db);
      expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
      check.close();
      const store = new SqliteStore({ path: db });
      for (const [, name, rv] of acked) {
        const o = store.get('pods', 'default', name);
        expect(o, `acknowledged ${name} survives`).toBeDefined();
        expect(Number(o?.metadata.resourceVersion)).toBe(Number(rv));
      }
      const maxAcked = Math.max(...acked.map((a) => Number(a[2])));
      expect(store.currentRV()).toBeGreaterThanOrEqual(maxAcked);
      const next = store.put('pods', pod(`after-crash-${round}`), 'ADDED', 0);
      expect(next.ok && Number(next.object.metadata.resourceVersion)).toBeGreaterThan(maxAcked);
      store.close();
    }
  }, 90_000);

  it('kill -9 of the daemon under load: acknowledged objects survive, watches resume, kubectl sees them', async () => {
    const home = mkdtempSync(join(tmpdir(), 'pw-daemon-'));
    cleanup.push(() => removeHome(home));
    const port = await freePort();
    let d = startChild('daemon-child.ts', [home, String(port)]);
    cleanup.push(() => killHard(d.child));
    await waitFor(() => d.lines.some((l) => l.startsWith('ready')), 60_000, 'daemon ready');
    const client = new KubeClient(loadKubeconfig({ path: join(home, 'kubeconfig') }));
    cleanup.push(() => client.close());
    const list0 = await client.list(RESOURCE_REFS.pods, { namespace: 'default' });
    const rvBefore = Number(list0.metadata.resourceVersion);

    // Write in a loop; the daemon is killed mid-way. Everything acknowledged must be there afterwards.
    const acked: string[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await client.create(RESOURCE_REFS.pods, pod(`w${i}`));
          acked.push(`w${i}`);
        } catch {
          return;
        }
      }
    })();
    await waitFor(() => acked.length >= 40, 30_000, 'writes');
    await killHard(d.child);
    stop = true;
    await writer;

    d = startChild('daemon-child.ts', [home, String(port)]);
    cleanup.push(() => killHard(d.child));
    await waitFor(() => d.lines.some((l) => l.startsWith('ready')), 60_000, 'daemon ready again');
    const after = await client.listAll(RESOURCE_REFS.pods, { namespace: 'default' });
    const names = new Set(after.items.map((o) => o.metadata.name));
    for (const n of acked) expect(names.has(n), `${n} survives`).toBe(true);
    // A watch from the pre-crash resourceVersion resumes (history kept) and replays the writes.
    const seen: string[] = [];
    const h = client.watch<KubeObject>(
      RESOURCE_REFS.pods,
      { namespace: 'default', resourceVersion: String(rvBefore), timeoutSeconds: 2 },
      (ev) => {
        if (ev.type === 'ADDED') seen.push(ev.object.metadata.name ?? '');
      },
    );
    await h.done;
    for (const n of acked) expect(seen).toContain(n);
    // resourceVersions keep increasing across the restart.
    const created = await client.create(RESOURCE_REFS.pods, pod('after-restart'));
    expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(Number(after.metadata.resourceVersion) - 1);
    const bin = kubectlBinary('1.32');
    if (bin) {
      const r = await runKubectl(bin, { home, kubeconfig: join(home, 'kubeconfig') }, [
        'get',
        'pod',
        'after-restart',
        acked[0],
        '-o',
        'name',
      ]);
      expect(r.stdout).toBe(`pod/after-restart\npod/${acked[0]}\n`);
    }
  }, 120_000);
});
