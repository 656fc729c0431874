/**
 * IPv4 fragments under BPF_PROG_TEST_RUN: the first fragment of a datagram is judged on its transport header and
 * leaves the datagram's ports in `frags`; a later fragment (no transport header) is judged as the datagram it
 * belongs to, and one nobody announced is dropped. The later fragments below carry bogus "ports" where a transport
 * header would be, to show the program never reads them.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { parseIpv4 } from '../ipv4.js';
import { type EventReader, openEvents } from './kernel/events.js';
import {
  CONFIG_KEY,
  configVal,
  DIR,
  decodeEvent,
  EP,
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
  policyKey,
  policyVal,
  ROOT_REASON,
  TC_ACT_OK,
  TC_ACT_SHOT,
  type TestDatapath,
  testDatapath,
  UDP,
  VERDICT,
} from './kernel/fixtures.test-helper.js';
import { testRun } from './kernel/test-run.js';

const LO = 1;
const A = { ip: '10.215.0.1', id: 300 };
const R = { ip: '10.215.9.9', id: 500 };
const MF = 0x2000;

if (!IS_ROOT) console.warn(`program-fragments.test.ts skipped: ${ROOT_REASON}`);

let t: TestDatapath;
let events: EventReader;
let verdicts: number[];

/** Fragment `n` of datagram `id` from A to R:dport (UDP unless said): the first carries the header, MF on all but
 * the last. */
function fragment(id: number, n: 'first' | 'middle' | 'last', o: Partial<FrameOpts> = {}): FrameOpts {
  const first = n === 'first';
  return {
    src: A.ip,
    dst: R.ip,
    proto: UDP,
    ipId: id,
    sport: first ? 5000 : 1,
    dport: first ? 53 : 2,
    fragOff: (n === 'last' ? 0 : MF) | (first ? 0 : n === 'middle' ? 185 : 370),
    ...o,
  };
}

function run(f: FrameOpts) {
  const r = testRun(t.dp.progFd('from_pod'), frame(f), { ifindex: LO });
  verdicts = [];
  events.poll();
  return { retval: r.retval, judged: (r.mark & MARK_JUDGED) !== 0, events: verdicts };
}

/** A's egress enforced: UDP 53 allowed to R's identity, nothing else. */
function allowUdp53(): void {
  t.dp.maps.endpoints.update(endpointKey(A.ip), endpointVal(A.id, LO, EP.EG_ENFORCED));
  t.dp.maps.policy.update(
    policyKey({ ep: A.ip, dir: DIR.egress, level: LEVEL.identity, proto: UDP, peer: R.id, port: 53 }),
    policyVal(VERDICT.allow),
  );
}

describe.skipIf(!IS_ROOT)('from_pod: IPv4 fragments', () => {
  beforeEach(async () => {
    t = await testDatapath();
    events = openEvents(t.dp.maps.events, (r) => verdicts.push(decodeEvent(r).verdict));
    const m = t.dp.maps;
    m.config.update(CONFIG_KEY, configVal(1));
    m.ipcache.update(ipcacheKey(A.ip), ipcacheVal(A.id));
    m.ipcache.update(ipcacheKey(R.ip), ipcacheVal(R.id));
    m.endpoints.update(endpointKey(A.ip), endpointVal(A.id, LO, 0));
    allowUdp53();
  });

  afterEach(async () => {
    events?.close();
    await t?.cleanup();
  });

  test('an allowed datagram: the first fragment is judged (one record), the later ones follow it', () => {
    expect(run(fragment(7, 'first'))).toEqual({ retval: TC_ACT_OK, judged: true, events: [1] });
    expect(run(fragment(7, 'middle'))).toEqual({ retval: TC_ACT_OK, judged: true, events: [] });
    expect(run(fragment(7, 'last'))).toEqual({ retval: TC_ACT_OK, judged: true, events: [] });
  });

  test('the first fragment records the datagram’s ports under (source, destination, id, protocol)', () => {
    run(fragment(7, 'first'));
    const key = Buffer.alloc(12);
    key.writeUInt32BE(parseIpv4(A.ip), 0);
    key.writeUInt32BE(parseIpv4(R.ip), 4);
    key.writeUInt16BE(7, 8);
    key[10] = UDP;
    const v = t.dp.maps.frags.lookup(key);
    expect(v && [v.readUInt16BE(0), v.readUInt16BE(2)]).toEqual([5000, 53]);
  });

  test('a denied datagram: every fragment is dropped', () => {
    expect(run(fragment(8, 'first', { dport: 54 })).retval).toBe(TC_ACT_SHOT);
    expect(run(fragment(8, 'middle')).retval).toBe(TC_ACT_SHOT);
    expect(run(fragment(8, 'last')).retval).toBe(TC_ACT_SHOT);
  });

  test('a later fragment of another datagram (other id) gets nothing from this one: dropped', () => {
    run(fragment(7, 'first'));
    expect(run(fragment(9, 'last')).retval).toBe(TC_ACT_SHOT);
  });

  test('a later fragment that arrives before its first fragment: dropped', () => {
    expect(run(fragment(10, 'last')).retval).toBe(TC_ACT_SHOT);
    expect(run(fragment(10, 'first')).retval).toBe(TC_ACT_OK);
  });

  test('a large ping: the echo request’s fragments follow the first one', () => {
    t.dp.maps.policy.update(
      policyKey({ ep: A.ip, dir: DIR.egress, level: LEVEL.identity, proto: ICMP, peer: R.id, port: 8 }),
      policyVal(VERDICT.allow),
    );
    const ping = { proto: ICMP, icmpType: 8, icmpId: 77 };
    expect(run(fragment(11, 'first', ping)).retval).toBe(TC_ACT_OK);
    expect(run(fragment(11, 'last', { ...ping, icmpType: 0 })).retval).toBe(TC_ACT_OK);
  });

  test('a fragmented ICMP error is forged (errors quote ≤ 576 bytes): dropped, where the whole one passes', () => {
    // A's socket closed before R's answer came: A reports port unreachable, quoting R's answer (related to A's
    // own connection).
    run({ src: A.ip, dst: R.ip, proto: UDP, sport: 5000, dport: 53 });
    const inner: FrameOpts = { src: R.ip, dst: A.ip, proto: UDP, sport: 53, dport: 5000 };
    const error: FrameOpts = { src: A.ip, dst: R.ip, proto: ICMP, icmpType: 3, icmpCode: 3, inner, ipId: 12 };
    expect(run(error).retval).toBe(TC_ACT_OK);
    expect(run({ ...error, fragOff: MF }).retval).toBe(TC_ACT_SHOT);
  });
});
