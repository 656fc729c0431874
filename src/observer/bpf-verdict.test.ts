import { describe, expect, it } from 'vitest';
import {
  encodeEvent,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  PW_DIR_EGRESS,
  PW_DIR_INGRESS,
  PW_DROP_FRAGMENT_NOT_FOUND,
  PW_DROP_INVALID_SOURCE_IP,
  PW_DROP_PROXY_UNSUPPORTED_PROTO,
  PW_DROP_SOCKET_LOOKUP_FAILED,
  PW_EV_FLAG_CUT,
  PW_EV_LEVEL_DEFAULT,
  PW_EV_LEVEL_HOST,
  PW_EV_LEVEL_IDENTITY,
  PW_EV_LEVEL_WILDCARD,
  PW_EV_VERDICT_ALLOW,
  PW_EV_VERDICT_DENIED,
  PW_EV_VERDICT_DENY,
  PW_EV_VERDICT_DROPPED,
  PW_EV_VERDICT_NO_PROXY,
  PW_EV_VERDICT_REDIRECT,
  type PwEvent,
} from '../datapath/ebpf/layout.js';
import { dropFromEvent, flowsFromBpfEvent, verdictFromBpfEvent, verdictFromEvent } from './bpf-verdict.js';

const A = 0x0a000105; // 10.0.1.5
const B = 0x0a000207; // 10.0.2.7
const T = new Date('2026-11-26T12:00:00.000Z');

function ev(over: Partial<PwEvent>): PwEvent {
  return {
    tsNs: 0n,
    saddr: A,
    daddr: B,
    sport: 40000,
    dport: 80,
    proto: IPPROTO_TCP,
    dir: PW_DIR_INGRESS,
    verdict: PW_EV_VERDICT_ALLOW,
    level: PW_EV_LEVEL_IDENTITY,
    peerIdentity: 1001,
    flags: 0,
    ifindex: 7,
    dropReason: 0,
    ...over,
  };
}

describe('dropFromEvent: the datapath’s own drops', () => {
  const cases: [string, Partial<PwEvent>, object | undefined][] = [
    [
      'anti-spoofing, egress',
      { verdict: PW_EV_VERDICT_DROPPED, dir: PW_DIR_EGRESS, dropReason: PW_DROP_INVALID_SOURCE_IP },
      {
        reason: 'INVALID_SOURCE_IP',
        direction: 'egress',
        packet: { src: '10.0.1.5', dst: '10.0.2.7', protocol: 'TCP', sport: 40000, dport: 80 },
      },
    ],
    [
      'a lost first fragment, UDP',
      { verdict: PW_EV_VERDICT_DROPPED, proto: IPPROTO_UDP, dropReason: PW_DROP_FRAGMENT_NOT_FOUND },
      { reason: 'FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND', direction: 'ingress', packet: { protocol: 'UDP' } },
    ],
    [
      'no proxy socket for a TCP redirect',
      { verdict: PW_EV_VERDICT_NO_PROXY, dropReason: PW_DROP_SOCKET_LOOKUP_FAILED },
      { reason: 'SOCKET_LOOKUP_FAILED' },
    ],
    [
      'a UDP redirect',
      { verdict: PW_EV_VERDICT_NO_PROXY, proto: IPPROTO_UDP, dropReason: PW_DROP_PROXY_UNSUPPORTED_PROTO },
      { reason: 'PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL' },
    ],
    ['a reason podwall does not know: not reported', { verdict: PW_EV_VERDICT_DROPPED, dropReason: 999 }, undefined],
    ['a policy verdict: not a datapath drop', { verdict: PW_EV_VERDICT_DENY }, undefined],
  ];
  it.each(cases)('%s', (_name, over, want) => {
    const got = dropFromEvent(ev(over), T);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject({ time: T, ...want });
  });

  it('becomes one drop record naming the reason, no policy, the endpoints by address', () => {
    const src = { snapshots: () => [], nodeName: 'n1' };
    const rec = encodeEvent(ev({ verdict: PW_EV_VERDICT_DROPPED, dir: PW_DIR_EGRESS, dropReason: 132 }));
    const flows = flowsFromBpfEvent(rec, src);
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      verdict: 'DROPPED',
      drop_reason_desc: 'INVALID_SOURCE_IP',
      event_type: { type: 1, sub_type: 132 },
      traffic_direction: 'EGRESS',
      IP: { source: '10.0.1.5', destination: '10.0.2.7' },
      node_name: 'n1',
    });
    for (const k of ['egress_denied_by', 'ingress_denied_by', 'policy_match_type'])
      expect(flows[0]).not.toHaveProperty(k);
    expect(flowsFromBpfEvent(Buffer.alloc(3), src)).toEqual([]);
  });
});

describe('verdictFromEvent: eBPF verdict records as kernel verdicts', () => {
  const cases: [string, Partial<PwEvent>, object | undefined, string[]?][] = [
    [
      'TCP allow by identity, ingress: a SYN',
      {},
      {
        decision: { direction: 'ingress', verdict: 'allow', level: 'id' },
        packet: { src: '10.0.1.5', dst: '10.0.2.7', protocol: 'TCP', sport: 40000, dport: 80, tcpFlags: { SYN: true } },
        peerIdentity: 1001,
      },
    ],
    [
      'default deny, egress',
      { dir: PW_DIR_EGRESS, verdict: PW_EV_VERDICT_DENIED, level: PW_EV_LEVEL_DEFAULT },
      { decision: { direction: 'egress', verdict: 'denied', level: 'default' } },
    ],
    [
      'explicit deny on the wildcard level, UDP',
      { verdict: PW_EV_VERDICT_DENY, level: PW_EV_LEVEL_WILDCARD, proto: IPPROTO_UDP, dport: 53 },
      { decision: { verdict: 'deny', level: 'wc' }, packet: { protocol: 'UDP', dport: 53 } },
    ],
    [
      'a cut connection: flagged, no SYN',
      { verdict: PW_EV_VERDICT_DENIED, level: PW_EV_LEVEL_DEFAULT, flags: PW_EV_FLAG_CUT },
      { decision: { verdict: 'denied', cut: true } },
      ['packet.tcpFlags'],
    ],
    [
      'ICMP echo request: type and code from dport',
      { proto: IPPROTO_ICMP, dport: (8 << 8) | 0, sport: 0 },
      { packet: { protocol: 'ICMP', icmp: { type: 8, code: 0 } } },
      ['packet.dport', 'packet.sport'],
    ],
    ['redirect', { verdict: PW_EV_VERDICT_REDIRECT }, { decision: { verdict: 'redirect' } }],
    ['host allowed with no rule: not reported', { level: PW_EV_LEVEL_HOST }, undefined],
    ['no proxy socket: not a policy verdict (a datapath drop)', { verdict: PW_EV_VERDICT_NO_PROXY }, undefined],
    ['a datapath drop: not a policy verdict', { verdict: PW_EV_VERDICT_DROPPED, dropReason: 132 }, undefined],
    ['unknown protocol: not reported', { proto: 47 }, undefined],
  ];
  it.each(cases)('%s', (_name, over, want, absent = []) => {
    const got = verdictFromEvent(ev(over), T);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject({ time: T, ...want });
    for (const path of absent) expect(got).not.toHaveProperty(path);
  });

  it('decodes raw records and dates them from the monotonic clock', () => {
    const now = process.hrtime.bigint();
    const got = verdictFromBpfEvent(encodeEvent(ev({ tsNs: now - 2_000_000_000n })));
    expect(got?.decision).toEqual({ direction: 'ingress', verdict: 'allow', level: 'id' });
    const age = Date.now() - got!.time.getTime();
    expect(age).toBeGreaterThanOrEqual(1900);
    expect(age).toBeLessThan(5000);
    expect(verdictFromBpfEvent(Buffer.alloc(7))).toBeUndefined();
  });
});
