/**
 * Attachments on real kernel objects: tcx links on a veth inside test network namespaces (traffic only between
 * two test namespaces), and cgroup links on a child cgroup of the v2 root with a child process inside it (loopback
 * addresses only: the service address is in 127.0.0.0/8, so a missed translation cannot leave the machine).
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { attachCgroup, attachTc, cgroupV2Root, detachCgroup, detachTc, ifindexOf } from './attach.js';
import { type EventReader, openEvents } from './events.js';
import {
  addNetns,
  backendKey,
  backendVal,
  CONFIG_KEY,
  configVal,
  decodeEvent,
  EP,
  EV,
  endpointKey,
  endpointVal,
  IS_ROOT,
  inNetns,
  type PwEvent,
  ROOT_REASON,
  randomId,
  sh,
  svcKey,
  svcVal,
  TCP,
  type TestDatapath,
  testDatapath,
  UDP,
} from './fixtures.test-helper.js';
import { loadDatapath, type ProgName } from './loader.js';
import { closeFd, libbpf } from './native.js';

const execFileP = promisify(execFile);

if (!IS_ROOT) console.warn(`attach.test.ts skipped: ${ROOT_REASON}`);

/** bpf_link_info / bpf_prog_info: the ids that show what is attached. */
function linkIds(path: string): { id: number; progId: number } {
  const fd = libbpf().bpf_obj_get(path);
  if (fd < 0) throw new Error(`bpf_obj_get(${path}): ${fd}`);
  try {
    const info = Buffer.alloc(48);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(48);
    expect(libbpf().bpf_obj_get_info_by_fd(fd, info, len)).toBe(0);
    return { id: info.readUInt32LE(4), progId: info.readUInt32LE(8) };
  } finally {
    closeFd(fd);
  }
}

function progId(fd: number): number {
  const info = Buffer.alloc(256);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(256);
  expect(libbpf().bpf_obj_get_info_by_fd(fd, info, len)).toBe(0);
  return info.readUInt32LE(4);
}

async function until<T>(what: string, fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!IS_ROOT)('tcx attachments', () => {
  const id = randomId();
  const ns1 = `pw-t-${id}a`;
  const ns2 = `pw-t-${id}b`;
  const vethA = `pw-t${id}a`; // in ns1: the "host side" the programs attach to
  const vethB = `pw-t${id}b`; // in ns2: the "pod side"
  const podIp = '10.213.250.2';
  const hostIp = '10.213.250.1';
  const cleanups: (() => Promise<void>)[] = [];
  let t: TestDatapath;
  let ifindex: number;
  let reader: EventReader;
  let got: PwEvent[];

  beforeAll(async () => {
    cleanups.push(await addNetns(ns1));
    cleanups.push(await addNetns(ns2));
    await sh('ip', ['-n', ns1, 'link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB, 'netns', ns2]);
    await sh('ip', ['-n', ns1, 'addr', 'add', `${hostIp}/30`, 'dev', vethA]);
    await sh('ip', ['-n', ns2, 'addr', 'add', `${podIp}/30`, 'dev', vethB]);
    await sh('ip', ['-n', ns1, 'link', 'set', vethA, 'up']);
    await sh('ip', ['-n', ns2, 'link', 'set', vethB, 'up']);
    ifindex = inNetns(ns1, () => ifindexOf(vethA));
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  beforeEach(async () => {
    t = await testDatapath();
    got = [];
    reader = openEvents(t.dp.maps.events, (r) => got.push(decodeEvent(r)));
    t.dp.maps.config.update(CONFIG_KEY, configVal(1));
    // The "pod" may send nothing (egress enforced, default deny): every datagram it sends is one DENIED record.
    t.dp.maps.endpoints.update(endpointKey(podIp), endpointVal(300, ifindex, EP.EG_ENFORCED));
  });

  afterEach(async () => {
    reader.close();
    inNetns(ns1, () => {
      detachTc(t.pinDir, ifindex, 'ingress');
      detachTc(t.pinDir, ifindex, 'egress');
    });
    await t.cleanup();
  });

  /** One UDP datagram from the pod side (ns2) to the host side (ns1). */
  async function podSends(port: number): Promise<void> {
    const js = `const s=require('dgram').createSocket('udp4');s.send('x',${port},'${hostIp}',()=>s.close())`;
    await execFileP('ip', ['netns', 'exec', ns2, process.execPath, '-e', js], { timeout: 20_000 });
  }

  async function recordFor(port: number, r: EventReader = reader, events: PwEvent[] = got): Promise<PwEvent> {
    await podSends(port);
    return until(`a record for port ${port}`, () => {
      r.poll();
      return events.find((e) => e.dport === port);
    });
  }

  test('ifindexOf: 0 for a missing interface', () => {
    expect(ifindexOf('pw-t-absent0')).toBe(0);
    expect(ifindex).toBeGreaterThan(0);
  });

  test('attach from_pod at tcx ingress: the pod traffic is judged there; pinned link', async () => {
    inNetns(ns1, () => attachTc(t.pinDir, ifindex, 'ingress', t.dp.progFd('from_pod')));
    const link = join(t.pinDir, 'links', `tcx-${ifindex}-ingress`);
    expect(existsSync(link)).toBe(true);
    expect(linkIds(link).progId).toBe(progId(t.dp.progFd('from_pod')));
    const e = await recordFor(4001);
    expect(e).toMatchObject({ saddr: podIp, daddr: hostIp, proto: UDP, verdict: EV.denied, ifindex });
  });

  test('the agent going away leaves the program attached (fail closed); a restart reuses maps and link', async () => {
    inNetns(ns1, () => attachTc(t.pinDir, ifindex, 'ingress', t.dp.progFd('from_pod')));
    const link = join(t.pinDir, 'links', `tcx-${ifindex}-ingress`);
    const before = linkIds(link);
    reader.close();
    t.dp.close(); // the agent dies: every fd it had is gone

    const dp2 = loadDatapath({ pinDir: t.pinDir });
    const got2: PwEvent[] = [];
    const r2 = openEvents(dp2.maps.events, (r) => got2.push(decodeEvent(r)));
    try {
      // Still enforced with no agent around, and its records land in the same (pinned) ring buffer.
      expect(await recordFor(4002, r2, got2)).toMatchObject({ verdict: EV.denied, ifindex });
      // The restarted agent swaps the program in place: same link, new program.
      inNetns(ns1, () => attachTc(t.pinDir, ifindex, 'ingress', dp2.progFd('from_pod')));
      const after = linkIds(link);
      expect(after.id).toBe(before.id);
      expect(after.progId).toBe(progId(dp2.progFd('from_pod')));
      expect(after.progId).not.toBe(before.progId);
    } finally {
      r2.close();
      dp2.close();
    }
  });

  test('re-attach with another program updates the link in place', () => {
    inNetns(ns1, () => attachTc(t.pinDir, ifindex, 'egress', t.dp.progFd('to_pod')));
    const link = join(t.pinDir, 'links', `tcx-${ifindex}-egress`);
    const first = linkIds(link);
    inNetns(ns1, () => attachTc(t.pinDir, ifindex, 'egress', t.dp.progFd('from_pod')));
    expect(linkIds(link)).toEqual({ id: first.id, progId: progId(t.dp.progFd('from_pod')) });
  });

  test('detach stops enforcement and removes the pin; detaching again is a no-op', async () => {
    inNetns(ns1, () => attachTc(t.pinDir, ifindex, 'ingress', t.dp.progFd('from_pod')));
    await recordFor(4003);
    inNetns(ns1, () => detachTc(t.pinDir, ifindex, 'ingress'));
    expect(existsSync(join(t.pinDir, 'links', `tcx-${ifindex}-ingress`))).toBe(false);
    inNetns(ns1, () => detachTc(t.pinDir, ifindex, 'ingress'));
    await podSends(4004);
    await new Promise((r) => setTimeout(r, 300));
    reader.poll();
    expect(got.filter((e) => e.dport === 4004)).toEqual([]);
  });

  test('an interface that does not exist: ENODEV, named', () => {
    expect(() => inNetns(ns1, () => attachTc(t.pinDir, 999_999, 'ingress', t.dp.progFd('from_pod')))).toThrow(
      'bpf_link_create(tcx ingress, ifindex 999999): ENODEV (No such device)',
    );
  });

  test('the interface going away: re-attach replaces the defunct link (ENODEV), detach still succeeds', async () => {
    const extra = `pw-t${id}c`;
    await sh('ip', ['-n', ns1, 'link', 'add', extra, 'type', 'veth', 'peer', 'name', `pw-t${id}d`]);
    const xi = inNetns(ns1, () => ifindexOf(extra));
    inNetns(ns1, () => attachTc(t.pinDir, xi, 'ingress', t.dp.progFd('from_pod')));
    await sh('ip', ['-n', ns1, 'link', 'del', extra]);
    // Re-attaching to the vanished interface's pin: the defunct link is replaced (and the device is gone: ENODEV).
    expect(() => inNetns(ns1, () => attachTc(t.pinDir, xi, 'ingress', t.dp.progFd('from_pod')))).toThrow(/ENODEV/);
    inNetns(ns1, () => detachTc(t.pinDir, xi, 'ingress'));
    expect(existsSync(join(t.pinDir, 'links', `tcx-${xi}-ingress`))).toBe(false);
  });
});

const CGROUP_PROGS: ProgName[] = ['sock_connect4', 'sock_sendmsg4', 'sock_recvmsg4', 'sock_getpeername4'];

/** What the child process inside the cgroup saw. */
interface ChildReport {
  tcp: string;
  refused: string;
  udpFrom: string;
  udpPeer: string;
  udpConnectedFrom: string;
}

const CHILD = `
const net = require('node:net');
const dgram = require('node:dgram');
const [vip, tcpPort, refusedPort, udpPort] = process.argv.slice(1);
const out = {};
const tcp = (port) => new Promise((res) => {
  const s = net.connect(Number(port), vip);
  s.on('connect', () => { res(s.remoteAddress + ':' + s.remotePort); s.destroy(); });
  s.on('error', (e) => res(e.code));
});
const udp = (connected) => new Promise((res) => {
  const s = dgram.createSocket('udp4');
  s.on('error', (e) => { clearTimeout(timer); s.close(); res({ from: e.code }); });
  const timer = setTimeout(() => { s.close(); res({ from: "timeout" }); }, 1000);
  s.on('message', (_m, r) => { clearTimeout(timer); const peer = connected ? s.remoteAddress() : undefined; s.close(); res({ from: r.address + ':' + r.port, peer }); });
  if (connected) s.connect(Number(udpPort), vip, () => s.send('ping'));
  else s.send('ping', Number(udpPort), vip);
});
(async () => {
  out.tcp = await tcp(tcpPort);
  out.refused = await tcp(refusedPort);
  out.udpFrom = (await udp(false)).from;
  const c = await udp(true);
  out.udpConnectedFrom = c.from;
  out.udpPeer = c.peer ? c.peer.address + ':' + c.peer.port : 'none';
  process.stdout.write(JSON.stringify(out));
})();
`;

describe.skipIf(!IS_ROOT || !cgroupV2Root())('cgroup attachments (socket load balancing)', () => {
  const root = cgroupV2Root() ?? '/nonexistent';
  const cg = join(root, `pw-t-${randomId()}`);
  const cg2 = `${cg}x`;
  const VIP = '127.213.0.10';
  let t: TestDatapath;
  let tcpServer: net.Server;
  let udpServer: dgram.Socket;
  let tcpPort: number;
  let udpPort: number;

  beforeAll(async () => {
    mkdirSync(cg);
    mkdirSync(cg2);
    tcpServer = net.createServer((s) => s.end());
    await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', () => r()));
    tcpPort = (tcpServer.address() as net.AddressInfo).port;
    udpServer = dgram.createSocket('udp4');
    udpServer.on('message', (m, r) => udpServer.send(m, r.port, r.address));
    await new Promise<void>((r) => udpServer.bind(0, '127.0.0.1', () => r()));
    udpPort = udpServer.address().port;
  });

  afterAll(async () => {
    tcpServer?.close();
    udpServer?.close();
    for (const d of [cg, cg2]) if (existsSync(d)) rmdirSync(d);
  });

  beforeEach(async () => {
    t = await testDatapath();
    const m = t.dp.maps;
    m.services.update(svcKey(VIP, 80, TCP), svcVal(1, 1));
    m.backends.update(backendKey(1, 0), backendVal('127.0.0.1', tcpPort));
    m.services.update(svcKey(VIP, 81, TCP), svcVal(2, 0)); // no backends
    m.services.update(svcKey(VIP, 53, UDP), svcVal(3, 1));
    m.backends.update(backendKey(3, 0), backendVal('127.0.0.1', udpPort));
  });

  afterEach(async () => {
    for (const p of CGROUP_PROGS) detachCgroup(t.pinDir, p);
    await t.cleanup();
  });

  async function childInCgroup(dir: string): Promise<ChildReport> {
    const script = `echo $$ > ${dir}/cgroup.procs && exec "$0" -e "$1" "$2" "$3" "$4" "$5"`;
    const { stdout } = await execFileP('sh', ['-c', script, process.execPath, CHILD, VIP, '80', '81', '53'], {
      timeout: 20_000,
    });
    return JSON.parse(stdout) as ChildReport;
  }

  test('connect/sendmsg go to a backend; recvmsg/getpeername show the service; no backends: ECONNREFUSED', async () => {
    for (const p of CGROUP_PROGS) attachCgroup(t.pinDir, cg, p, t.dp.progFd(p));
    const r = await childInCgroup(cg);
    expect(r).toEqual({
      tcp: `127.0.0.1:${tcpPort}`, // TCP keeps no reverse entry: getpeername shows the backend
      refused: 'ECONNREFUSED',
      udpFrom: `${VIP}:53`,
      udpConnectedFrom: `${VIP}:53`,
      udpPeer: `${VIP}:53`,
    });
    expect(t.dp.maps.revnat.keys().length).toBeGreaterThanOrEqual(2);
  });

  test('only the attached cgroup is translated', async () => {
    for (const p of CGROUP_PROGS) attachCgroup(t.pinDir, cg2, p, t.dp.progFd(p));
    const r = await childInCgroup(cg);
    expect(r.tcp).toBe('ECONNREFUSED'); // nothing listens on the service address itself
    expect(r.udpFrom).toBe('timeout');
  });

  test('re-attach updates the pinned link in place; another cgroup replaces it', () => {
    attachCgroup(t.pinDir, cg, 'sock_connect4', t.dp.progFd('sock_connect4'));
    const link = join(t.pinDir, 'links', 'cgroup-sock_connect4');
    const first = linkIds(link);
    const dp2 = loadDatapath({ pinDir: t.pinDir });
    try {
      attachCgroup(t.pinDir, cg, 'sock_connect4', dp2.progFd('sock_connect4'));
      expect(linkIds(link)).toEqual({ id: first.id, progId: progId(dp2.progFd('sock_connect4')) });
      attachCgroup(t.pinDir, cg2, 'sock_connect4', dp2.progFd('sock_connect4'));
      expect(linkIds(link).id).not.toBe(first.id);
    } finally {
      dp2.close();
    }
  });

  test('a tc program is refused; detach is idempotent', () => {
    expect(() => attachCgroup(t.pinDir, cg, 'from_pod', t.dp.progFd('from_pod'))).toThrow(/not a cgroup program/);
    detachCgroup(t.pinDir, 'sock_connect4');
    detachCgroup(t.pinDir, 'sock_connect4');
  });
});
