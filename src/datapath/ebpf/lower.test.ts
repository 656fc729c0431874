import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Protocol, Segment } from '../../policy/types.js';
import { desired, endpoint, enforced, seg, service } from '../builders.test-helper.js';
import { formatIpv4 } from '../ipv4.js';
import type { DesiredState, EndpointState } from '../types.js';
import { diffLowered } from './diff.js';
import {
  decodeBackendKey,
  decodeBackendVal,
  decodeEndpointVal,
  decodeIpcacheKey,
  decodeIpcacheVal,
  decodePolicyKey,
  decodePolicyVal,
  decodeSvcKey,
  decodeSvcVal,
  PW_EP_EGRESS_DEFAULT_ALLOW,
  PW_EP_EGRESS_ENFORCED,
  PW_EP_INGRESS_ENFORCED,
  PW_EP_PEER,
  PW_MAX_ENDPOINTS,
} from './layout.js';
import { disjointPieces, type Lowered, Lowerer, LoweringError, portBlocks } from './lower.js';

const DIR = ['ingress', 'egress'];
const LEVEL = ['ip', 'identity', 'pods', 'wildcard'];
const VERDICT = ['', 'ALLOW', 'AUDIT', 'DENY', 'REDIRECT'];
const PROTO: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** Policy entries as sorted readable rows: `ep dir level[:peer] proto port/prefixlen VERDICT`. */
function policyRows(l: Lowered): string[] {
  return [...l.policy.values()]
    .map(({ key, value }) => {
      const k = decodePolicyKey(key);
      const peer = k.level === 0 ? `:${formatIpv4(k.peer)}` : k.level === 1 ? `:${k.peer}` : '';
      return `${formatIpv4(k.epIp)} ${DIR[k.dir]} ${LEVEL[k.level]}${peer} ${PROTO[k.proto]} ${k.port}/${k.prefixlen} ${VERDICT[decodePolicyVal(value).verdict]}`;
    })
    .sort();
}

function ipcacheRows(l: Lowered): string[] {
  return [...l.ipcache.values()]
    .map(({ key, value }) => {
      const k = decodeIpcacheKey(key);
      return `${formatIpv4(k.ip)}/${k.prefixlen} ${decodeIpcacheVal(value).identity}`;
    })
    .sort();
}

function serviceRows(l: Lowered): string[] {
  const rows: string[] = [];
  for (const { key, value } of l.services.values()) {
    const k = decodeSvcKey(key);
    const v = decodeSvcVal(value);
    rows.push(`svc ${formatIpv4(k.vip)}:${k.vport}/${PROTO[k.proto]} id=${v.svcId} count=${v.count}`);
  }
  for (const { key, value } of l.backends.values()) {
    const k = decodeBackendKey(key);
    const v = decodeBackendVal(value);
    rows.push(`backend id=${k.svcId} slot=${k.slot} ${formatIpv4(v.ip)}:${v.port}`);
  }
  return rows.sort();
}

/** Bytes of every map as hex → hex (for byte-identical comparisons). */
function bytes(l: Lowered): Record<string, [string, string][]> {
  const out: Record<string, [string, string][]> = {};
  for (const [name, m] of Object.entries(l))
    out[name] = [...(m as Lowered['policy']).entries()].map(([k, e]) => [k, e.value.toString('hex')]);
  for (const v of Object.values(out)) v.sort(([a], [b]) => (a < b ? -1 : 1));
  return out;
}

const EP = '10.0.0.5';
/** One endpoint whose ingress wildcard level holds `segs`. */
function wildcardState(segs: Segment[]): DesiredState {
  return desired({ endpoints: [endpoint('default/a', EP, 1001, { ingress: enforced({ wildcard: segs }) })] });
}
const lowerOnce = (s: DesiredState, ifindexOf?: (ep: EndpointState) => number) => new Lowerer().lower(s, ifindexOf);

describe('lower: port ranges become aligned power-of-two blocks', () => {
  const cases: { name: string; segs: Segment[]; rows: string[] }[] = [
    { name: 'TCP 0-65535: one /96 entry', segs: [seg('TCP', 0, 65535)], rows: ['TCP 0/96 ALLOW'] },
    {
      name: 'TCP 1-65535: 16 blocks',
      segs: [seg('TCP', 1, 65535)],
      rows: Array.from({ length: 16 }, (_, k) => `TCP ${2 ** k}/${112 - k} ALLOW`),
    },
    { name: 'TCP 80-80: one /112 entry', segs: [seg('TCP', 80)], rows: ['TCP 80/112 ALLOW'] },
    {
      name: 'TCP 8000-8080: 64 + 16 + 1',
      segs: [seg('TCP', 8000, 8080)],
      rows: ['TCP 8000/106 ALLOW', 'TCP 8064/108 ALLOW', 'TCP 8080/112 ALLOW'],
    },
    { name: 'TCP 0-255: one /104 block', segs: [seg('TCP', 0, 255)], rows: ['TCP 0/104 ALLOW'] },
    { name: 'TCP 65535: the last port', segs: [seg('TCP', 65535)], rows: ['TCP 65535/112 ALLOW'] },
    { name: 'ICMP 0-255: every type, one /96 entry', segs: [seg('ICMP', 0, 255)], rows: ['ICMP 0/96 ALLOW'] },
    { name: 'ICMP type 8', segs: [seg('ICMP', 8)], rows: ['ICMP 8/112 ALLOW'] },
    { name: 'ICMP 0-15', segs: [seg('ICMP', 0, 15)], rows: ['ICMP 0/108 ALLOW'] },
    {
      name: 'protocols are independent',
      segs: [seg('TCP', 53), seg('UDP', 53), seg('SCTP', 53)],
      rows: ['SCTP 53/112 ALLOW', 'TCP 53/112 ALLOW', 'UDP 53/112 ALLOW'],
    },
    {
      name: 'adjacent segments with one verdict merge',
      segs: [seg('TCP', 80), seg('TCP', 81)],
      rows: ['TCP 80/111 ALLOW'],
    },
    {
      name: 'adjacent segments with different verdicts stay apart',
      segs: [seg('TCP', 80), seg('TCP', 81, 81, { deny: true })],
      rows: ['TCP 80/112 ALLOW', 'TCP 81/112 DENY'],
    },
    {
      name: 'verdicts: audit (even on a deny) > deny > l7 redirect > allow',
      segs: [
        seg('TCP', 1, 1, { audit: true, deny: true }),
        seg('TCP', 3, 3, { deny: true }),
        seg('TCP', 5, 5, { l7: true }),
        seg('TCP', 7, 7, { l7: true, audit: true }),
        seg('TCP', 9),
      ],
      rows: ['TCP 1/112 AUDIT', 'TCP 3/112 DENY', 'TCP 5/112 REDIRECT', 'TCP 7/112 AUDIT', 'TCP 9/112 ALLOW'],
    },
  ];
  it.each(cases)('$name', ({ segs, rows }) => {
    const got = policyRows(lowerOnce(wildcardState(segs)));
    expect(got).toEqual(rows.map((r) => `${EP} ingress wildcard ${r}`).sort());
  });

  it('portBlocks covers exactly [lo, hi] with aligned blocks (exhaustive over small ranges)', () => {
    const wrong: string[] = [];
    for (let lo = 0; lo < 70; lo++)
      for (let hi = lo; hi < 140; hi++) {
        let next = lo;
        for (const [p, k] of portBlocks(lo, hi)) {
          if (p !== next || p % 2 ** k !== 0) wrong.push(`${lo}-${hi}: block ${p}/${k}`);
          next = p + 2 ** k;
        }
        if (next !== hi + 1) wrong.push(`${lo}-${hi}: ends at ${next - 1}`);
      }
    expect(wrong).toEqual([]);
    expect(portBlocks(0, 65535)).toEqual([[0, 16]]);
  });
});

describe('lower: overlapping segments of one level, first wins (findSegment)', () => {
  const cases: { name: string; segs: Segment[]; rows: string[] }[] = [
    {
      name: 'partial overlap: the first keeps 85-90',
      segs: [seg('TCP', 80, 90), seg('TCP', 85, 100, { deny: true })],
      rows: [
        'TCP 80/109 ALLOW',
        'TCP 88/111 ALLOW',
        'TCP 90/112 ALLOW',
        'TCP 91/112 DENY',
        'TCP 92/110 DENY',
        'TCP 96/110 DENY',
        'TCP 100/112 DENY',
      ],
    },
    {
      name: 'partial overlap, reversed input order',
      segs: [seg('TCP', 85, 100, { deny: true }), seg('TCP', 80, 90)],
      rows: [
        'TCP 80/110 ALLOW',
        'TCP 84/112 ALLOW',
        'TCP 85/112 DENY',
        'TCP 86/111 DENY',
        'TCP 88/109 DENY',
        'TCP 96/110 DENY',
        'TCP 100/112 DENY',
      ],
    },
    {
      name: 'an earlier full range hides a later single port',
      segs: [seg('TCP', 0, 65535, { deny: true }), seg('TCP', 80)],
      rows: ['TCP 0/96 DENY'],
    },
    {
      name: 'an earlier single port punches a hole in a later full range',
      segs: [seg('TCP', 80), seg('TCP', 0, 65535, { deny: true })],
      rows: [
        'TCP 0/106 DENY',
        'TCP 64/108 DENY',
        'TCP 80/112 ALLOW',
        'TCP 81/112 DENY',
        'TCP 82/111 DENY',
        'TCP 84/110 DENY',
        'TCP 88/109 DENY',
        'TCP 96/107 DENY',
        'TCP 128/105 DENY',
        'TCP 256/104 DENY',
        'TCP 512/103 DENY',
        'TCP 1024/102 DENY',
        'TCP 2048/101 DENY',
        'TCP 4096/100 DENY',
        'TCP 8192/99 DENY',
        'TCP 16384/98 DENY',
        'TCP 32768/97 DENY',
      ],
    },
    {
      name: 'exact duplicate: the first verdict',
      segs: [seg('TCP', 80, 80, { deny: true }), seg('TCP', 80)],
      rows: ['TCP 80/112 DENY'],
    },
    {
      name: 'unsorted, disjoint input',
      segs: [seg('TCP', 90), seg('TCP', 80)],
      rows: ['TCP 80/112 ALLOW', 'TCP 90/112 ALLOW'],
    },
  ];
  it.each(cases)('$name', ({ segs, rows }) => {
    expect(policyRows(lowerOnce(wildcardState(segs)))).toEqual(rows.map((r) => `${EP} ingress wildcard ${r}`).sort());
  });

  it('property: the blocks answer every port like findSegment', () => {
    const MAX = 300;
    const pieceArb = fc
      .tuple(fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 3 }))
      .map(([lo, span, v]) => ({ lo, hi: Math.min(MAX, lo + span), v }));
    fc.assert(
      fc.property(fc.array(pieceArb, { maxLength: 8 }), (segs) => {
        // The blocks of one level are disjoint, so the LPM hit for a port is the one block containing it.
        const byPort = new Array<number | undefined>(MAX + 1);
        for (const p of disjointPieces(segs))
          for (const [port, k] of portBlocks(p.lo, p.hi))
            for (let x = port; x < port + 2 ** k; x++) {
              if (byPort[x] !== undefined) return false;
              byPort[x] = p.v;
            }
        for (let port = 0; port <= MAX; port++)
          if (byPort[port] !== segs.find((s) => s.lo <= port && port <= s.hi)?.v) return false;
        return true;
      }),
      { numRuns: 500 },
    );
  });
});

describe('lower: levels, peers, directions, endpoints', () => {
  it('each level with its peer; byIp keys with and without /32 name one peer (the first key counts)', () => {
    const ingress = enforced({
      byIp: { '10.0.0.6': [seg('TCP', 80)], '10.0.0.6/32': [seg('TCP', 81)], '10.0.0.7/32': [seg('UDP', 53)] },
      byIdentity: { 1002: [seg('TCP', 80, 80, { deny: true })], 4294967295: [seg('SCTP', 9)] },
      pods: [seg('ICMP', 8)],
      wildcard: [seg('TCP', 443, 443, { l7: true })],
    });
    const s = desired({ endpoints: [endpoint('default/a', EP, 1001, { ingress })] });
    expect(policyRows(lowerOnce(s))).toEqual(
      [
        'ingress ip:10.0.0.6 TCP 80/112 ALLOW',
        'ingress ip:10.0.0.7 UDP 53/112 ALLOW',
        'ingress identity:1002 TCP 80/112 DENY',
        'ingress identity:4294967295 SCTP 9/112 ALLOW',
        'ingress pods ICMP 8/112 ALLOW',
        'ingress wildcard TCP 443/112 REDIRECT',
      ]
        .map((r) => `${EP} ${r}`)
        .sort(),
    );
  });

  it('an unenforced direction has no entries and no flags; flags follow enforcement and default allow', () => {
    const s = desired({
      endpoints: [
        endpoint('default/a', EP, 1001, {
          ingress: { ...enforced(), enforced: false, wildcard: [seg('TCP', 80)], defaultAllow: true },
          egress: enforced({ wildcard: [seg('UDP', 53)], defaultAllow: true }),
        }),
        endpoint('default/b', '10.0.0.6', 1002, { ingress: enforced() }),
      ],
    });
    const l = lowerOnce(s, (ep) => (ep.name === 'default/a' ? 7 : 0));
    expect(policyRows(l)).toEqual([`${EP} egress wildcard UDP 53/112 ALLOW`]);
    const vals = [...l.endpoints.values()].map((e) => decodeEndpointVal(e.value));
    expect(vals).toEqual([
      { identity: 1001, ifindex: 7, flags: PW_EP_EGRESS_ENFORCED | PW_EP_EGRESS_DEFAULT_ALLOW },
      { identity: 1002, ifindex: 0, flags: PW_EP_INGRESS_ENFORCED },
    ]);
  });
});

describe('lower: ipcache', () => {
  const cases: { name: string; state: Partial<DesiredState>; rows: string[] }[] = [
    {
      name: 'pod /32 entries and CIDRs (host bits masked)',
      state: {
        ipcache: [
          { prefix: '10.0.0.5/32', identity: 1001 },
          { prefix: '192.0.2.77/24', identity: 16777217 },
          { prefix: '0.0.0.0/0', identity: 16777218 },
          { prefix: '10.0.0.9', identity: 1003 },
        ],
      },
      rows: ['0.0.0.0/0 16777218', '10.0.0.5/32 1001', '10.0.0.9/32 1003', '192.0.2.0/24 16777217'],
    },
    {
      name: 'host IPs are /32 → 1, also inside a CIDR',
      state: { ipcache: [{ prefix: '10.0.0.0/8', identity: 16777217 }], hostIps: ['10.0.0.1', '172.16.0.1'] },
      rows: ['10.0.0.0/8 16777217', '10.0.0.1/32 1', '172.16.0.1/32 1'],
    },
    {
      name: 'an ipcache /32 for a host IP wins over the host (IdentityResolver precedence)',
      state: { ipcache: [{ prefix: '10.0.0.1/32', identity: 16777219 }], hostIps: ['10.0.0.1'] },
      rows: ['10.0.0.1/32 16777219'],
    },
    {
      name: 'a later duplicate prefix wins',
      state: {
        ipcache: [
          { prefix: '10.1.0.0/16', identity: 5 },
          { prefix: '10.1.2.3/16', identity: 6 },
        ],
      },
      rows: ['10.1.0.0/16 6'],
    },
  ];
  it.each(cases)('$name', ({ state, rows }) => {
    expect(ipcacheRows(lowerOnce(desired({ endpoints: [], ...state })))).toEqual(rows);
  });
});

describe('lower: services', () => {
  const be = (ip: string, port = 8080) => ({ ip, port });
  it('a service: svc entry with the backend count, one backend per slot; no backends: count 0', () => {
    const s = desired({
      endpoints: [],
      services: [
        service('default/web:http', '10.96.0.10', 80, [be('10.0.0.5'), be('10.0.0.6', 9090)]),
        { key: 'kube-system/dns:dns', ip: '10.96.0.53', port: 53, protocol: 'UDP', backends: [] },
      ],
    });
    expect(serviceRows(lowerOnce(s))).toEqual([
      'backend id=1 slot=0 10.0.0.5:8080',
      'backend id=1 slot=1 10.0.0.6:9090',
      'svc 10.96.0.10:80/TCP id=1 count=2',
      'svc 10.96.0.53:53/UDP id=2 count=0',
    ]);
  });

  it('svc_id: stable per key; a freed id is reused only after a whole call without it', () => {
    const svc = (key: string, n: number) => service(key, `10.96.0.${n}`, 80, [be('10.0.0.5')]);
    const lw = new Lowerer();
    const ids = (svcs: ReturnType<typeof svc>[]) => {
      lw.lower(desired({ endpoints: [], services: svcs }));
      return Object.fromEntries(svcs.map((s) => [s.key, lw.svcIdOf(s.key)]));
    };
    expect(ids([svc('a', 1), svc('b', 2)])).toEqual({ a: 1, b: 2 });
    // b moves to another address and the list order changes: same id.
    expect(ids([svc('b', 9), svc('a', 1)])).toEqual({ b: 2, a: 1 });
    // a is dropped; c arrives in the same call: not a's id.
    expect(ids([svc('b', 9), svc('c', 3)])).toEqual({ b: 2, c: 3 });
    // one call later, a's id is free.
    expect(ids([svc('b', 9), svc('c', 3), svc('d', 4)])).toEqual({ b: 2, c: 3, d: 1 });
  });

  it('svc_id after a restart: a service at an address the previous agent left keeps its id; no other takes one', () => {
    const svc = (key: string, n: number) => service(key, `10.96.0.${n}`, 80, [be('10.0.0.5')]);
    const earlier = new Lowerer();
    const pinned = earlier.lower(desired({ endpoints: [], services: [svc('x', 1), svc('y', 2), svc('z', 3)] }));
    const lw = new Lowerer();
    lw.adopt(pinned.services);
    // Same addresses under new keys keep their ids; y's address is gone: its id (2) is not given to w this call.
    lw.lower(desired({ endpoints: [], services: [svc('c', 3), svc('w', 7), svc('a', 1)] }));
    expect([lw.svcIdOf('a'), lw.svcIdOf('c'), lw.svcIdOf('w')]).toEqual([1, 3, 4]);
    lw.lower(desired({ endpoints: [], services: [svc('c', 3), svc('w', 7), svc('a', 1), svc('v', 8)] }));
    expect(lw.svcIdOf('v')).toBe(2);
  });

  it('a failed lower() leaves the svc_id allocator untouched', () => {
    const lw = new Lowerer();
    lw.lower(desired({ endpoints: [], services: [service('a', '10.96.0.1', 80, [])] }));
    const bad = desired({
      endpoints: [],
      services: [service('b', '10.96.0.2', 80, []), service('c', '10.96.0.3', 80, [be('10.0.0.256')])],
    });
    expect(() => lw.lower(bad)).toThrow(LoweringError);
    lw.lower(
      desired({ endpoints: [], services: [service('a', '10.96.0.1', 80, []), service('d', '10.96.0.4', 80, [])] }),
    );
    expect([lw.svcIdOf('a'), lw.svcIdOf('b'), lw.svcIdOf('c'), lw.svcIdOf('d')]).toEqual([1, undefined, undefined, 2]);
  });
});

describe('lower: errors (LoweringError)', () => {
  const ok = () => endpoint('default/a', EP, 1001);
  const cases: { name: string; state: () => DesiredState; message: RegExp }[] = [
    {
      name: 'bad endpoint IP',
      state: () => desired({ ipcache: [], endpoints: [endpoint('default/a', '10.0.0.256', 1)] }),
      message: /endpoint default\/a: bad IPv4 address "10.0.0.256"/,
    },
    {
      name: 'non-canonical address (leading zero)',
      state: () => desired({ ipcache: [], endpoints: [endpoint('default/a', '10.0.0.05', 1)] }),
      message: /bad IPv4 address "10.0.0.05"/,
    },
    {
      name: 'bad prefix length',
      state: () => desired({ endpoints: [], ipcache: [{ prefix: '10.0.0.0/33', identity: 5 }] }),
      message: /ipcache 10.0.0.0\/33: bad prefix "10.0.0.0\/33"/,
    },
    {
      name: 'identity over 32 bits',
      state: () => desired({ endpoints: [], ipcache: [{ prefix: '10.0.0.1/32', identity: 2 ** 32 }] }),
      message: /identity 4294967296 does not fit in 32 bits/,
    },
    {
      name: 'byIdentity key that is not a number',
      state: () =>
        desired({
          endpoints: [
            endpoint('default/a', EP, 1, { ingress: enforced({ byIdentity: { x: [seg('TCP', 80)] } as never }) }),
          ],
        }),
      message: /byIdentity key "x" is not an identity/,
    },
    {
      name: 'byIp key that is a CIDR',
      state: () =>
        desired({
          endpoints: [
            endpoint('default/a', EP, 1, { egress: enforced({ byIp: { '10.0.0.0/24': [seg('TCP', 80)] } }) }),
          ],
        }),
      message: /egress byIp key: bad IPv4 address "10.0.0.0\/24"/,
    },
    {
      name: 'TCP port over 65535',
      state: () => wildcardState([seg('TCP', 80, 70000)]),
      message: /TCP: port 70000 out of range 0-65535/,
    },
    { name: 'ICMP type over 255', state: () => wildcardState([seg('ICMP', 0, 256)]), message: /range 0-255/ },
    { name: 'empty segment', state: () => wildcardState([seg('TCP', 90, 80)]), message: /empty TCP segment 90-80/ },
    {
      name: 'two endpoints with one IP',
      state: () => desired({ endpoints: [ok(), endpoint('default/b', EP, 1002)] }),
      message: /two endpoints with IP 10.0.0.5 \(default\/b\)/,
    },
    {
      name: 'two services with one address',
      state: () =>
        desired({ endpoints: [], services: [service('a', '10.96.0.1', 80, []), service('b', '10.96.0.1', 80, [])] }),
      message: /service b: two services with address 10.96.0.1:80\/TCP/,
    },
    {
      name: 'two services with one key',
      state: () =>
        desired({ endpoints: [], services: [service('a', '10.96.0.1', 80, []), service('a', '10.96.0.2', 80, [])] }),
      message: /service a: duplicate service key/,
    },
    {
      name: 'endpoints over capacity',
      state: () =>
        desired({
          ipcache: [],
          endpoints: Array.from({ length: PW_MAX_ENDPOINTS + 1 }, (_, i) =>
            endpoint(`ns/p${i}`, formatIpv4(0x0a000000 + i), 1001),
          ),
        }),
      message: /map endpoints: 16385 entries exceed its capacity 16384/,
    },
  ];
  it.each(cases)('$name', ({ state, message }) => {
    const s = state();
    expect(() => lowerOnce(s)).toThrow(LoweringError);
    expect(() => lowerOnce(s)).toThrow(message);
  });

  it('bad ifindex', () => {
    expect(() => lowerOnce(desired({ endpoints: [ok()] }), () => -1)).toThrow(/endpoint default\/a: bad ifindex -1/);
  });
});

describe('lower: caching', () => {
  const ep = (name: string, ip: string, port: number) =>
    endpoint(name, ip, 1001, { ingress: enforced({ byIdentity: { 1002: [seg('TCP', port, port + 100)] } }) });

  it('the same input lowers to the same bytes, reusing Entry objects (diff is empty)', () => {
    const s = desired({
      endpoints: [ep('a', '10.0.0.5', 80), ep('b', '10.0.0.6', 90)],
      hostIps: ['10.0.0.1'],
      services: [service('s', '10.96.0.1', 80, [{ ip: '10.0.0.5', port: 80 }])],
    });
    const lw = new Lowerer();
    const first = lw.lower(s);
    const second = lw.lower(s);
    expect(bytes(second)).toEqual(bytes(first));
    for (const [k, e] of second.policy) expect(e).toBe(first.policy.get(k));
    expect(diffLowered(first, second)).toEqual([]);
  });

  it('a changed ifindex rewrites only the endpoint value; a new endpoint object is lowered again', () => {
    const a = ep('a', '10.0.0.5', 80);
    const b = ep('b', '10.0.0.6', 90);
    const lw = new Lowerer();
    const first = lw.lower(desired({ endpoints: [a, b] }), () => 3);
    const second = lw.lower(desired({ endpoints: [a, b] }), (e) => (e === a ? 4 : 3));
    expect(diffLowered(first, second).map((o) => `${o.map} ${o.kind}`)).toEqual(['endpoints update']);
    const b2 = ep('b', '10.0.0.6', 95);
    const third = lw.lower(desired({ endpoints: [a, b2] }), (e) => (e === a ? 4 : 3));
    expect(bytes(third)).toEqual(bytes(new Lowerer().lower(desired({ endpoints: [a, b2] }), (e) => (e === a ? 4 : 3))));
  });

  it('an interface with a peer (a veth) marks the endpoint PW_EP_PEER; no interface, no mark; a change rewrites it', () => {
    const a = ep('a', '10.0.0.5', 80);
    const lw = new Lowerer();
    const flagsOf = (l: Lowered) => decodeEndpointVal([...l.endpoints.values()][0]!.value).flags;
    const veth = lw.lower(
      desired({ endpoints: [a] }),
      () => 3,
      () => true,
    );
    expect(flagsOf(veth) & PW_EP_PEER).toBe(PW_EP_PEER);
    const other = lw.lower(
      desired({ endpoints: [a] }),
      () => 3,
      () => false,
    );
    expect(flagsOf(other) & PW_EP_PEER).toBe(0);
    expect(diffLowered(veth, other).map((o) => `${o.map} ${o.kind}`)).toEqual(['endpoints update']);
    expect(
      flagsOf(
        new Lowerer().lower(
          desired({ endpoints: [a] }),
          () => 0,
          () => true,
        ),
      ) & PW_EP_PEER,
    ).toBe(0);
  });

  it('property: a Lowerer fed a sequence of states matches a fresh Lowerer on every one', () => {
    const pool = [ep('a', '10.0.0.5', 80), ep('b', '10.0.0.6', 90), ep('c', '10.0.0.7', 1000), ep('d', '10.0.0.8', 7)];
    const stateArb = fc.record({
      eps: fc.subarray(pool),
      fresh: fc.boolean(),
      cidr: fc.constantFrom(7, 8, 9),
      ifindex: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(stateArb, { minLength: 1, maxLength: 6 }), (steps) => {
        const lw = new Lowerer();
        for (const st of steps) {
          const eps = st.fresh ? st.eps.map((e) => structuredClone(e)) : st.eps;
          const s = desired({ endpoints: eps });
          s.ipcache.push({ prefix: '192.0.2.0/24', identity: st.cidr });
          const idx = (e: EndpointState) => (e.name === 'a' ? st.ifindex : 1);
          expect(bytes(lw.lower(s, idx))).toEqual(bytes(new Lowerer().lower(s, idx)));
        }
      }),
      { numRuns: 100 },
    );
  });
});

// ---- performance: lower() + diff for a full build and for one changed endpoint ----

/** 10k ipcache entries; 100 endpoints with ~100 segments each across levels and directions. */
function bigState(): DesiredState {
  const ipcache = Array.from({ length: 10_000 }, (_, i) => ({
    prefix: `${formatIpv4(0x0a000000 + i)}/32`,
    identity: 1000 + (i % 500),
  }));
  const protocols: Protocol[] = ['TCP', 'UDP'];
  const endpoints = Array.from({ length: 100 }, (_, e) => {
    const byIdentity: Record<number, Segment[]> = {};
    for (let id = 0; id < 20; id++)
      byIdentity[1000 + ((e * 7 + id) % 500)] = [
        seg('TCP', 80 + id),
        seg('TCP', 8000 + id, 8100 + id, { deny: id % 5 === 0 }),
        seg('UDP', 53),
        seg('UDP', 1000 + id * 10, 2000, id % 3 === 0 ? { l7: true } : {}),
      ];
    const wildcard = Array.from({ length: 20 }, (_, i) => seg(protocols[i % 2]!, 10000 + i * 3, 10001 + i * 3));
    return endpoint(`ns/pod${e}`, formatIpv4(0x0a000000 + e), 1000 + (e % 500), {
      ingress: enforced({ byIdentity, wildcard }),
      egress: enforced({ pods: [seg('TCP', 443), seg('ICMP', 0, 255)], wildcard: [seg('UDP', 53)] }),
    });
  });
  return desired({ endpoints, ipcache, hostIps: ['10.255.0.1'] });
}

describe('lower: performance', () => {
  it('full build and one changed endpoint stay fast', () => {
    const s = bigState();
    const lw = new Lowerer();
    const t0 = performance.now();
    const full = lw.lower(s);
    const fullOps = diffLowered(undefined, full).length;
    const t1 = performance.now();
    const changed = structuredClone(s.endpoints[42]!);
    changed.policy.ingress.wildcard.push(seg('TCP', 20000));
    const s2 = { ...s, endpoints: s.endpoints.map((e, i) => (i === 42 ? changed : e)) };
    const t2 = performance.now();
    const next = lw.lower(s2);
    const ops = diffLowered(full, next);
    const t3 = performance.now();
    expect(ops.map((o) => `${o.map} ${o.kind}`)).toEqual(['policy update']);
    expect(full.policy.size).toBeGreaterThan(10_000);
    expect(fullOps).toBe(full.ipcache.size + full.policy.size + full.endpoints.size);
    // Generous bounds (CI machines vary); PODWALL_BENCH=1 prints the numbers.
    expect(t1 - t0).toBeLessThan(2000);
    expect(t3 - t2).toBeLessThan(500);
    if (process.env.PODWALL_BENCH)
      console.log(
        `entries: ipcache ${full.ipcache.size} policy ${full.policy.size}; full lower+diff ${(t1 - t0).toFixed(1)} ms; one endpoint ${(t3 - t2).toFixed(1)} ms`,
      );
  });
});
