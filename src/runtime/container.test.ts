import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildEnv, buildLaunch, expandVars, lookPath } from './container.js';
import { tailOffset } from './logs.js';
import { clusterFirstDns, renderResolvConf } from './netns.js';
import { podConditions, podPhase } from './status.js';
import type { ContainerStatus } from './types.js';

const pod = { uid: 'u1', namespace: 'ns1', name: 'p1', ip: '10.244.0.5', labels: { app: 'x' } };

describe('container launch', () => {
  it('expands $(VAR) like the kubelet', () => {
    expect(expandVars('a $(X) $(Y) $$(X) $(', { X: '1' })).toBe('a 1 $(Y) $(X) $(');
  });

  it('builds the env: injected, container env (overrides), fieldRefs, HOSTNAME, PATH', () => {
    const r = buildEnv(
      {
        name: 'c',
        env: [
          { name: 'A', value: 'a' },
          { name: 'B', value: '$(A)-b' },
          { name: 'KUBERNETES_SERVICE_PORT', value: '6443' },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'OPT', valueFrom: { secretKeyRef: { name: 's', key: 'k', optional: true } } },
        ],
      },
      { ...pod, injectedEnv: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.env).toMatchObject({
      A: 'a',
      B: 'a-b',
      IP: '10.244.0.5',
      APP: 'x',
      HOSTNAME: 'p1',
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '6443',
    });
    expect(r.env.PATH).toContain('/usr/bin');
    expect(r.env.OPT).toBeUndefined();
    const bad = buildEnv(
      { name: 'c', env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] },
      pod,
    );
    expect(bad.ok).toBe(false);
  });

  it('command replaces the entrypoint (host binary); args alone go to the built-in; unknown image without command fails', () => {
    const host = buildLaunch(
      { name: 'c', image: 'busybox', command: ['sleep'], args: ['$(N)'], env: [{ name: 'N', value: '5' }] },
      pod,
    );
    expect(host).toMatchObject({ ok: true, launch: { argv: ['sleep', '5'], imageKind: 'host', cwd: '/' } });
    const nginx = buildLaunch({ name: 'c', image: 'nginx' }, pod);
    expect(nginx).toMatchObject({ ok: false, reason: 'ErrImagePull' });
    const missingProgram = buildLaunch({ name: 'c', image: 'cilium/starwars' }, pod, { programDir: '/nonexistent' });
    expect(missingProgram).toMatchObject({ ok: false, reason: 'ErrImagePull' });
  });

  it('looks executables up in PATH', () => {
    expect(lookPath('sh', '/usr/bin:/bin')).toMatch(/\/sh$/);
    expect(lookPath('pw-no-such-binary', '/usr/bin:/bin')).toBeUndefined();
  });
});

describe('pod files', () => {
  it('renders the ClusterFirst resolv.conf', () => {
    expect(renderResolvConf(clusterFirstDns(['10.96.0.10'], 'default'))).toBe(
      'nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n',
    );
  });

  it('finds the tail offset', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pw-logs-'));
    try {
      const p = join(dir, '0.log');
      await writeFile(p, 'a\nb\nc\n');
      expect(await tailOffset(p, 2)).toBe(2);
      expect(await tailOffset(p, 10)).toBe(0);
      expect(await tailOffset(p, 0)).toBe(6);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const cs = (s: Partial<ContainerStatus>): ContainerStatus => ({
  name: 'c',
  image: 'i',
  imageID: '',
  ready: false,
  started: false,
  restartCount: 0,
  state: {},
  lastState: {},
  ...s,
});

describe('pod phase and conditions (kubelet rules)', () => {
  const running = cs({ state: { running: { startedAt: 't' } }, ready: true });
  const waitingFresh = cs({ state: { waiting: { reason: 'ContainerCreating' } } });
  const crashLoop = cs({
    state: { waiting: { reason: 'CrashLoopBackOff' } },
    lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: 't' } },
  });
  const done0 = cs({ state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: 't' } } });
  const done1 = cs({ state: { terminated: { exitCode: 1, reason: 'Error', finishedAt: 't' } } });
  it.each([
    [[running], 'Always', 'Running'],
    [[waitingFresh], 'Always', 'Pending'],
    [[running, waitingFresh], 'Always', 'Pending'],
    [[crashLoop], 'Always', 'Running'],
    [[done0], 'Never', 'Succeeded'],
    [[done1], 'Never', 'Failed'],
    [[done0, done1], 'Never', 'Failed'],
    [[done1], 'OnFailure', 'Running'],
    [[done0], 'Always', 'Running'],
  ] as const)('%# → %s', (statuses, policy, want) => {
    expect(podPhase(statuses, policy)).toBe(want);
  });

  it('keeps lastTransitionTime while a condition does not change', () => {
    const c1 = podConditions([running], 'Running', 'T1');
    const c2 = podConditions([running], 'Running', 'T2', c1);
    expect(c2.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: 'T1' });
    const c3 = podConditions([cs({ name: 'x' })], 'Running', 'T3', c2);
    expect(c3.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      lastTransitionTime: 'T3',
      message: 'containers with unready status: [x]',
    });
  });
});
