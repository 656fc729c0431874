/**
 * The compiled tc programs (dist/bpf/podwall.bpf.o) under BPF_PROG_TEST_RUN: crafted frames into from_pod/to_pod
 * with map contents written through BpfMap (raw podwall.h layouts), asserting the verdict, the skb mark, the
 * connection-table entry and the ring-buffer records. Test runs happen on loopback (ifindex 1), so "the pod's
 * interface" is ifindex 1 and another interface is any other number.
 *
 * Not covered here: a successful L7 redirect. bpf_sk_assign only works at tc ingress of a real device, and
 * BPF_PROG_TEST_RUN is not one (the helper returns EOPNOTSUPP), so the program fails closed there — the live
 * tests of the driver cover the proxy path.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { type EventReader, openEvents } from './kernel/events.js';
import {
  ACK,
  CONFIG_KEY,
  CT_DENIED,
  CT_PROXY,
  configVal,
  ctKey,
  ctVal,
  DIR,
  decodeCt,
  decodeEvent,
  EP,
  EV,
  EV_FLAG_CUT,
  EV_LEVEL,
  endpointKey,
  endpointVal,
  type FrameOpts,
  frame,
  ICMP,
  IS_ROOT,
  ipcacheKey,
  ipcacheVal,
  LEVEL,
  MARK_JUDGED,
  MARK_TO_PROXY,
  type PolicyKeyOpts,
  type PwEvent,
  policyKey,
  policyVal,
  ROOT_REASON,
  SYN,
  SYNACK,
  TC_ACT_OK,
  TC_ACT_SHOT,
  TCP,
  type TestDatapath,
  type Tuple,
  testDatapath,
  UDP,
  VERDICT,
} from './kernel/fixtures.test-helper.js';
import type { ProgName } from './kernel/loader.js';
import { testRun } from './kernel/test-run.js';

const LO = 1;
/** Local endpoints (both "on" loopback for the test runs). */
const A = { ip: '10.213.0.1', id: 300 };
const B = { ip: '10.213.0.2', id: 400 };
/** A pod on another node (ipcache /32), the host, the world (ipcache miss), a CIDR identity. */
const R = { ip: '10.213.9.9', id: 500 };
const H = { ip: '10.213.0.254', id: 1 };
const W = { ip: '198.51.100.7', id: 2 };
const C = { ip: '192.0.2.77', id: 70000, cidr: '192.0.2.0', len: 24 };

type Maps = TestDatapath['dp']['maps'];

let t: TestDatapath;
let events: EventReader;
let records: (PwEvent & { tsNs: bigint })[];

if (!IS_ROOT) console.warn(`program.test.ts skipped: ${ROOT_REASON}`);

function base(m: Maps, gen = 1): void {
  m.config.update(CONFIG_KEY, configVal(gen));
  m.ipcache.update(ipcacheKey(A.ip), ipcacheVal(A.id));
  m.ipcache.update(ipcacheKey(B.ip), ipcacheVal(B.id));
  m.ipcache.update(ipcacheKey(R.ip), ipcacheVal(R.id));
  m.ipcache.update(ipcacheKey(H.ip), ipcacheVal(H.id));
  m.ipcache.update(ipcacheKey(C.cidr, C.len), ipcacheVal(C.id));
  endpoint(m, A, 0);
  endpoint(m, B, 0);
}

function endpoint(m: Maps, ep: { ip: string; id: number }, flags: number, ifindex = LO): void {
  m.endpoints.update(endpointKey(ep.ip), endpointVal(ep.id, ifindex, flags));
}

function rule(m: Maps, k: PolicyKeyOpts, verdict: number): void {
  m.policy.update(policyKey(k), policyVal(verdict));
}

function setGeneration(m: Maps, gen: number, proxyPort = 0): void {
  m.config.update(CONFIG_KEY, configVal(gen, proxyPort));
}

interface Run {
  retval: number;
  mark: number;
  events: Partial<PwEvent>[];
}

function run(prog: ProgName, f: FrameOpts, opts: { ifindex?: number; mark?: number } = {}): Run {
  const r = testRun(t.dp.progFd(prog), frame(f), { ifindex: opts.ifindex ?? LO, mark: opts.mark ?? 0 });
  records = [];
  events.poll();
  return { retval: r.retval, mark: r.mark, events: records };
}

function ct(tuple: Tuple): { generation: number; flags: number } | undefined {
  const v = t.dp.maps.ct.lookup(ctKey(tuple));
  if (!v) return undefined;
  const { generation, flags } = decodeCt(v);
  return { generation, flags };
}

const tcp = (src: string, dst: string, dport: number, flags = SYN, sport = 40000): FrameOpts => ({
  src,
  dst,
  proto: TCP,
  sport,
  dport,
  tcpFlags: flags,
});
const tupleOf = (f: FrameOpts): Tuple => ({
  saddr: f.src,
  daddr: f.dst,
  sport: f.proto === ICMP ? (f.icmpId ?? 0) : (f.sport ?? 0),
  dport: f.proto === ICMP ? (f.icmpId ?? 0) : (f.dport ?? 0),
  proto: f.proto,
});

/** An event as the test expects it: the fields that matter, with the packet's addresses filled in by `ev()`. */
function ev(
  f: FrameOpts,
  e: { dir: number; verdict: number; level: number; peer: number; flags?: number; dropReason?: number },
) {
  return {
    saddr: f.src,
    daddr: f.dst,
    proto: f.proto,
    dport: f.proto === ICMP ? ((f.icmpType ?? 8) << 8) | (f.icmpCode ?? 0) : f.dport,
    dir: e.dir,
    verdict: e.verdict,
    level: e.level,
    peerIdentity: e.peer,
    flags: e.flags ?? 0,
    ifindex: LO,
    dropReason: e.dropReason ?? 0,
  };
}

/** A drop of the datapath's own (Hubble drop reason `reason`), on a packet going `dir`. */
const dropEv = (f: FrameOpts, dir: number, reason: number) =>
  ev(f, { dir, verdict: EV.dropped, level: 0, peer: 0, dropReason: reason });

describe.skipIf(!IS_ROOT)('podwall.bpf.o under BPF_PROG_TEST_RUN', () => {
  beforeEach(async () => {
    t = await testDatapath();
    events = openEvents(t.dp.maps.events, (r) => records.push(decodeEvent(r)));
    records = [];
    base(t.dp.maps);
  });

  afterEach(async () => {
    events?.close();
    await t?.cleanup();
  });

  // ---------------------------------------------------------------------------------------------------------------
  // One packet into a program: verdict, mark, connection entry, events.

  interface Case {
    name: string;
    setup?: (m: Maps) => void;
    prog?: ProgName;
    packet: FrameOpts;
    ifindex?: number;
    mark?: number;
    retval: number;
    /** Expected mark after the run (default: JUDGED for a from_pod pass, 0 otherwise). */
    markOut?: number;
    /** Expected entry for the packet's tuple: flags, or null for none. Default: none on drop, flags 0 on pass. */
    ct?: number | null;
    events?: ReturnType<typeof ev>[];
  }

  const toR = tcp(A.ip, R.ip, 80);
  const enforceEgress = (m: Maps, extra = 0) => endpoint(m, A, EP.EG_ENFORCED | extra);
  const egress =
    (level: number, peer: string | number | undefined, verdict: number, more: Partial<PolicyKeyOpts> = {}) =>
    (m: Maps) =>
      rule(m, { ep: A.ip, dir: DIR.egress, level, proto: TCP, peer, port: 80, ...more }, verdict);

  const cases: Case[] = [
    {
      name: 'not IP (ARP): passed untouched',
      packet: { ...toR, ethertype: 0x0806 },
      retval: TC_ACT_OK,
      markOut: 0,
      ct: null,
    },
    {
      name: 'IPv6 from a pod: dropped (the cluster is IPv4-only; link-local IPv6 to the host would dodge policy), no record',
      packet: { ...toR, ethertype: 0x86dd },
      retval: TC_ACT_SHOT,
      ct: null,
      events: [],
    },
    {
      name: 'a later IPv4 fragment whose first fragment was never seen: dropped, reported (program-fragments.test.ts has the rest)',
      packet: { ...tcp(A.ip, R.ip, 80), fragOff: 0x2010 },
      retval: TC_ACT_SHOT,
      // Its "ports" are unknown: the record carries the addresses and protocol.
      events: [{ ...dropEv({ ...tcp(A.ip, R.ip, 0) }, DIR.egress, 175), dport: 0 }],
    },
    {
      name: 'anti-spoofing: unknown source address dropped, reported as an invalid source',
      packet: tcp('10.213.0.99', R.ip, 80),
      retval: TC_ACT_SHOT,
      events: [dropEv(tcp('10.213.0.99', R.ip, 80), DIR.egress, 132)],
    },
    {
      name: 'anti-spoofing: source address of an endpoint on another interface dropped, reported',
      setup: (m) => endpoint(m, A, 0, 999),
      packet: toR,
      retval: TC_ACT_SHOT,
      events: [dropEv(toR, DIR.egress, 132)],
    },
    {
      name: 'egress not enforced: passed, judged mark, entry written, no event',
      packet: toR,
      retval: TC_ACT_OK,
      events: [],
    },
    {
      name: 'level order: ip before identity',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.ip, R.ip, VERDICT.allow)(m);
        egress(LEVEL.identity, R.id, VERDICT.deny)(m);
      },
      packet: toR,
      retval: TC_ACT_OK,
      events: [ev(toR, { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.ip, peer: R.id })],
    },
    {
      name: 'level order: identity before pods (deny hit drops)',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.identity, R.id, VERDICT.deny)(m);
        egress(LEVEL.pods, 0, VERDICT.allow, { bits: 16 })(m);
      },
      packet: toR,
      retval: TC_ACT_SHOT,
      events: [ev(toR, { dir: DIR.egress, verdict: EV.deny, level: EV_LEVEL.identity, peer: R.id })],
    },
    {
      name: 'level order: pods before wildcard',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.pods, 0, VERDICT.allow)(m);
        egress(LEVEL.wildcard, 0, VERDICT.deny, { bits: 16 })(m);
      },
      packet: toR,
      retval: TC_ACT_OK,
      events: [ev(toR, { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.pods, peer: R.id })],
    },
    {
      name: 'pods level only for pod identities: a CIDR identity falls to the wildcard',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.pods, 0, VERDICT.allow)(m);
        egress(LEVEL.wildcard, 0, VERDICT.deny)(m);
      },
      packet: tcp(A.ip, C.ip, 80),
      retval: TC_ACT_SHOT,
      events: [ev(tcp(A.ip, C.ip, 80), { dir: DIR.egress, verdict: EV.deny, level: EV_LEVEL.wildcard, peer: C.id })],
    },
    {
      name: 'ipcache miss is the world (identity 2)',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.identity, 2, VERDICT.allow)(m);
      },
      packet: tcp(A.ip, W.ip, 80),
      retval: TC_ACT_OK,
      events: [ev(tcp(A.ip, W.ip, 80), { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.identity, peer: W.id })],
    },
    {
      name: 'wildcard allow for all ports (prefixlen 96)',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.wildcard, 0, VERDICT.allow, { bits: 16 })(m);
      },
      packet: tcp(A.ip, R.ip, 31337),
      retval: TC_ACT_OK,
      events: [
        ev(tcp(A.ip, R.ip, 31337), { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.wildcard, peer: R.id }),
      ],
    },
    {
      name: 'no segment hits, no default allow: dropped at level default',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.wildcard, 0, VERDICT.allow, { port: 443 })(m);
      },
      packet: toR,
      retval: TC_ACT_SHOT,
      events: [ev(toR, { dir: DIR.egress, verdict: EV.denied, level: EV_LEVEL.default, peer: R.id })],
    },
    {
      name: 'no segment hits, default allow: allowed at level default',
      setup: (m) => enforceEgress(m, EP.EG_DEFAULT_ALLOW),
      packet: toR,
      retval: TC_ACT_OK,
      events: [ev(toR, { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.default, peer: R.id })],
    },
    {
      name: 'port block 8000-8007 (prefixlen 109) holds 8005',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.wildcard, 0, VERDICT.allow, { port: 8000, bits: 3 })(m);
      },
      packet: tcp(A.ip, R.ip, 8005),
      retval: TC_ACT_OK,
      events: [ev(tcp(A.ip, R.ip, 8005), { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.wildcard, peer: R.id })],
    },
    {
      name: 'port block 8000-8007 does not hold 8008',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.wildcard, 0, VERDICT.allow, { port: 8000, bits: 3 })(m);
      },
      packet: tcp(A.ip, R.ip, 8008),
      retval: TC_ACT_SHOT,
      events: [ev(tcp(A.ip, R.ip, 8008), { dir: DIR.egress, verdict: EV.denied, level: EV_LEVEL.default, peer: R.id })],
    },
    {
      name: 'a deny block inside an allowed range wins at the same level (split segments)',
      setup: (m) => {
        enforceEgress(m);
        // 8000-8003 allow, 8004-8005 deny, 8006-8007 allow: three non-overlapping blocks.
        egress(LEVEL.wildcard, 0, VERDICT.allow, { port: 8000, bits: 2 })(m);
        egress(LEVEL.wildcard, 0, VERDICT.deny, { port: 8004, bits: 1 })(m);
        egress(LEVEL.wildcard, 0, VERDICT.allow, { port: 8006, bits: 1 })(m);
      },
      packet: tcp(A.ip, R.ip, 8005),
      retval: TC_ACT_SHOT,
      events: [ev(tcp(A.ip, R.ip, 8005), { dir: DIR.egress, verdict: EV.deny, level: EV_LEVEL.wildcard, peer: R.id })],
    },
    {
      name: 'UDP is matched by its own protocol',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.wildcard, 0, VERDICT.allow, { proto: UDP, port: 53 })(m);
      },
      packet: { src: A.ip, dst: R.ip, proto: UDP, sport: 5353, dport: 53 },
      retval: TC_ACT_OK,
      events: [
        ev(
          { src: A.ip, dst: R.ip, proto: UDP, dport: 53 },
          { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.wildcard, peer: R.id },
        ),
      ],
    },
    {
      name: 'ICMP type as port: echo request (8) allowed, entry keyed by the identifier',
      setup: (m) => {
        enforceEgress(m);
        rule(m, { ep: A.ip, dir: DIR.egress, level: LEVEL.wildcard, proto: ICMP, port: 8 }, VERDICT.allow);
      },
      packet: { src: A.ip, dst: R.ip, proto: ICMP, icmpType: 8, icmpId: 0x1234 },
      retval: TC_ACT_OK,
      events: [
        ev(
          { src: A.ip, dst: R.ip, proto: ICMP, icmpType: 8 },
          { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.wildcard, peer: R.id },
        ),
      ],
    },
    {
      name: 'ICMP type as port: timestamp (13) is another port, denied, never tracked',
      setup: (m) => {
        enforceEgress(m);
        rule(m, { ep: A.ip, dir: DIR.egress, level: LEVEL.wildcard, proto: ICMP, port: 8 }, VERDICT.allow);
      },
      packet: { src: A.ip, dst: R.ip, proto: ICMP, icmpType: 13 },
      retval: TC_ACT_SHOT,
      events: [
        ev(
          { src: A.ip, dst: R.ip, proto: ICMP, icmpType: 13 },
          { dir: DIR.egress, verdict: EV.denied, level: EV_LEVEL.default, peer: R.id },
        ),
      ],
    },
    {
      name: 'unsolicited ICMP echo reply: dropped (it would open a "reply" path)',
      packet: { src: A.ip, dst: R.ip, proto: ICMP, icmpType: 0, icmpId: 7 },
      retval: TC_ACT_SHOT,
      events: [],
    },
    {
      name: 'audit segment: passed, audit record',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.wildcard, 0, VERDICT.audit)(m);
      },
      packet: toR,
      retval: TC_ACT_OK,
      events: [ev(toR, { dir: DIR.egress, verdict: EV.audit, level: EV_LEVEL.wildcard, peer: R.id })],
    },
    {
      name: 'local destination: its ingress is judged here too',
      setup: (m) => endpoint(m, B, EP.IN_ENFORCED),
      packet: tcp(A.ip, B.ip, 80),
      retval: TC_ACT_SHOT,
      events: [ev(tcp(A.ip, B.ip, 80), { dir: DIR.ingress, verdict: EV.denied, level: EV_LEVEL.default, peer: A.id })],
    },
    {
      name: 'peer identities come from the ipcache, not from the endpoint entry (a pod seen through a CIDR)',
      setup: (m) => {
        endpoint(m, { ip: '192.0.2.5', id: 600 }, 0);
        endpoint(m, B, EP.IN_ENFORCED);
        rule(m, { ep: B.ip, dir: DIR.ingress, level: LEVEL.identity, proto: TCP, peer: C.id, port: 80 }, VERDICT.allow);
      },
      packet: tcp('192.0.2.5', B.ip, 80),
      retval: TC_ACT_OK,
      events: [
        ev(tcp('192.0.2.5', B.ip, 80), { dir: DIR.ingress, verdict: EV.allow, level: EV_LEVEL.identity, peer: C.id }),
      ],
    },
    {
      name: 'local destination: both directions enforced and allowed, one record each',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.identity, B.id, VERDICT.allow)(m);
        endpoint(m, B, EP.IN_ENFORCED);
        rule(m, { ep: B.ip, dir: DIR.ingress, level: LEVEL.pods, proto: TCP, port: 80 }, VERDICT.allow);
      },
      packet: tcp(A.ip, B.ip, 80),
      retval: TC_ACT_OK,
      events: [
        ev(tcp(A.ip, B.ip, 80), { dir: DIR.egress, verdict: EV.allow, level: EV_LEVEL.identity, peer: B.id }),
        ev(tcp(A.ip, B.ip, 80), { dir: DIR.ingress, verdict: EV.allow, level: EV_LEVEL.pods, peer: A.id }),
      ],
    },
    {
      name: 'egress drop: the destination ingress is not judged',
      setup: (m) => {
        enforceEgress(m);
        endpoint(m, B, EP.IN_ENFORCED | EP.IN_DEFAULT_ALLOW);
      },
      packet: tcp(A.ip, B.ip, 80),
      retval: TC_ACT_SHOT,
      events: [ev(tcp(A.ip, B.ip, 80), { dir: DIR.egress, verdict: EV.denied, level: EV_LEVEL.default, peer: B.id })],
    },
    {
      name: 'redirect without a proxy port: dropped (fail closed), redirect + NO_PROXY records',
      setup: (m) => {
        enforceEgress(m);
        egress(LEVEL.wildcard, 0, VERDICT.redirect)(m);
      },
      packet: toR,
      retval: TC_ACT_SHOT,
      events: [
        ev(toR, { dir: DIR.egress, verdict: EV.redirect, level: EV_LEVEL.wildcard, peer: R.id }),
        ev(toR, { dir: DIR.egress, verdict: EV.noProxy, level: EV_LEVEL.wildcard, peer: R.id, dropReason: 178 }),
      ],
    },
    {
      name: 'redirect of UDP: no proxy takes it, dropped (fail closed)',
      setup: (m) => {
        setGeneration(m, 1, 15001);
        enforceEgress(m);
        egress(LEVEL.wildcard, 0, VERDICT.redirect, { proto: UDP, port: 53 })(m);
      },
      packet: { src: A.ip, dst: R.ip, proto: UDP, sport: 5353, dport: 53 },
      retval: TC_ACT_SHOT,
      events: [
        ev(
          { src: A.ip, dst: R.ip, proto: UDP, dport: 53 },
          { dir: DIR.egress, verdict: EV.redirect, level: EV_LEVEL.wildcard, peer: R.id },
        ),
        ev(
          { src: A.ip, dst: R.ip, proto: UDP, dport: 53 },
          { dir: DIR.egress, verdict: EV.noProxy, level: EV_LEVEL.wildcard, peer: R.id, dropReason: 180 },
        ),
      ],
    },

    // --- to_pod ---------------------------------------------------------------------------------------------------
    {
      name: 'to_pod: judged mark set by from_pod: bit cleared, passed without judging',
      setup: (m) => endpoint(m, A, EP.IN_ENFORCED),
      prog: 'to_pod',
      packet: tcp(R.ip, A.ip, 80),
      mark: MARK_JUDGED | 0x5,
      retval: TC_ACT_OK,
      markOut: 0x5,
      ct: null,
      events: [],
    },
    {
      name: 'to_pod: not IP (ARP): passed',
      prog: 'to_pod',
      packet: { ...tcp(R.ip, A.ip, 80), ethertype: 0x0806 },
      retval: TC_ACT_OK,
      ct: null,
    },
    {
      name: 'to_pod: IPv6: dropped (the cluster is IPv4-only), no record',
      prog: 'to_pod',
      packet: { ...tcp(R.ip, A.ip, 80), ethertype: 0x86dd },
      retval: TC_ACT_SHOT,
      ct: null,
      events: [],
    },
    {
      name: 'to_pod: ingress default deny drops a remote pod',
      setup: (m) => endpoint(m, A, EP.IN_ENFORCED),
      prog: 'to_pod',
      packet: tcp(R.ip, A.ip, 80),
      retval: TC_ACT_SHOT,
      events: [ev(tcp(R.ip, A.ip, 80), { dir: DIR.ingress, verdict: EV.denied, level: EV_LEVEL.default, peer: R.id })],
    },
    {
      name: 'to_pod: allowed remote pod, entry written, no judged mark',
      setup: (m) => {
        endpoint(m, A, EP.IN_ENFORCED);
        rule(m, { ep: A.ip, dir: DIR.ingress, level: LEVEL.identity, proto: TCP, peer: R.id, port: 80 }, VERDICT.allow);
      },
      prog: 'to_pod',
      packet: tcp(R.ip, A.ip, 80),
      retval: TC_ACT_OK,
      markOut: 0,
      ct: 0,
      events: [ev(tcp(R.ip, A.ip, 80), { dir: DIR.ingress, verdict: EV.allow, level: EV_LEVEL.identity, peer: R.id })],
    },
    {
      name: 'to_pod: the host with no matching segment is allowed (level host)',
      setup: (m) => endpoint(m, A, EP.IN_ENFORCED),
      prog: 'to_pod',
      packet: tcp(H.ip, A.ip, 8080),
      retval: TC_ACT_OK,
      markOut: 0,
      ct: 0,
      events: [ev(tcp(H.ip, A.ip, 8080), { dir: DIR.ingress, verdict: EV.allow, level: EV_LEVEL.host, peer: H.id })],
    },
    {
      name: 'to_pod: the host is never redirected (a redirect segment allows it)',
      setup: (m) => {
        setGeneration(m, 1, 15001);
        endpoint(m, A, EP.IN_ENFORCED);
        rule(m, { ep: A.ip, dir: DIR.ingress, level: LEVEL.wildcard, proto: TCP, port: 80 }, VERDICT.redirect);
      },
      prog: 'to_pod',
      packet: tcp(H.ip, A.ip, 80),
      retval: TC_ACT_OK,
      markOut: 0,
      ct: 0,
      events: [ev(tcp(H.ip, A.ip, 80), { dir: DIR.ingress, verdict: EV.allow, level: EV_LEVEL.wildcard, peer: H.id })],
    },
    {
      name: 'to_pod: an explicit deny still drops the host',
      setup: (m) => {
        endpoint(m, A, EP.IN_ENFORCED);
        rule(m, { ep: A.ip, dir: DIR.ingress, level: LEVEL.identity, proto: TCP, peer: H.id, port: 22 }, VERDICT.deny);
      },
      prog: 'to_pod',
      packet: tcp(H.ip, A.ip, 22),
      retval: TC_ACT_SHOT,
      events: [ev(tcp(H.ip, A.ip, 22), { dir: DIR.ingress, verdict: EV.deny, level: EV_LEVEL.identity, peer: H.id })],
    },
    {
      name: 'to_pod: the ip level is not consulted for the host',
      setup: (m) => {
        endpoint(m, A, EP.IN_ENFORCED);
        rule(m, { ep: A.ip, dir: DIR.ingress, level: LEVEL.ip, proto: TCP, peer: H.ip, port: 80 }, VERDICT.allow);
        rule(m, { ep: A.ip, dir: DIR.ingress, level: LEVEL.wildcard, proto: TCP, port: 80 }, VERDICT.deny);
      },
      prog: 'to_pod',
      packet: tcp(H.ip, A.ip, 80),
      retval: TC_ACT_SHOT,
      events: [ev(tcp(H.ip, A.ip, 80), { dir: DIR.ingress, verdict: EV.deny, level: EV_LEVEL.wildcard, peer: H.id })],
    },
    {
      name: 'to_pod: a redirect for a remote peer cannot reach the proxy from tc egress: dropped, NO_PROXY',
      setup: (m) => {
        setGeneration(m, 1, 15001);
        endpoint(m, A, EP.IN_ENFORCED);
        rule(m, { ep: A.ip, dir: DIR.ingress, level: LEVEL.wildcard, proto: TCP, port: 80 }, VERDICT.redirect);
      },
      prog: 'to_pod',
      packet: tcp(R.ip, A.ip, 80),
      retval: TC_ACT_SHOT,
      events: [
        ev(tcp(R.ip, A.ip, 80), { dir: DIR.ingress, verdict: EV.redirect, level: EV_LEVEL.wildcard, peer: R.id }),
        ev(tcp(R.ip, A.ip, 80), {
          dir: DIR.ingress,
          verdict: EV.noProxy,
          level: EV_LEVEL.wildcard,
          peer: R.id,
          dropReason: 178,
        }),
      ],
    },
    {
      name: 'to_pod: not addressed to an endpoint: passed, nothing tracked',
      prog: 'to_pod',
      packet: tcp(R.ip, '10.213.0.77', 80),
      retval: TC_ACT_OK,
      ct: null,
      events: [],
    },
  ];

  test.each(cases)('$name', (c) => {
    c.setup?.(t.dp.maps);
    const prog = c.prog ?? 'from_pod';
    const r = run(prog, c.packet, { ifindex: c.ifindex, mark: c.mark });
    expect(r.retval).toBe(c.retval);
    const passedHere = prog === 'from_pod' && c.retval === TC_ACT_OK && c.packet.ethertype === undefined;
    expect(r.mark >>> 0).toBe(c.markOut ?? (passedHere ? MARK_JUDGED : 0));
    const stateful = !(c.packet.proto === ICMP && c.packet.icmpType !== 8);
    const wantCt = c.ct !== undefined ? c.ct : c.retval === TC_ACT_OK && stateful ? 0 : null;
    const got = ct(tupleOf(c.packet));
    if (wantCt === null) expect(got).toBeUndefined();
    else expect(got).toEqual({ generation: 1, flags: wantCt });
    if (c.events) expect(r.events).toEqual(c.events.map((e) => expect.objectContaining(e)));
    if (c.events) expect(r.events).toHaveLength(c.events.length);
  });

  // ---------------------------------------------------------------------------------------------------------------
  // Sequences: the connection table across packets and generations.

  test('established connection: later packets take the entry, no records, judged mark', () => {
    enforceEgress(t.dp.maps);
    egress(LEVEL.wildcard, 0, VERDICT.allow)(t.dp.maps);
    expect(run('from_pod', toR).events).toHaveLength(1);
    const next = run('from_pod', tcp(A.ip, R.ip, 80, ACK));
    expect(next).toEqual({ retval: TC_ACT_OK, mark: MARK_JUDGED, events: [] });
  });

  test('generation re-judging: revoked policy cuts once with a CUT record, then drops silently', () => {
    const m = t.dp.maps;
    enforceEgress(m);
    const allowKey = policyKey({ ep: A.ip, dir: DIR.egress, level: LEVEL.wildcard, proto: TCP, port: 80 });
    m.policy.update(allowKey, policyVal(VERDICT.allow));

    expect(run('from_pod', toR).retval).toBe(TC_ACT_OK);
    expect(ct(tupleOf(toR))).toEqual({ generation: 1, flags: 0 });

    // Same generation: the entry decides, even though the policy map changed underneath.
    m.policy.delete(allowKey);
    expect(run('from_pod', tcp(A.ip, R.ip, 80, ACK)).retval).toBe(TC_ACT_OK);

    // The agent moves the generation: the next non-SYN packet is judged again and cut.
    setGeneration(m, 2);
    const cut = run('from_pod', tcp(A.ip, R.ip, 80, ACK));
    expect(cut.retval).toBe(TC_ACT_SHOT);
    expect(cut.events).toEqual([
      expect.objectContaining(
        ev(toR, { dir: DIR.egress, verdict: EV.denied, level: EV_LEVEL.default, peer: R.id, flags: EV_FLAG_CUT }),
      ),
    ]);
    expect(ct(tupleOf(toR))).toEqual({ generation: 2, flags: CT_DENIED });

    // Cut: dropped silently.
    expect(run('from_pod', tcp(A.ip, R.ip, 80, ACK))).toEqual({ retval: TC_ACT_SHOT, mark: 0, events: [] });
    // Another generation with the policy still revoked: still dropped, still silent (it was already cut).
    setGeneration(m, 3);
    expect(run('from_pod', tcp(A.ip, R.ip, 80, ACK))).toEqual({ retval: TC_ACT_SHOT, mark: 0, events: [] });
    expect(ct(tupleOf(toR))).toEqual({ generation: 3, flags: CT_DENIED });

    // A new SYN is a new connection: judged (and denied, with a normal record, not a CUT one).
    const syn = run('from_pod', toR);
    expect(syn.retval).toBe(TC_ACT_SHOT);
    expect(syn.events).toEqual([
      expect.objectContaining(ev(toR, { dir: DIR.egress, verdict: EV.denied, level: EV_LEVEL.default, peer: R.id })),
    ]);

    // Policy back, new generation: a new SYN opens the connection again.
    m.policy.update(allowKey, policyVal(VERDICT.allow));
    setGeneration(m, 4);
    expect(run('from_pod', toR).retval).toBe(TC_ACT_OK);
    expect(ct(tupleOf(toR))).toEqual({ generation: 4, flags: 0 });
  });

  test('generation re-judging: still allowed → entry moves to the new generation, no record', () => {
    const m = t.dp.maps;
    enforceEgress(m);
    egress(LEVEL.wildcard, 0, VERDICT.allow)(m);
    run('from_pod', toR);
    setGeneration(m, 2);
    expect(run('from_pod', tcp(A.ip, R.ip, 80, ACK))).toEqual({ retval: TC_ACT_OK, mark: MARK_JUDGED, events: [] });
    expect(ct(tupleOf(toR))).toEqual({ generation: 2, flags: 0 });
  });

  test('a TCP SYN is always judged, whatever the entry says', () => {
    const m = t.dp.maps;
    enforceEgress(m);
    m.ct.update(ctKey(tupleOf(toR)), ctVal(1, 0)); // judged allowed under the current generation
    expect(run('from_pod', tcp(A.ip, R.ip, 80, ACK)).retval).toBe(TC_ACT_OK);
    const syn = run('from_pod', toR);
    expect(syn.retval).toBe(TC_ACT_SHOT);
    expect(syn.events).toHaveLength(1);
  });

  test('reply direction: the remote answer passes to_pod through the entry from_pod wrote', () => {
    const m = t.dp.maps;
    endpoint(m, A, EP.IN_ENFORCED); // ingress default deny: only replies get in
    expect(run('from_pod', toR).retval).toBe(TC_ACT_OK);
    expect(run('to_pod', tcp(R.ip, A.ip, 40000, SYNACK, 80))).toEqual({ retval: TC_ACT_OK, mark: 0, events: [] });
    // The same remote opening its own connection is judged (and denied).
    expect(run('to_pod', tcp(R.ip, A.ip, 40000, SYN, 80)).retval).toBe(TC_ACT_SHOT);
  });

  test('reply direction at from_pod: the pod answering passes with the judged mark', () => {
    const m = t.dp.maps;
    endpoint(m, A, EP.EG_ENFORCED); // egress default deny: only replies get out
    m.ct.update(ctKey({ saddr: R.ip, daddr: A.ip, sport: 40000, dport: 80, proto: TCP }), ctVal(1, 0));
    expect(run('from_pod', tcp(A.ip, R.ip, 40000, SYNACK, 80))).toEqual({
      retval: TC_ACT_OK,
      mark: MARK_JUDGED,
      events: [],
    });
  });

  test('reply direction re-judged after a revoke: the reply is cut with one CUT record', () => {
    const m = t.dp.maps;
    enforceEgress(m);
    const allowKey = policyKey({ ep: A.ip, dir: DIR.egress, level: LEVEL.wildcard, proto: TCP, port: 80 });
    m.policy.update(allowKey, policyVal(VERDICT.allow));
    expect(run('from_pod', toR).retval).toBe(TC_ACT_OK);
    m.policy.delete(allowKey);
    setGeneration(m, 2);
    const reply = run('to_pod', tcp(R.ip, A.ip, 40000, SYNACK, 80));
    expect(reply.retval).toBe(TC_ACT_SHOT);
    // The record names the connection as it was opened (A → R:80) and the direction that decided.
    expect(reply.events).toEqual([
      expect.objectContaining(
        ev(toR, { dir: DIR.egress, verdict: EV.denied, level: EV_LEVEL.default, peer: R.id, flags: EV_FLAG_CUT }),
      ),
    ]);
    expect(run('to_pod', tcp(R.ip, A.ip, 40000, ACK, 80)).events).toEqual([]);
  });

  test('ICMP echo: the reply passes through the request entry; id is the port both ways', () => {
    const m = t.dp.maps;
    endpoint(m, A, EP.IN_ENFORCED);
    const req: FrameOpts = { src: A.ip, dst: R.ip, proto: ICMP, icmpType: 8, icmpId: 77 };
    expect(run('from_pod', req).retval).toBe(TC_ACT_OK);
    expect(ct({ saddr: A.ip, daddr: R.ip, sport: 77, dport: 77, proto: ICMP })).toEqual({ generation: 1, flags: 0 });
    expect(run('to_pod', { src: R.ip, dst: A.ip, proto: ICMP, icmpType: 0, icmpId: 77 }).retval).toBe(TC_ACT_OK);
    expect(run('to_pod', { src: R.ip, dst: A.ip, proto: ICMP, icmpType: 0, icmpId: 78 }).retval).toBe(TC_ACT_SHOT);
    // R pinging A with the same identifier is a request, judged as one (ingress default deny), not a "reply".
    expect(run('to_pod', { src: R.ip, dst: A.ip, proto: ICMP, icmpType: 8, icmpId: 77 }).retval).toBe(TC_ACT_SHOT);
  });

  test('ICMP errors pass when they quote a tracked connection, else are dropped', () => {
    const m = t.dp.maps;
    endpoint(m, A, EP.IN_ENFORCED);
    const udp: FrameOpts = { src: A.ip, dst: R.ip, proto: UDP, sport: 5000, dport: 9999 };
    expect(run('from_pod', udp).retval).toBe(TC_ACT_OK);
    const unreach = (inner: FrameOpts): FrameOpts => ({
      src: R.ip,
      dst: A.ip,
      proto: ICMP,
      icmpType: 3,
      icmpCode: 3,
      inner,
    });
    expect(run('to_pod', unreach(udp))).toEqual({ retval: TC_ACT_OK, mark: 0, events: [] });
    // Time exceeded from a router on the way quotes the same packet.
    expect(run('to_pod', { ...unreach(udp), src: W.ip, icmpType: 11, icmpCode: 0 }).retval).toBe(TC_ACT_OK);
    expect(run('to_pod', unreach({ ...udp, dport: 9998 })).retval).toBe(TC_ACT_SHOT);
    // The pod sending an error about a packet it received on a tracked connection (the reply direction).
    const inbound: FrameOpts = { src: R.ip, dst: A.ip, proto: UDP, sport: 9999, dport: 5000 };
    expect(run('from_pod', { src: A.ip, dst: R.ip, proto: ICMP, icmpType: 3, icmpCode: 3, inner: inbound })).toEqual({
      retval: TC_ACT_OK,
      mark: MARK_JUDGED,
      events: [],
    });
  });

  test('proxied connection without a proxy: later packets dropped silently (fail closed)', () => {
    const m = t.dp.maps;
    m.ct.update(ctKey(tupleOf(toR)), ctVal(1, CT_PROXY));
    expect(run('from_pod', tcp(A.ip, R.ip, 80, ACK))).toEqual({ retval: TC_ACT_SHOT, mark: 0, events: [] });
    // and replies of a proxied connection are never sent to the proxy
    expect(run('to_pod', tcp(R.ip, A.ip, 40000, ACK, 80)).retval).toBe(TC_ACT_OK);
  });

  test('redirect: with a proxy port but no proxy socket, dropped without the proxy mark', () => {
    const m = t.dp.maps;
    setGeneration(m, 1, 1); // nothing listens on port 1
    enforceEgress(m);
    egress(LEVEL.wildcard, 0, VERDICT.redirect)(m);
    const r = run('from_pod', toR);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expect(r.mark & MARK_TO_PROXY).toBe(0);
    expect(r.events.map((e) => e.verdict)).toEqual([EV.redirect, EV.noProxy]);
    expect(ct(tupleOf(toR))).toBeUndefined();
  });
});
