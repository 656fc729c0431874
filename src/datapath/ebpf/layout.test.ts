import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../ipv4.js';
import * as L from './layout.js';

const ip = parseIpv4;
const hex = (s: string) => s.replace(/\s+/g, '');

describe('layout: byte-exact encodings', () => {
  const cases: { name: string; got: () => Buffer; want: string }[] = [
    {
      name: 'l2 value: ifindex 7, pod 02:aa:bb:cc:dd:01 behind gateway 02:00:00:00:00:fe',
      got: () => L.encodeL2Val({ ifindex: 7, podMac: '02:aa:bb:cc:dd:01', gwMac: '02:00:00:00:00:fe' }),
      // ifindex LE | pod_mac | gw_mac
      want: '07000000 02aabbccdd01 0200000000fe',
    },
    {
      name: 'policy key: ep 10.0.0.5 ingress identity 1001 TCP 80 /112',
      got: () =>
        L.encodePolicyKey({
          prefixlen: 112,
          epIp: ip('10.0.0.5'),
          dir: L.PW_DIR_INGRESS,
          level: L.PW_LEVEL_IDENTITY,
          proto: L.IPPROTO_TCP,
          peer: 1001,
          port: 80,
        }),
      // prefixlen LE | ep_ip BE | dir level proto pad | peer BE | port BE | pad2
      want: '70000000 0a000005 00 01 06 00 000003e9 0050 0000',
    },
    {
      name: 'policy key: egress level ip peer 10.0.0.6 UDP all ports /96',
      got: () =>
        L.encodePolicyKey({
          prefixlen: 96,
          epIp: ip('10.0.0.5'),
          dir: L.PW_DIR_EGRESS,
          level: L.PW_LEVEL_IP,
          proto: L.IPPROTO_UDP,
          peer: ip('10.0.0.6'),
          port: 0,
        }),
      want: '60000000 0a000005 01 00 11 00 0a000006 0000 0000',
    },
    {
      name: 'policy key: wildcard ICMP type 8 (htons(type): type in the low byte)',
      got: () =>
        L.encodePolicyKey({
          prefixlen: 112,
          epIp: ip('192.168.1.2'),
          dir: L.PW_DIR_EGRESS,
          level: L.PW_LEVEL_WILDCARD,
          proto: L.IPPROTO_ICMP,
          peer: 0,
          port: 8,
        }),
      want: '70000000 c0a80102 01 03 01 00 00000000 0008 0000',
    },
    {
      name: 'policy key: identity above 2^31, SCTP block 8000-8063 /106',
      got: () =>
        L.encodePolicyKey({
          prefixlen: 106,
          epIp: ip('10.0.0.5'),
          dir: L.PW_DIR_INGRESS,
          level: L.PW_LEVEL_IDENTITY,
          proto: L.IPPROTO_SCTP,
          peer: 0xfffffffe,
          port: 8000,
        }),
      want: '6a000000 0a000005 00 01 84 00 fffffffe 1f40 0000',
    },
    { name: 'policy val: deny', got: () => L.encodePolicyVal({ verdict: L.PW_VERDICT_DENY }), want: '03000000' },
    {
      name: 'ipcache key: 10.244.0.0/16',
      got: () => L.encodeIpcacheKey({ prefixlen: 16, ip: ip('10.244.0.0') }),
      want: '10000000 0af40000',
    },
    { name: 'ipcache val: 16777217', got: () => L.encodeIpcacheVal({ identity: 16777217 }), want: '01000001' },
    { name: 'endpoint key: 10.0.0.5', got: () => L.encodeEndpointKey({ ip: ip('10.0.0.5') }), want: '0a000005' },
    {
      name: 'endpoint val: identity 1001, ifindex 7, ingress enforced + default allow',
      got: () =>
        L.encodeEndpointVal({
          identity: 1001,
          ifindex: 7,
          flags: L.PW_EP_INGRESS_ENFORCED | L.PW_EP_INGRESS_DEFAULT_ALLOW,
        }),
      want: 'e9030000 07000000 05000000 00000000',
    },
    {
      name: 'config: generation 3, proxy 15001',
      got: () => L.encodeConfig({ generation: 3, proxyPort: 15001, flags: 0 }),
      want: '03000000 993a0000 00000000 00000000',
    },
    { name: 'config key: index 0', got: () => L.encodeConfigKey(), want: '00000000' },
    {
      name: 'ct key: 10.0.0.5:40000 → 10.0.0.6:80 TCP',
      got: () => L.encodeCtKey({ saddr: ip('10.0.0.5'), daddr: ip('10.0.0.6'), sport: 40000, dport: 80, proto: 6 }),
      want: '0a000005 0a000006 9c40 0050 06 000000',
    },
    {
      name: 'ct val: u64 right after two u32 (no hole)',
      got: () => L.encodeCtVal({ generation: 2, flags: L.PW_CT_PROXY, createdNs: 0x0102030405060708n }),
      want: '02000000 01000000 0807060504030201',
    },
    {
      name: 'svc key: 10.96.0.10:53 UDP',
      got: () => L.encodeSvcKey({ vip: ip('10.96.0.10'), vport: 53, proto: L.IPPROTO_UDP }),
      want: '0a60000a 0035 11 00',
    },
    { name: 'svc val: id 7, 3 backends', got: () => L.encodeSvcVal({ svcId: 7, count: 3 }), want: '07000000 03000000' },
    {
      name: 'backend key: id 7 slot 2',
      got: () => L.encodeBackendKey({ svcId: 7, slot: 2 }),
      want: '07000000 02000000',
    },
    {
      name: 'backend val: 10.0.0.6:8080',
      got: () => L.encodeBackendVal({ ip: ip('10.0.0.6'), port: 8080 }),
      want: '0a000006 1f90 0000',
    },
    {
      name: 'revnat key: cookie 1, 10.0.0.6:8080',
      got: () => L.encodeRevnatKey({ cookie: 1n, ip: ip('10.0.0.6'), port: 8080 }),
      want: '0100000000000000 0a000006 1f90 0000',
    },
    {
      name: 'revnat val: 10.96.0.10:80',
      got: () => L.encodeRevnatVal({ vip: ip('10.96.0.10'), vport: 80 }),
      want: '0a60000a 0050 0000',
    },
    {
      name: 'event: TCP egress deny at the identity level',
      got: () =>
        L.encodeEvent({
          tsNs: 1n,
          saddr: ip('10.0.0.5'),
          daddr: ip('10.0.0.6'),
          sport: 40000,
          dport: 80,
          proto: 6,
          dir: L.PW_DIR_EGRESS,
          verdict: L.PW_EV_VERDICT_DENY,
          level: L.PW_EV_LEVEL_IDENTITY,
          peerIdentity: 1002,
          flags: 0,
          ifindex: 7,
          dropReason: 0,
        }),
      want: '0100000000000000 0a000005 0a000006 9c40 0050 06 01 03 01 ea030000 00000000 07000000 00000000',
    },
    {
      name: 'event: a datapath drop carries Hubble’s drop reason (132, invalid source ip)',
      got: () =>
        L.encodeEvent({
          tsNs: 0n,
          saddr: ip('10.0.0.99'),
          daddr: ip('10.0.0.6'),
          sport: 1,
          dport: 2,
          proto: 17,
          dir: L.PW_DIR_EGRESS,
          verdict: L.PW_EV_VERDICT_DROPPED,
          level: 0,
          peerIdentity: 0,
          flags: 0,
          ifindex: 7,
          dropReason: L.PW_DROP_INVALID_SOURCE_IP,
        }),
      want: '0000000000000000 0a000063 0a000006 0001 0002 11 01 07 00 00000000 00000000 07000000 84000000',
    },
    {
      name: 'event: ICMP dport is type << 8 | code in host order',
      got: () =>
        L.encodeEvent({
          tsNs: 0n,
          saddr: ip('10.0.0.5'),
          daddr: ip('10.0.0.6'),
          sport: 0x1234,
          dport: (8 << 8) | 0,
          proto: 1,
          dir: L.PW_DIR_INGRESS,
          verdict: L.PW_EV_VERDICT_DENIED,
          level: L.PW_EV_LEVEL_DEFAULT,
          peerIdentity: 2,
          flags: L.PW_EV_FLAG_CUT,
          ifindex: 3,
          dropReason: 0,
        }),
      want: '0000000000000000 0a000005 0a000006 1234 0008 01 00 05 04 02000000 01000000 03000000 00000000',
    },
  ];
  it.each(cases)('$name', ({ got, want }) => {
    expect(got().toString('hex')).toBe(hex(want));
  });
});

describe('layout: decoders invert the encoders', () => {
  const roundTrips: { name: string; enc: (v: never) => Buffer; dec: (b: Buffer) => unknown; value: unknown }[] = [
    {
      name: 'policy key',
      enc: L.encodePolicyKey as (v: never) => Buffer,
      dec: L.decodePolicyKey,
      value: { prefixlen: 104, epIp: ip('255.1.2.3'), dir: 1, level: 2, proto: 132, peer: 0xdeadbeef, port: 65280 },
    },
    {
      name: 'ipcache key',
      enc: L.encodeIpcacheKey as (v: never) => Buffer,
      dec: L.decodeIpcacheKey,
      value: { prefixlen: 0, ip: 0 },
    },
    {
      name: 'endpoint val',
      enc: L.encodeEndpointVal as (v: never) => Buffer,
      dec: L.decodeEndpointVal,
      value: { identity: 0xffffffff, ifindex: 123456, flags: 15 },
    },
    {
      name: 'ct val',
      enc: L.encodeCtVal as (v: never) => Buffer,
      dec: L.decodeCtVal,
      value: { generation: 9, flags: 3, createdNs: 0xffffffffffffffffn },
    },
    {
      name: 'svc key',
      enc: L.encodeSvcKey as (v: never) => Buffer,
      dec: L.decodeSvcKey,
      value: { vip: ip('10.96.0.1'), vport: 443, proto: 6 },
    },
    {
      name: 'backend val',
      enc: L.encodeBackendVal as (v: never) => Buffer,
      dec: L.decodeBackendVal,
      value: { ip: ip('10.0.0.9'), port: 1 },
    },
    {
      name: 'revnat key',
      enc: L.encodeRevnatKey as (v: never) => Buffer,
      dec: L.decodeRevnatKey,
      value: { cookie: 42n, ip: ip('1.2.3.4'), port: 5 },
    },
    {
      name: 'event (ICMP)',
      enc: L.encodeEvent as (v: never) => Buffer,
      dec: L.decodeEvent,
      value: {
        tsNs: 5n,
        saddr: 1,
        daddr: 2,
        sport: 3,
        dport: 0x0b01,
        proto: 1,
        dir: 0,
        verdict: 6,
        level: 5,
        peerIdentity: 7,
        flags: 1,
        ifindex: 8,
        dropReason: 178,
      },
    },
  ];
  it.each(roundTrips)('$name', ({ enc, dec, value }) => {
    const b = enc(value as never);
    expect(dec(b)).toEqual(value);
    expect(enc(dec(b) as never).equals(b)).toBe(true);
  });

  it('an l2 value decodes to what was encoded; a malformed MAC is an error', () => {
    const v = { ifindex: 9, podMac: 'de:ad:be:ef:00:01', gwMac: '02:00:00:00:00:02' };
    expect(L.decodeL2Val(L.encodeL2Val(v))).toEqual(v);
    expect(() => L.encodeL2Val({ ...v, podMac: 'de:ad:be:ef:00' })).toThrow(/not a MAC address: de:ad:be:ef:00/);
  });

  it('decoders reject a buffer of the wrong size', () => {
    expect(() => L.decodePolicyKey(Buffer.alloc(19))).toThrow(/pw_policy_key: expected 20 bytes/);
  });
});

// ---- the contract itself: constants and struct sizes parsed from bpf/podwall.h ----

const HEADER = readFileSync(new URL('../../../bpf/podwall.h', import.meta.url), 'utf8');

function headerDefines(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of HEADER.matchAll(/^#define (PW_\w+) (.+?)\s*(?:\/\*.*)?$/gm)) {
    const expr = m[2]!.replace(/\b(0x[0-9a-f]+|\d+)u\b/gi, '$1');
    if (!/^[\d\sx*+()a-fA-F]+$/.test(expr)) throw new Error(`unparsed #define ${m[1]} ${m[2]}`);
    out.set(m[1]!, Function(`return (${expr});`)() as number);
  }
  return out;
}

const C_TYPES: Record<string, number> = { __u8: 1, __u16: 2, __u32: 4, __u64: 8 };

/** sizeof of every struct in the header, with C's natural alignment. */
function headerSizes(): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of HEADER.matchAll(/struct (pw_\w+) \{([^}]*)\};/g)) {
    let off = 0;
    let align = 1;
    for (const f of m[2]!.matchAll(/(__u\d+) \w+(?:\[(\d+)\])?;/g)) {
      const size = C_TYPES[f[1]!]!;
      const n = f[2] ? Number(f[2]) : 1;
      off = Math.ceil(off / size) * size + size * n;
      align = Math.max(align, size);
    }
    out.set(m[1]!, Math.ceil(off / align) * align);
  }
  return out;
}

describe('layout: matches bpf/podwall.h', () => {
  const defines = headerDefines();
  it.each([...defines.entries()].map(([name, value]) => ({ name, value })))('#define $name', ({ name, value }) => {
    expect((L as unknown as Record<string, unknown>)[name]).toBe(value);
  });

  const sizes = headerSizes();
  const STRUCTS: Record<string, keyof typeof L.SIZEOF> = {
    pw_ipcache_key: 'ipcacheKey',
    pw_ipcache_val: 'ipcacheVal',
    pw_endpoint_key: 'endpointKey',
    pw_endpoint_val: 'endpointVal',
    pw_l2_key: 'l2Key',
    pw_l2_val: 'l2Val',
    pw_frag_key: 'fragKey',
    pw_frag_val: 'fragVal',
    pw_policy_key: 'policyKey',
    pw_policy_val: 'policyVal',
    pw_config: 'config',
    pw_ct_key: 'ctKey',
    pw_ct_val: 'ctVal',
    pw_svc_key: 'svcKey',
    pw_svc_val: 'svcVal',
    pw_backend_key: 'backendKey',
    pw_backend_val: 'backendVal',
    pw_revnat_key: 'revnatKey',
    pw_revnat_val: 'revnatVal',
    pw_event: 'event',
  };
  it('every struct of the header has a mirror', () => {
    expect([...sizes.keys()].sort()).toEqual(Object.keys(STRUCTS).sort());
  });
  it.each(Object.entries(STRUCTS).map(([struct, field]) => ({ struct, field })))(
    'sizeof(struct $struct)',
    ({ struct, field }) => {
      expect(L.SIZEOF[field]).toBe(sizes.get(struct));
    },
  );

  it('encoders produce exactly sizeof bytes', () => {
    const z = { ip: 0, prefixlen: 0, identity: 0, ifindex: 0, flags: 0, verdict: 0, generation: 0, proxyPort: 0 };
    expect(L.encodeIpcacheKey(z).length).toBe(L.SIZEOF.ipcacheKey);
    expect(L.encodeIpcacheVal(z).length).toBe(L.SIZEOF.ipcacheVal);
    expect(L.encodeEndpointKey(z).length).toBe(L.SIZEOF.endpointKey);
    expect(L.encodeEndpointVal(z).length).toBe(L.SIZEOF.endpointVal);
    expect(L.encodeL2Key(z).length).toBe(L.SIZEOF.l2Key);
    expect(L.encodePolicyVal(z).length).toBe(L.SIZEOF.policyVal);
    expect(L.encodeConfig(z).length).toBe(L.SIZEOF.config);
    expect(L.MAP_SIZES.policy).toEqual({ key: 20, value: 4 });
  });

  it('the host is little-endian (host-order fields are written LE)', () => {
    expect(() => L.assertLittleEndianHost()).not.toThrow();
  });
});
