/**
 * Flow records from kernel verdicts and proxy events (attribution through evaluateFlow), the NFLOG wire format,
 * filters, the compact printer and the store — all without the kernel. The live NFLOG read is in nflog.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeManifests } from '../api/decode.js';
import { SEED } from '../apiserver/e2e/harness.js';
import { logPrefix } from '../datapath/nftables/render.js';
import { clusterFromObjects } from '../policy/manifests.js';
import { compile } from '../policy/resolve/compile.js';
import type { HttpEvent } from '../proxy/server.js';
import { type AttributionSource, flowsFromHttp, flowsFromNflog } from './build.js';
import { formatCompact } from './compact.js';
import { checkFilter, compileFilter } from './filter.js';
import type { Flow } from './flow.js';
import { bindMessages, decodeDatagram, type NflogPacket } from './nflog.js';
import { parseIpv4Packet } from './packet.js';
import { FlowStore } from './store.js';

function tcpSyn(src: string, dst: string, sport: number, dport: number): Uint8Array {
  const b = Buffer.alloc(40);
  b[0] = 0x45;
  b.writeUInt16BE(40, 2);
  b[8] = 64;
  b[9] = 6;
  src.split('.').forEach((o, i) => {
    b[12 + i] = Number(o);
  });
  dst.split('.').forEach((o, i) => {
    b[16 + i] = Number(o);
  });
  b.writeUInt16BE(sport, 20);
  b.writeUInt16BE(dport, 22);
  b[32] = 0x50;
  b[33] = 0x02; // SYN
  return b;
}

function seedSource(...files: string[]) {
  const objs = files.flatMap((f) =>
    decodeManifests(readFileSync(join(SEED, f), 'utf8'), f).objects.map((d) => d.object),
  );
  const { cluster } = clusterFromObjects(objs);
  const compiled = compile(cluster);
  const src: AttributionSource = { snapshots: () => [{ compiled, enforcedAt: 0, revision: 1 }], nodeName: 'node1' };
  const ip = (prefix: string) => cluster.pods.find((p) => p.name.startsWith(prefix))!.ip;
  return { src, compiled, ip };
}

function pkt(prefix: string, payload: Uint8Array, mark = 0): NflogPacket {
  return { group: 100, prefix, mark, payload, time: new Date('2026-03-01T10:00:00.123Z') };
}

describe('packets and the NFLOG wire format', () => {
  it('parses IPv4/TCP with flags', () => {
    expect(parseIpv4Packet(tcpSyn('10.0.0.1', '10.0.0.2', 40000, 80))).toEqual({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      protocol: 'TCP',
      proto: 6,
      sport: 40000,
      dport: 80,
      tcpFlags: { SYN: true },
    });
    expect(parseIpv4Packet(new Uint8Array([0x60, 0, 0]))).toBeUndefined();
  });

  it('config messages bind the group in copy-packet mode; packet messages decode prefix, mark, payload', () => {
    const [bind, mode] = bindMessages(0x1234, 128);
    expect(bind!.readUInt16LE(4)).toBe((4 << 8) | 1); // NFNL_SUBSYS_ULOG, NFULNL_MSG_CONFIG
    expect(bind!.readUInt16BE(18)).toBe(0x1234); // res_id = group, network order
    expect(mode!.includes(Buffer.from([0, 0, 0, 128, 2]))).toBe(true); // copy_range 128, NFULNL_COPY_PACKET
    // A kernel packet message: nlmsghdr + nfgenmsg + NFULA_PREFIX + NFULA_MARK + NFULA_PAYLOAD
    const attr = (t: number, v: Buffer) => {
      const a = Buffer.alloc((4 + v.length + 3) & ~3);
      a.writeUInt16LE(4 + v.length, 0);
      a.writeUInt16LE(t, 2);
      v.copy(a, 4);
      return a;
    };
    const mark = Buffer.alloc(4);
    mark.writeUInt32BE(16530);
    const body = Buffer.concat([
      Buffer.from([2, 0, 0, 100]),
      attr(10, Buffer.from('pw:in:denied:def \0')),
      attr(2, mark),
      attr(9, Buffer.from(tcpSyn('10.0.0.1', '10.0.0.2', 1, 80))),
    ]);
    const h = Buffer.alloc(16);
    h.writeUInt32LE(16 + body.length, 0);
    h.writeUInt16LE(4 << 8, 4);
    const ack = Buffer.alloc(36);
    ack.writeUInt32LE(36, 0);
    ack.writeUInt16LE(2, 4);
    ack.writeUInt32LE(1, 8);
    ack.writeInt32LE(-16, 16);
    const items = decodeDatagram(Buffer.concat([ack, h, body]));
    expect(items[0]).toEqual({ kind: 'ack', seq: 1, error: 16 });
    expect(items[1]).toMatchObject({
      kind: 'packet',
      packet: { group: 100, prefix: 'pw:in:denied:def ', mark: 16530 },
    });
  });
});

describe('flow records', () => {
  it('a default-deny drop names the isolating policy (policy-verdict + drop event)', () => {
    const { src, ip } = seedSource('app.yaml', 'native/networkpolicy.yaml');
    const xwing = ip('xwing');
    const ds = ip('deathstar-');
    const flows = flowsFromNflog(
      pkt(logPrefix({ direction: 'ingress', verdict: 'denied', level: 'default' }), tcpSyn(xwing, ds, 42818, 80)),
      src,
    );
    expect(flows).toHaveLength(2);
    const [pv, drop] = flows as [Flow, Flow];
    expect(pv).toMatchObject({
      verdict: 'DROPPED',
      drop_reason_desc: 'POLICY_DENIED',
      traffic_direction: 'INGRESS',
      event_type: { type: 5 },
      Type: 'L3_L4',
      node_name: 'node1',
      source: { namespace: 'default', pod_name: 'xwing' },
      destination: { namespace: 'default' },
      l4: { TCP: { source_port: 42818, destination_port: 80, flags: { SYN: true } } },
      ingress_denied_by: [{ name: 'policy', namespace: 'default', kind: 'NetworkPolicy' }],
    });
    expect(pv.source.labels).toContain('k8s:org=alliance');
    expect(drop.event_type).toEqual({ type: 1, sub_type: 133 });
    const line = formatCompact(pv, { noTime: true, printPolicyNames: true });
    expect(line).toMatch(
      /^default\/xwing:42818 \(ID:\d+\) -> default\/deathstar-[a-z0-9-]+:80 \(ID:\d+\) policy-verdict:none INGRESS DENIED \(TCP Flags: SYN\) DENIED BY NetworkPolicy default\/policy$/,
    );
    expect(formatCompact(drop, { noTime: true })).toMatch(/ <> .* Policy denied DROPPED \(TCP Flags: SYN\)$/);
  });

  it('a connection cut by a policy change is one drop record (no new-connection verdict)', () => {
    const { src, ip } = seedSource('app.yaml', 'native/networkpolicy.yaml');
    const flows = flowsFromNflog(
      pkt(
        logPrefix({ direction: 'ingress', verdict: 'denied', level: 'default', cut: true }),
        tcpSyn(ip('xwing'), ip('deathstar-'), 42818, 80),
      ),
      src,
    );
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      verdict: 'DROPPED',
      drop_reason_desc: 'POLICY_DENIED',
      event_type: { type: 1, sub_type: 133 },
      traffic_direction: 'INGRESS',
      source: { pod_name: 'xwing' },
      ingress_denied_by: [{ name: 'policy', namespace: 'default', kind: 'NetworkPolicy' }],
    });
  });

  it('an allowed connection names the allowing policy; attribution follows the state the kernel enforced', () => {
    const { src: l4, ip } = seedSource('app.yaml', 'cilium/networkpolicy-L4.yaml');
    const { src: none } = seedSource('app.yaml');
    // Newest state has no policy, the kernel still logged an allow under rule1 → attributed to rule1.
    const src: AttributionSource = { snapshots: () => [...none.snapshots(), ...l4.snapshots()] };
    const [pv] = flowsFromNflog(
      pkt(
        logPrefix({ direction: 'ingress', verdict: 'allow', level: 'id' }),
        tcpSyn(ip('tiefighter'), ip('deathstar-'), 5000, 80),
      ),
      src,
    );
    expect(pv).toMatchObject({
      verdict: 'FORWARDED',
      policy_match_type: 2,
      ingress_allowed_by: [{ name: 'rule1', namespace: 'default', kind: 'CiliumNetworkPolicy' }],
    });
    expect(formatCompact(pv!, { noTime: true })).toContain('policy-verdict:L3-L4 INGRESS ALLOWED (TCP Flags: SYN)');
  });

  it('proxy events: a 403 is an L7 DROPPED request naming the policy; a forwarded request has a response', () => {
    const { src, ip } = seedSource('app.yaml', 'cilium/networkpolicy-L7.yaml');
    const ev = (method: string, url: string, code: number, verdict: HttpEvent['verdict']): HttpEvent => ({
      time: new Date(),
      src: { ip: ip('tiefighter'), port: 42742 },
      dst: { ip: ip('deathstar-'), port: 80 },
      method,
      url,
      host: 'deathstar.default.svc.cluster.local',
      protocol: 'HTTP/1.1',
      code,
      latencyMs: 2,
      verdict,
      ...(verdict === 'denied' ? { reason: 'policy' as const } : {}),
    });
    const denied = flowsFromHttp(ev('PUT', '/v1/exhaust-port', 403, 'denied'), src);
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({
      verdict: 'DROPPED',
      Type: 'L7',
      event_type: { type: 129 },
      traffic_direction: 'INGRESS',
      l7: {
        type: 'REQUEST',
        http: { code: 403, method: 'PUT', url: 'http://deathstar.default.svc.cluster.local/v1/exhaust-port' },
      },
      ingress_denied_by: [{ name: 'rule1', namespace: 'default', kind: 'CiliumNetworkPolicy' }],
    });
    expect(formatCompact(denied[0]!, { noTime: true })).toMatch(
      /^default\/tiefighter:42742 \(ID:\d+\) -> default\/deathstar-\S+:80 \(ID:\d+\) http-request DROPPED \(HTTP\/1.1 PUT http:\/\/deathstar.default.svc.cluster.local\/v1\/exhaust-port\)$/,
    );
    const ok = flowsFromHttp(ev('POST', '/v1/request-landing', 200, 'forwarded'), src);
    expect(ok.map((f) => [f.l7?.type, f.verdict])).toEqual([
      ['REQUEST', 'FORWARDED'],
      ['RESPONSE', 'FORWARDED'],
    ]);
    expect(ok[0]!.ingress_allowed_by).toEqual([{ name: 'rule1', namespace: 'default', kind: 'CiliumNetworkPolicy' }]);
    expect(formatCompact(ok[1]!, { noTime: true })).toMatch(
      /^default\/tiefighter:42742 .* <- default\/deathstar-\S+:80 .* http-response FORWARDED \(HTTP\/1.1 200 2ms \(POST /,
    );
  });
});

describe('filters and store', () => {
  const { src, ip } = seedSource('app.yaml', 'native/networkpolicy.yaml');
  const drop = flowsFromNflog(
    pkt(
      logPrefix({ direction: 'ingress', verdict: 'denied', level: 'default' }),
      tcpSyn(ip('xwing'), ip('deathstar-'), 1, 80),
    ),
    src,
  );
  const allow = flowsFromNflog(
    pkt(
      logPrefix({ direction: 'ingress', verdict: 'allow', level: 'id' }),
      tcpSyn(ip('tiefighter'), ip('deathstar-'), 2, 80),
    ),
    src,
  );

  it('hubble semantics: OR within a flag, AND across flags, [ns/]pod-prefix', () => {
    const all = [...drop, ...allow];
    const count = (f: Parameters<typeof compileFilter>[0]) => all.filter(compileFilter(f)).length;
    expect(count({ verdict: ['DROPPED'] })).toBe(2);
    expect(count({ verdict: ['dropped', 'forwarded'] })).toBe(3);
    expect(count({ fromPod: ['xwing'] })).toBe(2);
    expect(count({ fromPod: ['kube-system/xwing'] })).toBe(0);
    expect(count({ toPod: ['default/deathstar-'] })).toBe(3);
    expect(count({ pod: ['tiefighter'], verdict: ['DROPPED'] })).toBe(0);
    expect(count({ type: ['drop'] })).toBe(1);
    expect(count({ type: ['policy-verdict'] })).toBe(2);
    expect(count({ protocol: ['tcp'] })).toBe(3);
    expect(count({ protocol: ['http'] })).toBe(0);
    expect(count({ dropReasonDesc: ['policy_denied'] })).toBe(2);
    expect(count({ dropReasonDesc: ['POLICY_DENY', 'INVALID_SOURCE_IP'] })).toBe(0);
    expect(checkFilter({ verdict: ['NOPE'], type: ['x'], httpStatus: ['40'] })).toHaveLength(3);
    expect(checkFilter({ httpStatus: ['403', '5+'], dropReasonDesc: ['invalid_source_ip'] })).toEqual([]);
    expect(checkFilter({ dropReasonDesc: ['NOT_A_REASON'] })).toEqual([
      expect.stringMatching(
        /^invalid --drop-reason-desc "NOT_A_REASON": want one of INVALID_SOURCE_IP, POLICY_DENIED, /,
      ),
    ]);
  });

  it('keeps flows by age and by count, serves the newest N and live subscribers', () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const store = new FlowStore({ maxAgeMs: 60_000, maxFlows: 3, now: () => now });
    const at = (ms: number): Flow => ({ ...allow[0]!, uuid: String(ms), time: new Date(ms).toISOString() });
    const live: string[] = [];
    const unsub = store.subscribe({ verdict: ['FORWARDED'] }, (f) => live.push(f.uuid));
    store.add(at(now - 120_000)); // already too old
    store.add(at(now - 1000));
    store.add(at(now - 500));
    expect(store.query().map((f) => f.uuid)).toEqual([String(now - 1000), String(now - 500)]);
    store.add(at(now));
    store.add(at(now + 1));
    expect(store.size).toBe(3);
    expect(store.query({ last: 2 }).map((f) => f.uuid)).toEqual([String(now), String(now + 1)]);
    now += 61_000;
    expect(store.query()).toEqual([]);
    unsub();
    store.add(at(now));
    expect(live).toHaveLength(5);
  });
});
