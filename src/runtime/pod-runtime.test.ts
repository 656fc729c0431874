/**
 * Root end-to-end tests of the pod runtime against the real kernel and the real CNI plugins. Every host object
 * carries this run's unique prefix (`pw-t<random>-`), the pod CIDR is 10.244.200.0/24, and the test proves at the
 * end that nothing it created is left (netns, links, routes, /etc/netns).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container } from '../api/types.js';
import type { DnsSnapshot } from '../dns/records.js';
import { writeDnsSnapshot } from '../dns/snapshot.js';
import { bundlePrograms } from '../images/bundle-programs.js';
import { EXHAUST_PORT_PANIC } from '../images/deathstar.js';
import { run } from './exec.js';
import { type HostInventory, hostInventory } from './inventory.js';
import { podRuntimeNodeBackend } from './node-backend.js';
import { PodRuntime } from './pod-runtime.js';
import type { ContainerStatus, PodRuntimeStatus, RunPodSpec } from './types.js';

const ROOT_SKIP =
  process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/lib/cni/ptp') ? '/usr/lib/cni/ptp is missing' : undefined;

const CIDR = '10.244.200.';
const tag = `pw-t${Math.random().toString(16).slice(2, 8)}`;

function podSpec(name: string, containers: Container[], extra: Partial<RunPodSpec> = {}): RunPodSpec {
  return { uid: randomUUID(), namespace: 'default', name, containers, ...extra };
}

async function readAll(r: Readable): Promise<string> {
  let s = '';
  for await (const chunk of r) s += chunk.toString();
  return s;
}

describe.skipIf(ROOT_SKIP !== undefined)(
  `pod runtime on the real kernel${ROOT_SKIP ? ` (skipped: ${ROOT_SKIP})` : ''}`,
  () => {
    let home: string;
    let programDir: string;
    let rt: PodRuntime;
    let before: HostInventory;
    const createdLinks = new Set<string>();
    const strays: string[] = [];

    const status = (uid: string): PodRuntimeStatus => {
      const s = rt.status(uid);
      if (!s) throw new Error(`no status for ${uid}`);
      return s;
    };
    const cstatus = (uid: string, name?: string): ContainerStatus =>
      status(uid).containerStatuses.find((c) => name === undefined || c.name === name)!;
    const waitUntil = async (what: string, f: () => boolean, timeout = 15_000) => {
      const t0 = Date.now();
      while (!f()) {
        if (Date.now() - t0 > timeout) throw new Error(`timed out waiting for: ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const start = async (spec: RunPodSpec) => {
      const r = await rt.runPod(spec);
      createdLinks.add(r.hostIfname);
      return r;
    };

    beforeAll(async () => {
      home = await mkdtemp(join(tmpdir(), 'pw-rt-'));
      programDir = await bundlePrograms(join(home, 'programs'));
      before = await hostInventory(tag, CIDR);
      rt = await PodRuntime.open({
        home,
        podCIDR: `${CIDR}0/24`,
        podRoutes: ['10.96.0.0/12'],
        netnsPrefix: `${tag}-`,
        backoff: { baseMs: 400, maxMs: 1600, resetMs: 60_000 },
        programDir,
      });
    });

    afterAll(async () => {
      await rt?.shutdown({ gracePeriodSeconds: 1 });
      for (const n of strays) if (existsSync(`/var/run/netns/${n}`)) await run('ip', ['netns', 'del', n]);
      const after = await hostInventory(tag, CIDR);
      await rm(home, { recursive: true, force: true });
      expect(after).toEqual(before);
      for (const l of createdLinks) expect((await run('ip', ['link', 'show', 'dev', l])).code).not.toBe(0);
    });

    describe('the Star Wars pods', () => {
      let deathstar: RunPodSpec;
      let tiefighter: RunPodSpec;
      let dsIp: string;
      let tfIp: string;

      beforeAll(async () => {
        deathstar = podSpec('deathstar-1', [
          {
            name: 'deathstar',
            image: 'docker.io/cilium/starwars',
            env: [{ name: 'DEATHSTAR_EXPLODE_DELAY_MS', value: '100' }],
            readinessProbe: { httpGet: { path: '/v1', port: 80 }, periodSeconds: 1 },
          },
        ]);
        tiefighter = podSpec('tiefighter', [{ name: 'spaceship', image: 'docker.io/tgraf/netperf' }], {
          injectedEnv: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
        });
        const t0 = performance.now();
        const [a, b] = await Promise.all([start(deathstar), start(tiefighter)]);
        await waitUntil(
          'both running',
          () => status(deathstar.uid).phase === 'Running' && status(tiefighter.uid).phase === 'Running',
        );
        console.log(`runtime: 2 pods create→Running in ${Math.round(performance.now() - t0)} ms`);
        await waitUntil(
          'deathstar ready',
          () => status(deathstar.uid).conditions.find((c) => c.type === 'Ready')?.status === 'True',
        );
        console.log(`runtime: deathstar create→Ready (1 s probe period) in ${Math.round(performance.now() - t0)} ms`);
        dsIp = a.ip;
        tfIp = b.ip;
      });

      it('gives both pods IPs from the pod CIDR and pw- host veths', async () => {
        expect(dsIp.startsWith(CIDR)).toBe(true);
        expect(tfIp.startsWith(CIDR)).toBe(true);
        expect(dsIp).not.toBe(tfIp);
        const pods = rt.list();
        for (const p of pods.filter((x) => x.uid === deathstar.uid || x.uid === tiefighter.uid)) {
          expect(p.netns.startsWith(`${tag}-`)).toBe(true);
          expect(p.hostIfname).toMatch(/^pw-[0-9a-f]{12}$/);
        }
        const s = status(deathstar.uid);
        expect(s.podIP).toBe(dsIp);
        expect(s.conditions.map((c) => [c.type, c.status])).toEqual([
          ['PodScheduled', 'True'],
          ['Initialized', 'True'],
          ['ContainersReady', 'True'],
          ['Ready', 'True'],
        ]);
        expect(cstatus(deathstar.uid)).toMatchObject({
          ready: true,
          started: true,
          restartCount: 0,
          image: 'docker.io/cilium/starwars',
        });
        expect(cstatus(deathstar.uid).state.running?.startedAt).toBeDefined();
      });

      it('pod A curls pod B: Ship landed', async () => {
        const r = await rt.execCollect(tiefighter.uid, 'spaceship', [
          'curl',
          '-s',
          '--max-time',
          '5',
          '-XPOST',
          `http://${dsIp}/v1/request-landing`,
        ]);
        expect(r).toMatchObject({ code: 0, stdout: 'Ship landed\n' });
      });

      it('exec returns exit codes, passes stdin, has the pod env and resolv.conf, and a TTY when asked', async () => {
        expect((await rt.execCollect(tiefighter.uid, 'spaceship', ['sh', '-c', 'exit 3'])).code).toBe(3);
        expect((await rt.execCollect(tiefighter.uid, 'spaceship', ['cat'], { stdin: 'hello\n' })).stdout).toBe(
          'hello\n',
        );
        const env = await rt.execCollect(tiefighter.uid, 'spaceship', [
          'sh',
          '-c',
          'echo $HOSTNAME $KUBERNETES_SERVICE_HOST',
        ]);
        expect(env.stdout).toBe('tiefighter 10.96.0.1\n');
        const resolv = await rt.execCollect({ namespace: 'default', name: 'tiefighter' }, 'spaceship', [
          'cat',
          '/etc/resolv.conf',
        ]);
        expect(resolv.stdout).toContain('search default.svc.cluster.local svc.cluster.local cluster.local');
        expect(resolv.stdout).toContain('options ndots:5');
        const hosts = await rt.execCollect(tiefighter.uid, 'spaceship', ['getent', 'hosts', 'tiefighter']);
        expect(hosts.stdout).toContain(tfIp);
        const tty = await rt.execCollect(tiefighter.uid, 'spaceship', ['tty'], { tty: true });
        expect(tty.stdout).toMatch(/\/dev\/pts\/\d+/);
        const missing = await rt.execCollect(tiefighter.uid, 'spaceship', ['no-such-binary-pw']);
        expect(missing.code).toBe(127);
        expect(missing.stderr).toContain('executable file not found in $PATH');
        await expect(rt.exec(tiefighter.uid, 'nope', ['true'])).rejects.toMatchObject({ code: 'ContainerNotFound' });
      });

      it('serves the apiserver NodeBackend (exec with streams, logs, kubelet-style errors)', async () => {
        const backend = podRuntimeNodeBackend(rt);
        const out = new PassThrough();
        const err = new PassThrough();
        let text = '';
        out.on('data', (d) => {
          text += d;
        });
        const r = await backend.exec(
          {
            namespace: 'default',
            pod: 'tiefighter',
            container: 'spaceship',
            command: ['sh', '-c', 'echo hi; exit 3'],
            stdin: false,
            tty: false,
          },
          { stdout: out, stderr: err },
        );
        expect(r.exitCode).toBe(3);
        expect(text).toBe('hi\n');
        await expect(
          backend.logs({ namespace: 'default', pod: 'nope', container: 'c', follow: false, previous: false }),
        ).rejects.toMatchObject({ name: 'NodeBackendError', status: 404 });
        await expect(
          backend.logs({
            namespace: 'default',
            pod: 'tiefighter',
            container: 'spaceship',
            follow: false,
            previous: true,
          }),
        ).rejects.toMatchObject({ name: 'NodeBackendError', status: 400 });
      });

      it('logs capture requests with the client IP (and tail works)', async () => {
        await expect
          .poll(async () => readAll(await rt.logs(deathstar.uid, 'deathstar')))
          .toContain('POST /v1/request-landing');
        const text = await readAll(await rt.logs(deathstar.uid, 'deathstar'));
        expect(text).toMatch(new RegExp(`POST /v1/request-landing from ${tfIp.replace(/\./g, '\\.')}:\\d+ 200`));
        const tail = await readAll(await rt.logs(deathstar.uid, 'deathstar', { tail: 1 }));
        expect(tail.trim().split('\n')).toHaveLength(1);
      });

      it('the exhaust port crashes the deathstar: 503 + panic text, restart (restartCount 1), previous logs', async () => {
        const r = await rt.execCollect(tiefighter.uid, 'spaceship', [
          'curl',
          '-s',
          '--max-time',
          '5',
          '-w',
          '\n%{http_code}',
          '-XPUT',
          `http://${dsIp}/v1/exhaust-port`,
        ]);
        expect(r.stdout).toBe(`${EXHAUST_PORT_PANIC}\n503`);
        await waitUntil(
          'restarted',
          () => cstatus(deathstar.uid).restartCount === 1 && cstatus(deathstar.uid).state.running !== undefined,
        );
        const cs = cstatus(deathstar.uid);
        expect(cs.lastState.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
        const prev = await readAll(await rt.logs(deathstar.uid, 'deathstar', { previous: true }));
        expect(prev).toContain('PUT /v1/exhaust-port');
        expect(prev).toContain('panic: deathstar exploded');
        const cur = await readAll(await rt.logs(deathstar.uid, 'deathstar'));
        expect(cur).not.toContain('exhaust-port');
        // it serves again after the restart
        await waitUntil('ready again', () => cstatus(deathstar.uid).ready);
        const again = await rt.execCollect(tiefighter.uid, 'spaceship', [
          'curl',
          '-s',
          '--max-time',
          '5',
          '-XPOST',
          `http://${dsIp}/v1/request-landing`,
        ]);
        expect(again.stdout).toBe('Ship landed\n');
      });

      it('follows logs until the instance exits', async () => {
        const stream = await rt.logs(deathstar.uid, 'deathstar', { follow: true });
        let got = '';
        stream.on('data', (d) => {
          got += d.toString();
        });
        await rt.execCollect(tiefighter.uid, 'spaceship', ['curl', '-s', '--max-time', '5', `http://${dsIp}/v1`]);
        await waitUntil('followed line', () => got.includes('GET /v1 from'));
        stream.destroy();
      });
    });

    it('readiness: httpGet and tcpSocket pass, a failing exec probe keeps the pod NotReady', async () => {
      const spec = podSpec('probes', [
        {
          name: 'web',
          image: 'registry.k8s.io/e2e-test-images/agnhost:2.47',
          args: ['netexec', '--http-port=8080', '--udp-port=8081'],
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
        },
        {
          name: 'tcp',
          image: 'tgraf/netperf',
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
        },
        {
          name: 'never',
          image: 'tgraf/netperf',
          readinessProbe: { exec: { command: ['sh', '-c', 'exit 1'] }, periodSeconds: 1 },
        },
      ]);
      await start(spec);
      await waitUntil('web+tcp ready', () => cstatus(spec.uid, 'web').ready && cstatus(spec.uid, 'tcp').ready);
      await new Promise((r) => setTimeout(r, 1500));
      const s = status(spec.uid);
      expect(cstatus(spec.uid, 'never').ready).toBe(false);
      expect(s.phase).toBe('Running');
      expect(s.conditions.find((c) => c.type === 'Ready')).toMatchObject({
        status: 'False',
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [never]',
      });
      await rt.removePod(spec.uid, { gracePeriodSeconds: 1 });
      expect(rt.status(spec.uid)).toBeUndefined();
    });

    it('liveness: a failing probe kills and restarts the container', async () => {
      const spec = podSpec(
        'liveness',
        [
          {
            name: 'c',
            image: 'x',
            command: ['sh', '-c', 'while :; do sleep 0.1; done'],
            livenessProbe: { exec: { command: ['sh', '-c', 'exit 1'] }, periodSeconds: 1, failureThreshold: 2 },
          },
        ],
        { terminationGracePeriodSeconds: 1 },
      );
      await start(spec);
      await waitUntil('restarted by liveness', () => cstatus(spec.uid).restartCount >= 1);
      expect(cstatus(spec.uid).lastState.terminated).toMatchObject({ exitCode: 143, reason: 'Error' });
      expect(cstatus(spec.uid).lastState.terminated?.message).toContain('Liveness probe failed');
      await rt.removePod(spec.uid, { gracePeriodSeconds: 1 });
    });

    it('CrashLoopBackOff for a container that exits at once (back-off grows)', async () => {
      const spec = podSpec('crasher', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo boom; exit 1'] }]);
      await start(spec);
      await waitUntil('CrashLoopBackOff', () => cstatus(spec.uid).state.waiting?.reason === 'CrashLoopBackOff');
      const cs = cstatus(spec.uid);
      expect(cs.restartCount).toBeGreaterThanOrEqual(1);
      expect(cs.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
      expect(cs.state.waiting?.message).toMatch(
        /^back-off \d+(\.\d)?s restarting failed container=c pod=crasher_default\(/,
      );
      expect(status(spec.uid).phase).toBe('Running');
      await waitUntil('restarted twice', () => cstatus(spec.uid).restartCount >= 3, 20_000);
      await expect.poll(async () => readAll(await rt.logs(spec.uid, 'c', { previous: true }))).toBe('boom\n');
      await rt.removePod(spec.uid, { gracePeriodSeconds: 1 });
    });

    it('an unknown image is ErrImagePull/ImagePullBackOff with a how-to; a missing binary is StartError', async () => {
      const spec = podSpec('unknown-image', [
        { name: 'web', image: 'nginx:1.25' },
        { name: 'bad', image: 'busybox', command: ['pw-no-such-binary'] },
      ]);
      await start(spec);
      await waitUntil('ImagePullBackOff', () => cstatus(spec.uid, 'web').state.waiting?.reason === 'ImagePullBackOff');
      expect(cstatus(spec.uid, 'web').state.waiting?.message).toContain('set command: to run a host binary');
      expect(status(spec.uid).phase).toBe('Pending');
      await waitUntil('StartError', () => cstatus(spec.uid, 'bad').lastState.terminated?.reason === 'StartError');
      expect(cstatus(spec.uid, 'bad').lastState.terminated?.message).toContain('executable file not found in $PATH');
      await expect(rt.logs(spec.uid, 'web')).rejects.toMatchObject({ code: 'LogsUnavailable' });
      await rt.removePod(spec.uid, { gracePeriodSeconds: 1 });
    });

    it('restartPolicy Never: Succeeded and Failed phases', async () => {
      const ok = podSpec('job-ok', [{ name: 'c', image: 'x', command: ['true'] }], { restartPolicy: 'Never' });
      const bad = podSpec('job-bad', [{ name: 'c', image: 'x', command: ['sh', '-c', 'exit 7'] }], {
        restartPolicy: 'Never',
      });
      await Promise.all([start(ok), start(bad)]);
      await waitUntil('done', () => status(ok.uid).phase === 'Succeeded' && status(bad.uid).phase === 'Failed');
      expect(cstatus(ok.uid).state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
      expect(cstatus(bad.uid).state.terminated).toMatchObject({ exitCode: 7, reason: 'Error' });
      expect(status(ok.uid).conditions.find((c) => c.type === 'Ready')).toMatchObject({
        status: 'False',
        reason: 'PodCompleted',
      });
      await Promise.all([rt.removePod(ok.uid), rt.removePod(bad.uid)]);
    });

    it('graceful stop: SIGTERM honoured quickly, SIGKILL after the grace period otherwise', async () => {
      const polite = podSpec('polite', [
        { name: 'c', image: 'x', command: ['sh', '-c', 'trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done'] },
      ]);
      const stubborn = podSpec('stubborn', [
        { name: 'c', image: 'x', command: ['sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done'] },
      ]);
      await Promise.all([start(polite), start(stubborn)]);
      await waitUntil(
        'running',
        () => status(polite.uid).phase === 'Running' && status(stubborn.uid).phase === 'Running',
      );
      const logsBefore = rt.logs(polite.uid, 'c');
      await logsBefore;
      let t = performance.now();
      await rt.removePod(polite.uid, { gracePeriodSeconds: 10 });
      expect(performance.now() - t).toBeLessThan(3000);
      t = performance.now();
      await rt.removePod(stubborn.uid, { gracePeriodSeconds: 1 });
      const took = performance.now() - t;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(5000);
    });

    it('cluster DNS: the coredns image in a pod serves the snapshot; another pod resolves via the search list', async () => {
      const snapPath = join(home, 'dns-snapshot.json');
      const web = podSpec('web', [{ name: 'd', image: 'cilium/starwars' }]);
      const webRes = await start(web);
      // No service load balancer here (that is the datapath's job): the "ClusterIP" is the backend pod's IP.
      const snap: DnsSnapshot = {
        kind: 'PodwallDnsSnapshot',
        version: 1,
        services: [
          {
            namespace: 'default',
            name: 'deathstar',
            clusterIPs: [webRes.ip],
            ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
          },
        ],
        endpoints: [],
      };
      await writeDnsSnapshot(snapPath, snap);
      const dns = podSpec(
        'coredns',
        [
          {
            name: 'coredns',
            image: 'registry.k8s.io/coredns/coredns:v1.11.1',
            args: ['-conf', '/etc/coredns/Corefile'],
            env: [
              { name: 'PODWALL_DNS_SNAPSHOT', value: snapPath },
              { name: 'PODWALL_DNS_LOG', value: '1' },
            ],
            readinessProbe: { tcpSocket: { port: 53 }, periodSeconds: 1 },
          },
        ],
        { namespace: 'kube-system' },
      );
      const dnsRes = await start(dns);
      const client = podSpec('xwing', [{ name: 'spaceship', image: 'tgraf/netperf' }], { dnsServers: [dnsRes.ip] });
      await start(client);
      await waitUntil(
        'dns + client ready',
        () => cstatus(dns.uid).ready && status(client.uid).phase === 'Running' && cstatus(web.uid).ready,
      );
      const landed = await rt.execCollect(client.uid, 'spaceship', [
        'curl',
        '-s',
        '--max-time',
        '5',
        '-XPOST',
        'http://deathstar/v1/request-landing',
      ]);
      expect(landed).toMatchObject({ code: 0, stdout: 'Ship landed\n' });
      const fqdn = await rt.execCollect(client.uid, 'spaceship', [
        'getent',
        'hosts',
        'deathstar.default.svc.cluster.local',
      ]);
      expect(fqdn.stdout).toContain(webRes.ip);
      const outside = await rt.execCollect(client.uid, 'spaceship', ['getent', 'hosts', 'example.com']);
      expect(outside.code).not.toBe(0);
      const dnsLog = await readAll(await rt.logs(dns.uid, 'coredns'));
      expect(dnsLog).toContain('REFUSED');
      expect(dnsLog).toContain('deathstar.default.svc.cluster.local NOERROR');
      // The snapshot changes: the program reloads it.
      await writeDnsSnapshot(snapPath, {
        ...snap,
        services: [...snap.services, { namespace: 'default', name: 'late', clusterIPs: ['10.96.7.7'], ports: [] }],
      });
      await expect
        .poll(async () => (await rt.execCollect(client.uid, 'spaceship', ['getent', 'hosts', 'late'])).stdout, {
          timeout: 5000,
        })
        .toContain('10.96.7.7');
      await Promise.all([
        rt.removePod(web.uid, { gracePeriodSeconds: 1 }),
        rt.removePod(dns.uid, { gracePeriodSeconds: 1 }),
        rt.removePod(client.uid, { gracePeriodSeconds: 1 }),
      ]);
    });

    it('one pod create→Running latency (sequential)', async () => {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const spec = podSpec(`lat-${i}`, [{ name: 'c', image: 'tgraf/netperf' }]);
        const t0 = performance.now();
        await start(spec);
        await waitUntil('running', () => status(spec.uid).phase === 'Running');
        times.push(performance.now() - t0);
        await rt.removePod(spec.uid, { gracePeriodSeconds: 1 });
      }
      times.sort((a, b) => a - b);
      console.log(
        `runtime: one pod create→Running ${times.map((t) => Math.round(t)).join('/')} ms (median ${Math.round(times[1]!)})`,
      );
      expect(times[1]).toBeLessThan(2000);
    });

    it('20 pods at once start and are removed with nothing left', { timeout: 90_000 }, async () => {
      const inv0 = await hostInventory(tag, CIDR);
      const specs = Array.from({ length: 20 }, (_, i) => podSpec(`many-${i}`, [{ name: 'c', image: 'tgraf/netperf' }]));
      const t0 = performance.now();
      const results = await Promise.all(specs.map((s) => start(s)));
      await waitUntil('all running', () => specs.every((s) => status(s.uid).phase === 'Running'), 60_000);
      const ms = performance.now() - t0;
      console.log(`runtime: 20 pods create→Running in ${Math.round(ms)} ms (${Math.round(ms / 20)} ms/pod amortized)`);
      expect(new Set(results.map((r) => r.ip)).size).toBe(20);
      const mid = await hostInventory(tag, CIDR);
      expect(mid.netns.length).toBe(inv0.netns.length + 20);
      expect(mid.etcNetns.length).toBe(inv0.etcNetns.length + 20);
      const t1 = performance.now();
      await Promise.all(specs.map((s) => rt.removePod(s.uid, { gracePeriodSeconds: 2 })));
      console.log(`runtime: 20 pods removed in ${Math.round(performance.now() - t1)} ms`);
      expect(await hostInventory(tag, CIDR)).toEqual(inv0);
      const ipam = await readdir(join(home, 'cni', 'ipam', 'podwall'));
      // only host-local's bookkeeping files remain (plus the IPs of pods still alive in other tests)
      const reserved = ipam.filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
      const live = new Set(rt.list().map((p) => p.ip));
      expect(reserved.filter((ip) => !live.has(ip))).toEqual([]);
    });

    it('crash recovery: a new runtime re-adopts live pods (same IP), restarts dead containers, removes unknown ones', {
      timeout: 60_000,
    }, async () => {
      const keep = podSpec('keep', [{ name: 'c', image: 'tgraf/netperf' }]);
      const drop = podSpec('drop', [{ name: 'c', image: 'tgraf/netperf' }]);
      const keepRes = await start(keep);
      await start(drop);
      await waitUntil('running', () => status(keep.uid).phase === 'Running' && status(drop.uid).phase === 'Running');
      // The container's pid as the state file recorded it (never a pid from inside the pod: exec'd processes are
      // children of this test process).
      const { readFile } = await import('node:fs/promises');
      const stateFile = JSON.parse(await readFile(join(home, 'runtime', 'state.json'), 'utf8'));
      const pid = stateFile.pods[keep.uid].containers.c.pid as number;
      expect(pid).toBeGreaterThan(0);
      expect((await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('netperf.js')).toBe(true);
      // The daemon "dies": it stops watching, the pods' processes keep running, state stays on disk.
      await rt.close();
      const stray = `${tag}-stray`;
      await run('ip', ['netns', 'add', stray]);
      strays.push(stray);
      const rt2 = await PodRuntime.open({
        home,
        podCIDR: `${CIDR}0/24`,
        podRoutes: ['10.96.0.0/12'],
        netnsPrefix: `${tag}-`,
        backoff: { baseMs: 400, maxMs: 1600, resetMs: 60_000 },
        programDir,
        adoptPollMs: 100,
      });
      rt = rt2;
      const left = await rt2.listLeftovers();
      const mine = left.pods.filter((p) => p.uid === keep.uid || p.uid === drop.uid);
      expect(mine.map((p) => p.name).sort()).toEqual(['drop', 'keep']);
      expect(mine.every((p) => p.netnsExists && p.livePids > 0 && !p.adoptedHere)).toBe(true);
      expect(left.strayNetns).toEqual([stray]);
      const others = left.pods.filter((p) => p.uid !== keep.uid && p.uid !== drop.uid).map((p) => p.uid);
      const report = await rt2.reconcile([keep]);
      expect(report).toMatchObject({ adopted: [keep.uid], recreated: [], strayNetnsRemoved: [stray] });
      expect(report.removed.sort()).toEqual([drop.uid, ...others].sort());
      expect(rt2.list().find((p) => p.uid === keep.uid)?.ip).toBe(keepRes.ip);
      expect(cstatus(keep.uid).state.running).toBeDefined();
      expect((await rt2.execCollect(keep.uid, 'c', ['sh', '-c', 'exit 4'])).code).toBe(4);
      // the adopted process dies: noticed by polling, restarted per policy
      process.kill(pid, 'SIGKILL');
      await waitUntil(
        'restarted after adoption',
        () => cstatus(keep.uid).restartCount === 1 && cstatus(keep.uid).state.running !== undefined,
      );
      expect(cstatus(keep.uid).lastState.terminated?.reason).toBe('ContainerStatusUnknown');
      const empty = await rt2.listLeftovers();
      expect(empty.strayNetns).toEqual([]);
      await rt2.removePod(keep.uid, { gracePeriodSeconds: 1 });
    });

    it('refuses names without the pw- prefix', async () => {
      await expect(PodRuntime.open({ home, netnsPrefix: 'foo-' })).rejects.toThrow(/pw-/);
      await writeFile(join(home, 'marker'), 'x');
    });
  },
);
