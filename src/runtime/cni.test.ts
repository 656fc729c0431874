import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CniClient,
  defaultNetworkConfigList,
  gatewayOf,
  loadNetworkConfigList,
  parsePodNetwork,
  writeNetworkConfigList,
} from './cni.js';
import { type RunOptions, run } from './exec.js';
import { hostInventory } from './inventory.js';
import { Netns, netnsPath } from './netns.js';
import { hostIfnameFor } from './pod-sandbox.js';

const ROOT_SKIP =
  process.getuid?.() !== 0 ? 'needs root' : !existsSync('/usr/lib/cni/ptp') ? '/usr/lib/cni/ptp is missing' : undefined;

describe('CNI client (fake plugins)', () => {
  it('runs the list in order for ADD with prevResult, in reverse for DEL, with the spec environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pw-cni-'));
    const calls: { file: string; env: NodeJS.ProcessEnv; stdin: Record<string, unknown> }[] = [];
    const runner = async (file: string, _args: readonly string[], opts?: RunOptions) => {
      const stdin = JSON.parse(opts?.input ?? '{}');
      calls.push({ file, env: opts?.env ?? {}, stdin });
      if (opts?.env?.CNI_COMMAND !== 'ADD') return { code: 0, stdout: '', stderr: '' };
      const prev = stdin.prevResult ?? { cniVersion: '1.0.0', interfaces: [], ips: [] };
      const out =
        stdin.type === 'ptp'
          ? {
              cniVersion: '1.0.0',
              interfaces: [{ name: 'veth1234' }, { name: 'eth0', sandbox: opts?.env?.CNI_NETNS }],
              ips: [{ address: '10.244.200.2/24', gateway: '10.244.200.1', interface: 1 }],
            }
          : prev;
      return { code: 0, stdout: JSON.stringify(out), stderr: '' };
    };
    try {
      const config = defaultNetworkConfigList({ subnet: '10.244.200.0/24', ipamDataDir: join(dir, 'ipam') });
      // the fake plugin files must exist and be executable for lookup
      const c = new CniClient({ config, cniPath: ['/bin', '/usr/lib/cni'], cacheDir: join(dir, 'cache'), runner });
      const cfg = config.plugins.map((p) => p.type);
      expect(cfg).toEqual(['ptp', 'loopback']);
      if (!existsSync('/usr/lib/cni/ptp')) return;
      const add = await c.add('pw-cid', '/var/run/netns/pw-x');
      expect(add.ok).toBe(true);
      expect(calls.map((x) => [x.env.CNI_COMMAND, x.stdin.type])).toEqual([
        ['ADD', 'ptp'],
        ['ADD', 'loopback'],
      ]);
      expect(calls[0]!.env).toMatchObject({
        CNI_CONTAINERID: 'pw-cid',
        CNI_NETNS: '/var/run/netns/pw-x',
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/bin:/usr/lib/cni',
      });
      expect(calls[0]!.stdin).toMatchObject({ cniVersion: '1.0.0', name: 'podwall' });
      expect(calls[0]!.stdin.prevResult).toBeUndefined();
      expect(calls[1]!.stdin.prevResult).toMatchObject({ ips: [{ address: '10.244.200.2/24' }] });
      if (add.ok)
        expect(parsePodNetwork(add.value)).toMatchObject({
          ok: true,
          value: { ip: '10.244.200.2', hostIfname: 'veth1234' },
        });
      calls.length = 0;
      expect((await c.del('pw-cid', '/var/run/netns/pw-x')).ok).toBe(true);
      expect(calls.map((x) => [x.env.CNI_COMMAND, x.stdin.type])).toEqual([
        ['DEL', 'loopback'],
        ['DEL', 'ptp'],
      ]);
      expect(calls[1]!.stdin.prevResult).toMatchObject({ ips: [{ address: '10.244.200.2/24' }] });
      expect(await readdir(join(dir, 'cache'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('turns plugin errors into values with the plugin message', async () => {
    const runner = async () => ({
      code: 1,
      stdout: JSON.stringify({ cniVersion: '1.0.0', code: 7, msg: 'invalid config', details: 'subnet missing' }),
      stderr: '',
    });
    const config = defaultNetworkConfigList({ subnet: '10.244.200.0/24', ipamDataDir: '/nonexistent' });
    const c = new CniClient({ config, cniPath: ['/usr/lib/cni'], cacheDir: '/nonexistent/cache', runner });
    if (!existsSync('/usr/lib/cni/ptp')) return;
    const r = await c.add('pw-x', '/var/run/netns/pw-x');
    expect(r).toEqual({
      ok: false,
      error: { code: 7, msg: 'invalid config', details: 'subnet missing', plugin: 'ptp', command: 'ADD' },
    });
    const missing = new CniClient({ config, cniPath: ['/nonexistent'], cacheDir: '/nonexistent', runner });
    const m = await missing.add('pw-x', '/var/run/netns/pw-x');
    expect(m.ok).toBe(false);
    if (!m.ok) expect(m.error.msg).toContain('failed to find plugin "ptp"');
  });

  it('computes the gateway and routes pods to extra ranges via it', () => {
    expect(gatewayOf('10.244.200.0/24')).toBe('10.244.200.1');
    expect(gatewayOf('10.244.0.0/16')).toBe('10.244.0.1');
    const c = defaultNetworkConfigList({
      subnet: '10.244.200.0/24',
      ipamDataDir: '/x',
      routes: ['10.244.200.0/24', '10.96.0.0/12', '0.0.0.0/0'],
    });
    expect((c.plugins[0]!.ipam as { routes: unknown[] }).routes).toEqual([
      { dst: '10.96.0.0/12', gw: '10.244.200.1' },
      { dst: '0.0.0.0/0' },
    ]);
  });

  it('validates a network config list file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pw-cni-'));
    try {
      const p = await writeNetworkConfigList(
        dir,
        defaultNetworkConfigList({ subnet: '10.244.200.0/24', ipamDataDir: dir }),
      );
      expect((await loadNetworkConfigList(p)).ok).toBe(true);
      const bad = await loadNetworkConfigList(join(dir, 'nope.conflist'));
      expect(bad.ok).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(ROOT_SKIP !== undefined)(
  `CNI with the real plugins (root)${ROOT_SKIP ? `: skipped, ${ROOT_SKIP}` : ''}`,
  () => {
    const tag = `pw-t${Math.random().toString(16).slice(2, 8)}`;
    const ns = `${tag}-cni`;
    let dir: string;
    let client: CniClient;
    const netns = new Netns();
    let before: Awaited<ReturnType<typeof hostInventory>>;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pw-cni-'));
      before = await hostInventory(tag, '10.244.202.');
      const config = defaultNetworkConfigList({
        subnet: '10.244.202.0/24',
        ipamDataDir: join(dir, 'ipam'),
        name: 'pwtest',
      });
      client = new CniClient({ config, cniPath: ['/usr/lib/cni'], cacheDir: join(dir, 'cache') });
      await netns.create(ns);
    });
    afterAll(async () => {
      await client.del(ns, netnsPath(ns));
      await netns.delete(ns);
      await rm(dir, { recursive: true, force: true });
    });

    it('ADD gives an IP and a host veth; CHECK passes (also after the rename); DEL cleans up and is idempotent', async () => {
      const add = await client.add(ns, netnsPath(ns));
      expect(add.ok, JSON.stringify(add)).toBe(true);
      if (!add.ok) return;
      const net = parsePodNetwork(add.value);
      expect(net.ok).toBe(true);
      if (!net.ok) return;
      expect(net.value.ip).toMatch(/^10\.244\.202\.\d+$/);
      expect(net.value.sandboxIfname).toBe('eth0');
      // loopback plugin ran: lo is up in the pod
      const lo = await run('ip', ['-n', ns, '-o', 'link', 'show', 'lo']);
      expect(lo.stdout).toMatch(/UP/);
      expect((await client.check(ns, netnsPath(ns))).ok).toBe(true);
      const renamed = hostIfnameFor(ns);
      expect(await netns.renameLink(net.value.hostIfname, renamed)).toBe(true);
      await client.updateCachedResult(ns, 'eth0', {
        ...add.value,
        interfaces: add.value.interfaces?.map((i) => (i.sandbox ? i : { ...i, name: renamed })),
      });
      const check = await client.check(ns, netnsPath(ns));
      expect(check.ok, JSON.stringify(check)).toBe(true);
      const routes = await run('ip', ['route', 'show', `${net.value.ip}/32`]);
      expect(routes.stdout).toContain(`dev ${renamed}`);
      expect((await client.del(ns, netnsPath(ns))).ok).toBe(true);
      expect((await client.del(ns, netnsPath(ns))).ok).toBe(true);
      expect(await netns.linkExists(renamed)).toBe(false);
      const after = await hostInventory(tag, '10.244.202.');
      expect(after.links).toEqual(before.links);
      expect(after.routes).toEqual(before.routes);
    });

    it('reports plugin failures with the plugin message', async () => {
      const bad = new CniClient({
        config: { cniVersion: '1.0.0', name: 'pwbad', plugins: [{ type: 'ptp', ipam: { type: 'host-local' } }] },
        cniPath: ['/usr/lib/cni'],
        cacheDir: join(dir, 'cache'),
      });
      const r = await bad.add(`${ns}-bad`, netnsPath(ns));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.plugin).toBe('ptp');
        expect(r.error.msg.length).toBeGreaterThan(0);
      }
      await bad.del(`${ns}-bad`, netnsPath(ns));
    });
  },
);
