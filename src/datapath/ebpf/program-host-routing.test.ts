/**
 * BPF host routing in from_pod, under BPF_PROG_TEST_RUN: what the program learns about a pod's Ethernet addresses,
 * and when a passed packet is handed straight to a local pod (TC_ACT_REDIRECT, rewritten as the kernel's forwarding
 * would have: TTL − 1 with a valid header checksum, the destination pod's gateway and interface as MACs) instead
 * of going through the host's stack (TC_ACT_OK with PW_MARK_JUDGED, frame untouched).
 *
 * Test runs happen on loopback (ifindex 1): "a pod's interface" is ifindex 1, a moved pod is any other number.
 * The redirect itself (bpf_redirect_peer into the pod's namespace) is covered live by the datapath contract suite.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { parseIpv4 } from '../ipv4.js';
import {
  ACK,
  CONFIG_KEY,
  configVal,
  ctKey,
  ctVal,
  DIR,
  EP,
  endpointKey,
  endpointVal,
  type FrameOpts,
  frame,
  IS_ROOT,
  ipcacheKey,
  ipcacheVal,
  ipv4HeaderChecksum,
  LEVEL,
  MARK_JUDGED,
  policyKey,
  policyVal,
  ROOT_REASON,
  SYN,
  SYNACK,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  TCP,
  type TestDatapath,
  testDatapath,
  UDP,
  VERDICT,
} from './kernel/fixtures.test-helper.js';
import { testRun } from './kernel/test-run.js';
import { decodeL2Val, encodeL2Key, encodeL2Val, formatMac, type L2Val, PW_CFG_HOST_ROUTING } from './layout.js';

const LO = 1;
const A = { ip: '10.214.0.1', id: 300, mac: '02:aa:00:00:00:01', gw: '02:fe:00:00:00:01' };
const B = { ip: '10.214.0.2', id: 400, mac: '02:bb:00:00:00:02', gw: '02:fe:00:00:00:02' };
/** A pod on another node. */
const R = { ip: '10.214.9.9', id: 500 };

if (!IS_ROOT) console.warn(`program-host-routing.test.ts skipped: ${ROOT_REASON}`);

let t: TestDatapath;
type Maps = TestDatapath['dp']['maps'];

const l2Key = (ip: string) => encodeL2Key({ ip: parseIpv4(ip) });
function learned(ip: string): L2Val | undefined {
  const v = t.dp.maps.l2.lookup(l2Key(ip));
  return v ? decodeL2Val(v) : undefined;
}
function knowL2(m: Maps, pod: { ip: string; mac: string; gw: string }, ifindex = LO): void {
  m.l2.update(l2Key(pod.ip), encodeL2Val({ ifindex, podMac: pod.mac, gwMac: pod.gw }));
}

/** A frame from `src` as its pod sends it: its own MAC as source, its gateway as destination. */
function fromPod(src: typeof A, dst: string, o: Partial<FrameOpts> = {}): FrameOpts {
  return {
    src: src.ip,
    dst,
    proto: TCP,
    sport: 40000,
    dport: 80,
    tcpFlags: SYN,
    ethSrc: src.mac,
    ethDst: src.gw,
    ...o,
  };
}

function run(f: FrameOpts, ifindex = LO) {
  const r = testRun(t.dp.progFd('from_pod'), frame(f), { ifindex });
  return { retval: r.retval, mark: r.mark, data: r.data };
}

const mac = (b: Buffer, off: number) => formatMac(b.subarray(off, off + 6));

describe.skipIf(!IS_ROOT)('from_pod: BPF host routing', () => {
  beforeEach(async () => {
    t = await testDatapath();
    const m = t.dp.maps;
    m.config.update(CONFIG_KEY, configVal(1, 0, PW_CFG_HOST_ROUTING));
    for (const p of [A, B, R]) m.ipcache.update(ipcacheKey(p.ip), ipcacheVal(p.id));
    // Both pods behind interfaces with a peer (veths): host routing may hand packets to them.
    m.endpoints.update(endpointKey(A.ip), endpointVal(A.id, LO, EP.PEER));
    m.endpoints.update(endpointKey(B.ip), endpointVal(B.id, LO, EP.PEER));
  });

  afterEach(async () => {
    await t?.cleanup();
  });

  describe('learning a pod’s Ethernet addresses', () => {
    test('a packet from a pod records its interface, its MAC and its gateway’s', () => {
      run(fromPod(A, R.ip));
      expect(learned(A.ip)).toEqual({ ifindex: LO, podMac: A.mac, gwMac: A.gw });
    });

    test('a broadcast destination says nothing about the gateway: not learned', () => {
      run(fromPod(A, '10.214.0.255', { proto: UDP, ethDst: 'ff:ff:ff:ff:ff:ff' }));
      expect(learned(A.ip)).toBeUndefined();
    });

    test('a spoofed source (the address belongs to another interface) is dropped and not learned', () => {
      t.dp.maps.endpoints.update(endpointKey(A.ip), endpointVal(A.id, 999, EP.PEER));
      expect(run(fromPod(A, B.ip)).retval).toBe(TC_ACT_SHOT);
      expect(learned(A.ip)).toBeUndefined();
    });

    test('a pod seen on a new interface is learned again', () => {
      knowL2(t.dp.maps, { ...A, mac: '02:00:00:00:99:99' }, 999);
      run(fromPod(A, R.ip));
      expect(learned(A.ip)).toEqual({ ifindex: LO, podMac: A.mac, gwMac: A.gw });
    });
  });

  describe('delivery of a passed packet', () => {
    test('to a local pod with known addresses: redirected, addressed as the host would forward it', () => {
      knowL2(t.dp.maps, B);
      const sent = frame(fromPod(A, B.ip));
      const r = run(fromPod(A, B.ip));
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(r.mark & MARK_JUDGED).toBe(0);
      expect(mac(r.data, 0)).toBe(B.mac);
      expect(mac(r.data, 6)).toBe(B.gw);
      const ip = r.data.subarray(14, 34);
      expect(ip[8]).toBe(63);
      expect(ipv4HeaderChecksum(ip)).toBe(0);
      // Everything after the TTL's checksum word is the packet as sent.
      expect(r.data.subarray(26)).toEqual(sent.subarray(26));
      // The connection is tracked as any other.
      expect(
        t.dp.maps.ct.lookup(ctKey({ saddr: A.ip, daddr: B.ip, sport: 40000, dport: 80, proto: TCP })),
      ).toBeDefined();
    });

    test('established packets both ways are redirected: the original direction and the reply', () => {
      const m = t.dp.maps;
      knowL2(m, A);
      knowL2(m, B);
      m.ct.update(ctKey({ saddr: A.ip, daddr: B.ip, sport: 40000, dport: 80, proto: TCP }), ctVal(1, 0));
      expect(run(fromPod(A, B.ip, { tcpFlags: ACK })).retval).toBe(TC_ACT_REDIRECT);
      const reply = run(fromPod(B, A.ip, { sport: 80, dport: 40000, tcpFlags: SYNACK }));
      expect(reply.retval).toBe(TC_ACT_REDIRECT);
      expect(mac(reply.data, 0)).toBe(A.mac);
    });

    const stackCases: { name: string; setup: (m: Maps) => void; packet: FrameOpts }[] = [
      { name: 'the destination’s addresses are not known yet', setup: () => {}, packet: fromPod(A, B.ip) },
      {
        name: 'the learned interface is not the endpoint’s any more (pod recreated)',
        setup: (m) => knowL2(m, B, 999),
        packet: fromPod(A, B.ip),
      },
      {
        name: 'the TTL would expire (the stack answers time exceeded)',
        setup: (m) => knowL2(m, B),
        packet: fromPod(A, B.ip, { ttl: 1 }),
      },
      { name: 'the destination is not a local pod', setup: (m) => knowL2(m, B), packet: fromPod(A, R.ip) },
      {
        name: 'the destination’s interface has no peer (not a veth: a redirect would be dropped)',
        setup: (m) => {
          knowL2(m, B);
          m.endpoints.update(endpointKey(B.ip), endpointVal(B.id, LO, 0));
        },
        packet: fromPod(A, B.ip),
      },
      {
        name: 'host routing is off',
        setup: (m) => {
          knowL2(m, B);
          m.config.update(CONFIG_KEY, configVal(1, 0, 0));
        },
        packet: fromPod(A, B.ip),
      },
    ];
    test.each(stackCases)('through the host’s stack when $name', ({ setup, packet }) => {
      setup(t.dp.maps);
      const r = run(packet);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.mark & MARK_JUDGED).toBe(MARK_JUDGED);
      expect(r.data).toEqual(frame(packet));
    });

    test('a packet the destination’s ingress policy denies is dropped, never redirected', () => {
      const m = t.dp.maps;
      knowL2(m, B);
      m.endpoints.update(endpointKey(B.ip), endpointVal(B.id, LO, EP.IN_ENFORCED | EP.PEER));
      expect(run(fromPod(A, B.ip)).retval).toBe(TC_ACT_SHOT);
      m.policy.update(
        policyKey({ ep: B.ip, dir: DIR.ingress, level: LEVEL.identity, proto: TCP, peer: A.id, port: 80 }),
        policyVal(VERDICT.allow),
      );
      expect(run(fromPod(A, B.ip, { sport: 40001 })).retval).toBe(TC_ACT_REDIRECT);
    });
  });
});
