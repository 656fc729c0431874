/**
 * Crash recovery with a real `kill -9`: a separate daemon process (this runtime, bundled) starts pods and is
 * SIGKILLed; a new runtime in this process finds everything through the state file, re-adopts the pod it is told
 * about (same netns, same IP, same container process) and removes the other. Root only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePrograms } from '../images/bundle-programs.js';
import { type HostInventory, hostInventory } from './inventory.js';
import { PodRuntime } from './pod-runtime.js';
import type { RunPodSpec } from './types.js';

const ROOT_SKIP =
  process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/lib/cni/ptp') ? '/usr/lib/cni/ptp is missing' : undefined;
const CIDR = '10.244.201.';
const tag = `pw-t${Math.random().toString(16).slice(2, 8)}`;

const DRIVER = `
import { PodRuntime } from ${JSON.stringify(fileURLToPath(new URL('./pod-runtime.ts', import.meta.url)))};
const [home, programDir, prefix, cidr, specsJson] = process.argv.slice(2);
const rt = await PodRuntime.open({ home, programDir, netnsPrefix: prefix, podCIDR: cidr, podRoutes: [cidr] });
const out = [];
for (const spec of JSON.parse(specsJson)) out.push(await rt.runPod(spec));
const wait = () => new Promise((r) => setTimeout(r, 50));
while (rt.list().some((p) => rt.status(p.uid)?.phase !== 'Running')) await wait();
process.stdout.write(JSON.stringify(out) + '\\n');
setInterval(() => {}, 1 << 30);
`;

describe.skipIf(ROOT_SKIP !== undefined)(
  `crash recovery after kill -9${ROOT_SKIP ? ` (skipped: ${ROOT_SKIP})` : ''}`,
  () => {
    let home: string;
    let programDir: string;
    let before: HostInventory;
    let rt: PodRuntime | undefined;
    let daemon: ChildProcess | undefined;

    beforeAll(async () => {
      home = await mkdtemp(join(tmpdir(), 'pw-crash-'));
      programDir = await bundlePrograms(join(home, 'programs'));
      before = await hostInventory(tag, CIDR);
      const esbuild = await import('esbuild');
      await esbuild.build({
        stdin: { contents: DRIVER, resolveDir: fileURLToPath(new URL('.', import.meta.url)), loader: 'ts' },
        outfile: join(home, 'daemon.mjs'),
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        logLevel: 'silent',
        banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
      });
    });

    afterAll(async () => {
      if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
      await rt?.shutdown({ gracePeriodSeconds: 1 });
      const after = await hostInventory(tag, CIDR);
      await rm(home, { recursive: true, force: true });
      expect(after).toEqual(before);
    });

    it('re-adopts the known pod with its IP and process, removes the unknown one, leaks nothing', {
      timeout: 60_000,
    }, async () => {
      const keep: RunPodSpec = {
        uid: randomUUID(),
        namespace: 'default',
        name: 'deathstar',
        containers: [{ name: 'd', image: 'cilium/starwars' }],
      };
      const drop: RunPodSpec = {
        uid: randomUUID(),
        namespace: 'default',
        name: 'xwing',
        containers: [{ name: 's', image: 'tgraf/netperf' }],
      };
      await writeFile(join(home, 'specs.json'), JSON.stringify([keep, drop]));
      daemon = spawn(
        process.execPath,
        [join(home, 'daemon.mjs'), home, programDir, `${tag}-`, `${CIDR}0/24`, JSON.stringify([keep, drop])],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      daemon.stdout!.on('data', (d) => {
        out += d;
      });
      const t0 = Date.now();
      while (!out.includes('\n')) {
        if (Date.now() - t0 > 30_000 || daemon.exitCode !== null) throw new Error(`daemon did not start pods: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const started = JSON.parse(out) as { ip: string; netns: string }[];
      daemon.kill('SIGKILL');
      await new Promise((r) => daemon!.once('exit', r));

      rt = await PodRuntime.open({
        home,
        programDir,
        netnsPrefix: `${tag}-`,
        podCIDR: `${CIDR}0/24`,
        podRoutes: [`${CIDR}0/24`],
        adoptPollMs: 100,
      });
      const left = await rt.listLeftovers();
      expect(left.pods.map((p) => p.name).sort()).toEqual(['deathstar', 'xwing']);
      expect(left.pods.every((p) => p.netnsExists && p.livePids === 1)).toBe(true);
      const report = await rt.reconcile([keep]);
      expect(report).toMatchObject({ adopted: [keep.uid], removed: [drop.uid], recreated: [] });
      const s = rt.status(keep.uid);
      expect(s?.phase).toBe('Running');
      expect(s?.podIP).toBe(started[0]!.ip);
      expect(s?.containerStatuses[0]?.restartCount).toBe(0);
      // The adopted deathstar still serves, reached from the host through the pod's veth.
      const res = await fetch(`http://${started[0]!.ip}/v1/request-landing`, { method: 'POST' });
      expect(await res.text()).toBe('Ship landed\n');
      expect(await hostInventory(tag, CIDR)).toMatchObject({ netns: [started[0]!.netns] });
      // The exhaust port kills the adopted process: noticed by polling, restarted (exit code unknown).
      await fetch(`http://${started[0]!.ip}/v1/exhaust-port`, { method: 'PUT' });
      await expect
        .poll(() => rt!.status(keep.uid)?.containerStatuses[0], { timeout: 10_000 })
        .toMatchObject({ restartCount: 1, state: { running: expect.anything() } });
      expect(rt.status(keep.uid)?.containerStatuses[0]?.lastState.terminated?.reason).toBe('ContainerStatusUnknown');
      await rt.removePod(keep.uid, { gracePeriodSeconds: 1 });
      expect(await hostInventory(tag, CIDR)).toEqual(before);
    });
  },
);
