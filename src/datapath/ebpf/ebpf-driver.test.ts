/**
 * The eBPF driver against the real kernel: the shared live contract (live-contract.test-helper.ts) with its own
 * bpffs, and the eBPF-specific behaviour: the agent dies (programs and maps stay and enforce), a new driver on the
 * same directory converges without cutting allowed connections, anti-spoofing, the verdict events. Needs root and
 * the compiled object (npm run build); skipped otherwise.
 */
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropFromEvent, verdictFromBpfEvent } from '../../observer/bpf-verdict.js';
import type { DatapathDrop, KernelVerdict } from '../../observer/build.js';
import { endpoint, enforced } from '../builders.test-helper.js';
import { runDriverContract } from '../contract.test-helper.js';
import { aMayReachB, liveContractHarness } from '../live-contract.test-helper.js';
import { createTestNet, type TestNet } from '../testing-netns.js';
import type { EndpointState } from '../types.js';
import { createEbpfDriver } from './ebpf-driver.js';
import { mountBpffs, unmountBpffs } from './kernel/bpffs.js';
import { openEvents } from './kernel/events.js';
import { bpfObjectPath, loadDatapath } from './kernel/loader.js';
import { libbpf } from './kernel/native.js';
import { decodeEvent } from './layout.js';

const isRoot = process.getuid?.() === 0;
const live = isRoot && existsSync(bpfObjectPath());

const dirs: string[] = [];
function stateDir(): string {
  const d = mkdtempSync('/var/tmp/pw-ebpf-test-');
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** bpffs mounts under our own directories (the teardown check: none left). */
function ourMounts(prefix: string): string {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(prefix))
    .join('\n');
}

describe.skipIf(!live)('eBPF driver (live)', () => {
  runDriverContract(
    liveContractHarness({
      name: 'ebpf',
      create: (n, net) =>
        createEbpfDriver({
          stateDir: stateDir(),
          tproxy: { table: n.routeTable, pref: n.pref },
          interfaceOf: interfacesOf(net),
        }),
      hostObjects: () => ourMounts('/var/tmp/pw-ebpf-test-'),
    }),
  );
});

describe.skipIf(!live)('eBPF driver (live), programs as tc filters', () => {
  runDriverContract(
    liveContractHarness({
      name: 'ebpf (tc filters)',
      create: (n, net) =>
        createEbpfDriver({
          stateDir: stateDir(),
          tproxy: { table: n.routeTable, pref: n.pref },
          interfaceOf: interfacesOf(net),
          attach: 'tc',
        }),
      hostObjects: () => ourMounts('/var/tmp/pw-ebpf-test-'),
    }),
  );
});

/** An interface's IPv6 link-local address once duplicate address detection is done (it cannot be used before). */
async function linkLocal(where: string, ifname: string, n: TestNet): Promise<string> {
  for (let i = 0; i < 60; i++) {
    const r = await n.exec(where, ['ip', '-6', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'link']);
    const m = /inet6 (fe80::[0-9a-f:]+)\/64/.exec(r.stdout);
    if (m && !r.stdout.includes('tentative')) return m[1]!;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${where} ${ifname}: no usable IPv6 link-local address`);
}

/** The test pods' host-side veths by pod IP (the contract's endpoints carry no hostIfname). */
function interfacesOf(net: TestNet): (ep: EndpointState) => string | undefined {
  const byIp = new Map(Object.values(net.pods).map((p) => [p.ip, p.hostIfname]));
  return (ep) => byIp.get(ep.ip);
}

describe.skipIf(!live)('eBPF driver (live): agent death, restart, anti-spoofing, events', () => {
  it('the agent dies: the programs keep enforcing; a new driver converges and keeps allowed connections', async () => {
    const dir = stateDir();
    const n = await createTestNet(['a', 'b', 'c']);
    const b = n.pods.b!;
    const state = aMayReachB(n, 80);
    state.endpoints.push(endpoint('default/c', n.pods.c!.ip, 1003));
    const first = createEbpfDriver({ stateDir: dir, manageRouting: false, interfaceOf: interfacesOf(n) });
    const second = createEbpfDriver({ stateDir: dir, manageRouting: false, interfaceOf: interfacesOf(n) });
    const ka = await n.keepAliveClient('a', b.ip, 80);
    try {
      await first.apply(state);
      expect((await ka.request('/', 1500)).ok).toBe(true);
      // The first agent is gone without teardown (its fds closed with it): still enforcing.
      expect((await n.curl('c', `http://${b.ip}:80/`, { timeoutS: 1 })).exit).not.toBe(0);
      expect(await second.apply(state)).toMatchObject({ full: true, changes: 0 });
      expect(await ka.request('/', 1500)).toMatchObject({ ok: true, socketReused: true });
      expect((await n.curl('a', `http://${b.ip}:81/`, { timeoutS: 1 })).exit).not.toBe(0);
      expect((await n.curl('c', `http://${b.ip}:80/`, { timeoutS: 1 })).exit).not.toBe(0);
      // The new agent's change applies to the established connection.
      const revoked = structuredClone(state);
      revoked.endpoints[1]!.policy.ingress = enforced({});
      await second.apply(revoked);
      expect((await ka.request('/', 1500)).ok).toBe(false);
    } finally {
      ka.close();
      await second.teardown();
      await n.teardown();
    }
    expect(ourMounts(dir)).toBe('');
  });

  /** Packets the host sent out of an interface (what the stack forwarded to the pod behind it). */
  const txPackets = (ifname: string) => Number(readFileSync(`/sys/class/net/${ifname}/statistics/tx_packets`, 'utf8'));

  it.each([
    { hostRouting: true, viaHost: false },
    { hostRouting: false, viaHost: true },
  ])(
    'host routing $hostRouting: pod → local pod traffic passes through the host’s stack: $viaHost',
    async ({ hostRouting, viaHost }) => {
      const n = await createTestNet(['a', 'b']);
      const b = n.pods.b!;
      const driver = createEbpfDriver({
        stateDir: stateDir(),
        manageRouting: false,
        interfaceOf: interfacesOf(n),
        hostRouting,
      });
      try {
        await driver.apply(aMayReachB(n, 80));
        // The first exchange teaches from_pod both pods' addresses (until then packets take the stack).
        expect((await n.curl('a', `http://${b.ip}:80/`, { timeoutS: 2 })).code).toBe(200);
        const before = txPackets(b.hostIfname);
        for (let i = 0; i < 10; i++) expect((await n.curl('a', `http://${b.ip}:80/`, { timeoutS: 2 })).code).toBe(200);
        // Ten connections are ≥ 50 packets to b; redirected ones never leave through b's host veth.
        const forwarded = txPackets(b.hostIfname) - before;
        if (viaHost) expect(forwarded).toBeGreaterThanOrEqual(50);
        else expect(forwarded).toBeLessThan(5);
        // And the policy still applies to what is redirected.
        expect((await n.curl('a', `http://${b.ip}:81/`, { timeoutS: 1 })).exit).not.toBe(0);
      } finally {
        await driver.teardown();
        await n.teardown();
      }
    },
  );

  it('teardown unmounts a bpffs whose maps another build pinned (layouts that cannot be opened)', async () => {
    const other = stateDir();
    const dir = stateDir();
    await mountBpffs(join(other, 'bpf'));
    await mountBpffs(join(dir, 'bpf'));
    const dp = loadDatapath({ pinDir: join(other, 'bpf') });
    try {
      // An `endpoints` pin with the connection table's key size: what a build with another layout would leave.
      expect(libbpf().bpf_obj_pin(dp.maps.ct.fd, join(dir, 'bpf', 'endpoints'))).toBe(0);
      expect(() => loadDatapath({ pinDir: join(dir, 'bpf') })).toThrow();
    } finally {
      dp.close();
      await unmountBpffs(join(other, 'bpf'));
    }
    await createEbpfDriver({ stateDir: dir, manageRouting: false }).teardown();
    expect(ourMounts(dir)).toBe('');
  });

  it('IPv6 from a pod is dropped (the cluster is IPv4-only): link-local datagrams to the host stop', async () => {
    const n = await createTestNet(['a', 'b']);
    const a = n.pods.a!;
    const host = createSocket('udp6');
    const got: string[] = [];
    host.on('message', (m) => got.push(String(m)));
    await new Promise<void>((res) => host.bind(0, '::', () => res()));
    const port = host.address().port;
    const driver = createEbpfDriver({ stateDir: stateDir(), manageRouting: false, interfaceOf: interfacesOf(n) });
    const send = async (tag: string) => {
      const gw = await linkLocal('host', a.hostIfname, n);
      const script = `const s=require('dgram').createSocket('udp6');s.send('${tag}',${port},'${gw}%eth0',()=>s.close())`;
      await n.exec('a', [process.execPath, '-e', script]);
      await new Promise((res) => setTimeout(res, 300));
      return got.includes(tag);
    };
    try {
      await linkLocal('a', 'eth0', n);
      // The premise: without podwall the pod reaches the host over IPv6.
      expect(await send('before')).toBe(true);
      await driver.apply(aMayReachB(n, 80));
      expect(await send('after')).toBe(false);
      expect((await n.curl('a', `http://${n.pods.b!.ip}:80/`, { timeoutS: 2 })).code).toBe(200);
    } finally {
      host.close();
      await driver.teardown();
      await n.teardown();
    }
  });

  it('a pod cannot pose as the host: a spoofed source address is dropped before it is judged', async () => {
    const dir = stateDir();
    const n = await createTestNet(['a', 'b']);
    const b = n.pods.b!;
    const hostIp = n.addr(100);
    const drops: DatapathDrop[] = [];
    const driver = createEbpfDriver({
      stateDir: dir,
      manageRouting: false,
      interfaceOf: interfacesOf(n),
      onEvent: (rec) => {
        const d = dropFromEvent(decodeEvent(rec));
        if (d) drops.push(d);
      },
      eventPollMs: 10,
    });
    try {
      await driver.apply(aMayReachB(n, 81, [hostIp]));
      expect((await n.curl('a', `http://${b.ip}:81/`, { timeoutS: 2 })).code).toBe(200);
      // From the spoofed "host" address port 80 would be allowed (the host reaches any pod) — if it were judged.
      await n.exec('a', ['ip', 'addr', 'add', `${hostIp}/32`, 'dev', 'eth0']);
      const r = await n.curl('a', `http://${b.ip}:80/`, { timeoutS: 1, extra: ['--interface', hostIp] });
      expect(r.exit).not.toBe(0);
      // Reported as what it is: not a policy's drop.
      await new Promise((res) => setTimeout(res, 50));
      expect(drops).toContainEqual(
        expect.objectContaining({
          reason: 'INVALID_SOURCE_IP',
          direction: 'egress',
          packet: expect.objectContaining({ src: hostIp, dst: b.ip, protocol: 'TCP', dport: 80 }),
        }),
      );
    } finally {
      await driver.teardown();
      await n.teardown();
    }
  });

  it('reports one verdict per judged direction, and one CUT record when a change cuts a connection', async () => {
    const dir = stateDir();
    const n = await createTestNet(['a', 'b']);
    const a = n.pods.a!;
    const b = n.pods.b!;
    const driver = createEbpfDriver({ stateDir: dir, manageRouting: false, interfaceOf: interfacesOf(n) });
    const allow = aMayReachB(n, 80);
    await driver.apply(allow);
    const dp = loadDatapath({ pinDir: driver.pinDir });
    const records: KernelVerdict[] = [];
    const reader = openEvents(dp.maps.events, (rec: Buffer) => {
      const v = verdictFromBpfEvent(rec);
      if (v) records.push(v);
    });
    const seen = () =>
      records.map((r) => ({ ...r.decision, src: r.packet.src, dst: r.packet.dst, dport: r.packet.dport }));
    const ka = await n.keepAliveClient('a', b.ip, 80);
    try {
      expect((await ka.request('/', 1500)).ok).toBe(true);
      reader.poll();
      expect(seen()).toContainEqual({
        direction: 'ingress',
        verdict: 'allow',
        level: 'id',
        src: a.ip,
        dst: b.ip,
        dport: 80,
      });
      records.length = 0;
      const revoked = structuredClone(allow);
      revoked.endpoints[1]!.policy.ingress = enforced({});
      await driver.apply(revoked);
      expect((await ka.request('/', 1500)).ok).toBe(false);
      reader.poll();
      expect(seen().filter((r) => r.cut)).toEqual([
        { direction: 'ingress', verdict: 'denied', level: 'default', cut: true, src: a.ip, dst: b.ip, dport: 80 },
      ]);
    } finally {
      ka.close();
      reader.close();
      dp.close();
      await driver.teardown();
      await n.teardown();
    }
  });
});
