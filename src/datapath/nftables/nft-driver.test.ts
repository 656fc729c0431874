/**
 * The nftables driver against the real kernel: the shared live contract (live-contract.test-helper.ts) with a unique
 * table, and nftables-specific behaviour (verdict cache, restart, anti-spoofing, NFLOG). Needs root; skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type NflogPacket, openNflog } from '../../observer/nflog.js';
import { parseIpv4Packet } from '../../observer/packet.js';
import { desired, endpoint, enforced, seg } from '../builders.test-helper.js';
import { runDriverContract } from '../contract.test-helper.js';
import { aMayReachB, liveContractHarness, sh } from '../live-contract.test-helper.js';
import { createTestNet } from '../testing-netns.js';
import { createNftDriver } from './nft-driver.js';
import { createNftRunner } from './runner.js';

const isRoot = process.getuid?.() === 0;
const hasNft = (() => {
  try {
    execFileSync('nft', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
const live = isRoot && hasNft;

describe.skipIf(!live)('nftables driver (live)', () => {
  runDriverContract(
    liveContractHarness({
      name: 'nftables',
      create: (n) => createNftDriver({ table: `pw-test-${n.suffix}`, tproxy: { table: n.routeTable, pref: n.pref } }),
      hostObjects: (n) =>
        sh('nft', ['list', 'tables'])
          .split('\n')
          .filter((l) => l.includes(`pw-test-${n.suffix}`))
          .join('\n'),
    }),
  );
});

describe.skipIf(!live)('nftables driver: measurements and details', () => {
  it('applies incremental element updates quickly, and falls back to a full load on drift', async () => {
    const table = `pw-test-${randomBytes(3).toString('hex')}`;
    const driver = createNftDriver({ table, manageRouting: false });
    try {
      const eps = Array.from({ length: 50 }, (_, i) =>
        endpoint(`ns/p${i}`, `10.213.255.${i + 2}`, 2000 + i, {
          ingress: enforced({ byIdentity: { [2000 + ((i + 1) % 50)]: [seg('TCP', 80), seg('TCP', 8000, 8100)] } }),
        }),
      );
      const s1 = desired({ endpoints: eps });
      const full = await driver.apply(s1);
      const fullMs = driver.last!.ms;
      expect(full.full).toBe(true);
      const s2 = structuredClone(s1);
      s2.endpoints[7]!.policy.ingress.byIdentity[2008]!.push(seg('TCP', 443));
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const st = await driver.apply(i % 2 === 0 ? s2 : s1);
        expect(st.full).toBe(false);
        expect(st.changes).toBe(1);
        times.push(driver.last!.ms);
      }
      times.sort((a, b) => a - b);
      console.log(
        `[measure] runner=${driver.runner.kind} full load 50 endpoints (${full.changes} ops): ${fullMs.toFixed(1)} ms; ` +
          `one-element update median ${times[10]!.toFixed(2)} ms`,
      );
      // Drift: someone removed an element behind our back → the incremental delete of it fails → full reload.
      await createNftRunner().run(`delete element inet ${table} in_default_deny { 10.213.255.9 }\n`);
      const s3 = structuredClone(s1);
      s3.endpoints.splice(7, 1);
      const st = await driver.apply(s3);
      expect(st.full).toBe(true);
      expect(await driver.apply(s1)).toMatchObject({ full: false });
    } finally {
      await driver.teardown();
    }
    expect(sh('nft', ['list', 'tables'])).not.toContain(table);
  });
});

describe.skipIf(!live)('nftables driver (live): verdict cache, restart, anti-spoofing', () => {
  it('an accepted connection carries the policy generation; drift stays unseen until the next apply re-judges it', async () => {
    const table = `pw-test-${randomBytes(3).toString('hex')}`;
    const nflogGroup = 20000 + Math.floor(Math.random() * 20000);
    const logged: NflogPacket[] = [];
    const reader = await openNflog({ group: nflogGroup, onPacket: (p) => logged.push(p) });
    const n = await createTestNet(['a', 'b']);
    const driver = createNftDriver({ table, manageRouting: false, nflogGroup });
    const a = n.pods.a!;
    const b = n.pods.b!;
    const allow = aMayReachB(n, 80);
    const ka = await n.keepAliveClient('a', b.ip, 80);
    try {
      await driver.apply(allow);
      expect((await ka.request('/', 1500)).ok).toBe(true);
      const gen = /elements = \{ (0x[0-9a-f]+) \}/.exec(sh('nft', ['list', 'set', 'inet', table, 'gen_now']))?.[1];
      expect(gen).toBeDefined();
      const ct = sh('conntrack', ['-L', '-p', 'tcp', '-s', a.ip, '-d', b.ip, '--dport', '80']);
      expect(ct).toContain(`mark=${Number(gen)}`);
      // Remove b's allow element behind the driver's back: new connections are dropped, the judged one is not.
      await createNftRunner().run(`delete element inet ${table} in_id_port { ${b.ip} . 1001 . tcp . 80 }\n`);
      expect((await n.curl('a', `http://${b.ip}:80/`, { timeoutS: 1 })).exit).not.toBe(0);
      expect((await ka.request('/', 1500)).ok).toBe(true);
      // The driver's next change (any change) moves the generation: the established connection is re-judged
      // against the drifted map and cut.
      const other = structuredClone(allow);
      other.endpoints[0]!.policy.egress = enforced({ wildcard: [seg('TCP', 0, 65535)] });
      await driver.apply(other);
      expect((await ka.request('/', 1500)).ok).toBe(false);
      // The cut is logged once for the connection (its retransmissions are not).
      const deadline = Date.now() + 3000;
      while (!logged.some((p) => p.prefix.startsWith('pw:in:denied:def:cut')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const cuts = logged.filter((p) => p.prefix === 'pw:in:denied:def:cut ');
      expect(cuts).toHaveLength(1);
      expect(parseIpv4Packet(cuts[0]!.payload)).toMatchObject({ src: a.ip, dst: b.ip, dport: 80 });
    } finally {
      ka.close();
      await driver.teardown();
      driver.runner.close();
      await n.teardown();
      await reader.close();
    }
    expect(sh('nft', ['list', 'tables'])).not.toContain(table);
  });

  it('an agent restart (a new driver, full atomic replace) keeps established allowed connections and enforces', async () => {
    const table = `pw-test-${randomBytes(3).toString('hex')}`;
    const n = await createTestNet(['a', 'b']);
    const b = n.pods.b!;
    const state = aMayReachB(n, 80);
    const first = createNftDriver({ table, manageRouting: false });
    const second = createNftDriver({ table, manageRouting: false });
    const ka = await n.keepAliveClient('a', b.ip, 80);
    try {
      await first.apply(state);
      expect((await ka.request('/', 1500)).ok).toBe(true);
      // The old agent is gone without teardown; the new one knows nothing and loads everything at once.
      expect(await second.apply(state)).toMatchObject({ full: true });
      const r = await ka.request('/', 1500);
      expect(r).toMatchObject({ ok: true, socketReused: true });
      expect((await n.curl('a', `http://${b.ip}:81/`, { timeoutS: 1 })).exit).not.toBe(0);
      expect((await n.curl('a', `http://${b.ip}:80/`, { timeoutS: 2 })).code).toBe(200);
    } finally {
      ka.close();
      await second.teardown();
      first.runner.close();
      second.runner.close();
      await n.teardown();
    }
    expect(sh('nft', ['list', 'tables'])).not.toContain(table);
  });

  it('a pod cannot pose as the host: a spoofed source address is dropped before it is judged', async () => {
    const table = `pw-test-${randomBytes(3).toString('hex')}`;
    const n = await createTestNet(['a', 'b']);
    const b = n.pods.b!;
    // An address of "the host" that the host does not route to pod a (below .192, see TestNet.addr).
    const hostIp = n.addr(100);
    const state = aMayReachB(n, 81, [hostIp]);
    const driver = createNftDriver({ table, manageRouting: false });
    const conntrackFrom = (src: string) => sh('conntrack', ['-L', '-s', src, '-d', b.ip]);
    try {
      await driver.apply(state);
      // a's own address reaches the allowed port, so the path works and the table enforces.
      expect((await n.curl('a', `http://${b.ip}:81/`, { timeoutS: 2 })).code).toBe(200);
      // From the spoofed "host" address, port 80 would be allowed (the host may reach any pod) — if it got judged.
      await n.exec('a', ['ip', 'addr', 'add', `${hostIp}/32`, 'dev', 'eth0']);
      await n.curl('a', `http://${b.ip}:80/`, { timeoutS: 1, extra: ['--interface', hostIp] });
      expect(conntrackFrom(hostIp)).not.toContain(`dst=${b.ip}`);
    } finally {
      await driver.teardown();
      driver.runner.close();
      await n.teardown();
    }
    expect(sh('nft', ['list', 'tables'])).not.toContain(table);
  });
});
