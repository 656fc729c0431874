import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { desired, endpoint, enforced, seg, service, unenforced } from '../builders.test-helper.js';
import { formatIpv4 } from '../ipv4.js';
import type { DesiredState, ServiceState } from '../types.js';
import { diffLowered, type MapOp } from './diff.js';
import {
  decodeBackendKey,
  decodeBackendVal,
  decodeEndpointKey,
  decodeIpcacheKey,
  decodePolicyKey,
  decodeSvcKey,
  decodeSvcVal,
} from './layout.js';
import { type EntryMap, type Lowered, Lowerer } from './lower.js';

/** `map kind detail` with the key (and for services/backends the value) decoded. */
function show(op: MapOp): string {
  const head = `${op.map} ${op.kind}`;
  switch (op.map) {
    case 'services': {
      const k = decodeSvcKey(op.key);
      const v = op.value ? decodeSvcVal(op.value) : undefined;
      return `${head} ${formatIpv4(k.vip)}:${k.vport}${v ? ` id=${v.svcId} count=${v.count}` : ''}`;
    }
    case 'backends': {
      const k = decodeBackendKey(op.key);
      const v = op.value ? decodeBackendVal(op.value) : undefined;
      return `${head} id=${k.svcId} slot=${k.slot}${v ? ` ${formatIpv4(v.ip)}:${v.port}` : ''}`;
    }
    case 'endpoints':
      return `${head} ${formatIpv4(decodeEndpointKey(op.key).ip)}`;
    case 'ipcache': {
      const k = decodeIpcacheKey(op.key);
      return `${head} ${formatIpv4(k.ip)}/${k.prefixlen}`;
    }
    case 'policy': {
      const k = decodePolicyKey(op.key);
      return `${head} ${formatIpv4(k.epIp)} dir=${k.dir} level=${k.level} port=${k.port}/${k.prefixlen}`;
    }
    default:
      return head;
  }
}

const be = (n: number) => ({ ip: `10.0.0.${n}`, port: 8080 });
const svc = (n: number, key = 'default/web:http') =>
  service(
    key,
    '10.96.0.10',
    80,
    Array.from({ length: n }, (_, i) => be(i + 10)),
  );
const A_IN = enforced({ byIdentity: { 1002: [seg('TCP', 80)] } });

/** Ops from lowering `a` then `b` with one Lowerer (as the driver does). */
function opsBetween(a: DesiredState, b: DesiredState): string[] {
  const lw = new Lowerer();
  const prev = lw.lower(a);
  return diffLowered(prev, lw.lower(b)).map(show);
}

describe('diffLowered: order', () => {
  it('first apply: ipcache, policy, endpoints, backends, services — updates only', () => {
    const s = desired({ endpoints: [endpoint('default/a', '10.0.0.5', 1001, { ingress: A_IN })], services: [svc(1)] });
    expect(diffLowered(undefined, new Lowerer().lower(s)).map(show)).toEqual([
      'ipcache update 10.0.0.5/32',
      'policy update 10.0.0.5 dir=0 level=1 port=80/112',
      'endpoints update 10.0.0.5',
      'backends update id=1 slot=0 10.0.0.10:8080',
      'services update 10.96.0.10:80 id=1 count=1',
    ]);
  });

  const cases: { name: string; from: DesiredState; to: DesiredState; ops: string[] }[] = [
    {
      name: 'nothing changed: no operation',
      from: desired({ endpoints: [endpoint('default/a', '10.0.0.5', 1001, { ingress: A_IN })], services: [svc(2)] }),
      to: desired({ endpoints: [endpoint('default/a', '10.0.0.5', 1001, { ingress: A_IN })], services: [svc(2)] }),
      ops: [],
    },
    {
      name: 'service grows: new slots before count is raised',
      from: desired({ endpoints: [], services: [svc(1)] }),
      to: desired({ endpoints: [], services: [svc(3)] }),
      ops: [
        'backends update id=1 slot=1 10.0.0.11:8080',
        'backends update id=1 slot=2 10.0.0.12:8080',
        'services update 10.96.0.10:80 id=1 count=3',
      ],
    },
    {
      name: 'service shrinks: count lowered before slots are deleted',
      from: desired({ endpoints: [], services: [svc(3)] }),
      to: desired({ endpoints: [], services: [svc(1)] }),
      ops: ['services update 10.96.0.10:80 id=1 count=1', 'backends delete id=1 slot=1', 'backends delete id=1 slot=2'],
    },
    {
      name: 'service loses every backend: count 0, then the slots go',
      from: desired({ endpoints: [], services: [svc(2)] }),
      to: desired({ endpoints: [], services: [svc(0)] }),
      ops: ['services update 10.96.0.10:80 id=1 count=0', 'backends delete id=1 slot=0', 'backends delete id=1 slot=1'],
    },
    {
      name: 'a backend replaced in place: one update',
      from: desired({ endpoints: [], services: [svc(2)] }),
      to: desired({
        endpoints: [],
        services: [{ ...svc(2), backends: [be(10), { ip: '10.0.0.99', port: 9090 }] } as ServiceState],
      }),
      ops: ['backends update id=1 slot=1 10.0.0.99:9090'],
    },
    {
      name: 'service removed: the service entry, then its slots',
      from: desired({ endpoints: [], services: [svc(2)] }),
      to: desired({ endpoints: [] }),
      ops: ['services delete 10.96.0.10:80', 'backends delete id=1 slot=0', 'backends delete id=1 slot=1'],
    },
    {
      name: 'another service takes the address: its slots, the entry switched to its id, the old slots deleted',
      from: desired({ endpoints: [], services: [svc(1, 'old')] }),
      to: desired({ endpoints: [], services: [svc(1, 'new')] }),
      ops: [
        'backends update id=2 slot=0 10.0.0.10:8080',
        'services update 10.96.0.10:80 id=2 count=1',
        'backends delete id=1 slot=0',
      ],
    },
    {
      name: 'direction becomes enforced: its policy entries before the endpoint flags',
      from: desired({ endpoints: [endpoint('default/a', '10.0.0.5', 1001)] }),
      to: desired({ endpoints: [endpoint('default/a', '10.0.0.5', 1001, { ingress: A_IN })] }),
      ops: ['policy update 10.0.0.5 dir=0 level=1 port=80/112', 'endpoints update 10.0.0.5'],
    },
    {
      name: 'direction stops being enforced: the endpoint flags before its policy entries go',
      from: desired({ endpoints: [endpoint('default/a', '10.0.0.5', 1001, { ingress: A_IN })] }),
      to: desired({ endpoints: [endpoint('default/a', '10.0.0.5', 1001, { ingress: unenforced() })] }),
      ops: ['endpoints update 10.0.0.5', 'policy delete 10.0.0.5 dir=0 level=1 port=80/112'],
    },
    {
      name: 'endpoint removed: its policy (while still enforced), then the endpoint, then its ipcache entry',
      from: desired({
        endpoints: [
          endpoint('default/a', '10.0.0.5', 1001, { ingress: A_IN }),
          endpoint('default/b', '10.0.0.6', 1002),
        ],
      }),
      to: desired({ endpoints: [endpoint('default/b', '10.0.0.6', 1002)] }),
      ops: [
        'policy delete 10.0.0.5 dir=0 level=1 port=80/112',
        'endpoints delete 10.0.0.5',
        'ipcache delete 10.0.0.5/32',
      ],
    },
    {
      name: 'a changed verdict is one update of the same key',
      from: desired({ endpoints: [endpoint('default/a', '10.0.0.5', 1001, { ingress: A_IN })] }),
      to: desired({
        endpoints: [
          endpoint('default/a', '10.0.0.5', 1001, {
            ingress: enforced({ byIdentity: { 1002: [seg('TCP', 80, 80, { deny: true })] } }),
          }),
        ],
      }),
      ops: ['policy update 10.0.0.5 dir=0 level=1 port=80/112'],
    },
  ];
  it.each(cases)('$name', ({ from, to, ops }) => {
    expect(opsBetween(from, to)).toEqual(ops);
  });
});

// ---- properties: the ops turn prev into next, every intermediate state keeps services consistent ----

type Kernel = Record<keyof Lowered, Map<string, string>>;

function kernelOf(l: Lowered | undefined): Kernel {
  const m = (e: EntryMap | undefined) =>
    new Map([...(e ?? new Map()).entries()].map(([k, v]) => [k, v.value.toString('hex')]));
  return {
    ipcache: m(l?.ipcache),
    endpoints: m(l?.endpoints),
    policy: m(l?.policy),
    services: m(l?.services),
    backends: m(l?.backends),
  };
}

/** Every service entry's slots 0..count-1 exist (what the socket program reads). */
function servicesConsistent(k: Kernel): string | undefined {
  for (const v of k.services.values()) {
    const { svcId, count } = decodeSvcVal(Buffer.from(v, 'hex'));
    for (let slot = 0; slot < count; slot++) {
      const key = Buffer.alloc(8);
      key.writeUInt32LE(svcId, 0);
      key.writeUInt32LE(slot, 4);
      if (!k.backends.has(key.toString('hex'))) return `service id=${svcId} count=${count}: slot ${slot} missing`;
    }
  }
  return undefined;
}

const EP_POOL = [
  endpoint('default/a', '10.0.0.5', 1001, { ingress: A_IN }),
  endpoint('default/a', '10.0.0.5', 1001, { ingress: enforced({ wildcard: [seg('TCP', 1, 1000)] }) }),
  endpoint('default/b', '10.0.0.6', 1002, { egress: enforced({ pods: [seg('UDP', 53)] }) }),
  endpoint('default/c', '10.0.0.7', 1003),
];

const stateArb: fc.Arbitrary<DesiredState> = fc
  .record({
    eps: fc.subarray(EP_POOL),
    services: fc.array(
      fc.record({
        key: fc.constantFrom('s1', 's2', 's3'),
        vip: fc.integer({ min: 1, max: 3 }),
        n: fc.nat(3),
        port: fc.constantFrom(80, 81),
      }),
      { maxLength: 3 },
    ),
    cidr: fc.boolean(),
  })
  .map(({ eps, services, cidr }) => {
    const byIp = new Map<string, DesiredState['endpoints'][number]>();
    for (const e of eps) byIp.set(e.ip, e);
    const seenKey = new Set<string>();
    const seenVip = new Set<number>();
    const svcs: ServiceState[] = [];
    for (const s of services) {
      if (seenKey.has(s.key) || seenVip.has(s.vip)) continue;
      seenKey.add(s.key);
      seenVip.add(s.vip);
      svcs.push(
        service(
          s.key,
          `10.96.0.${s.vip}`,
          80,
          Array.from({ length: s.n }, (_, i) => ({ ip: `10.0.1.${i}`, port: s.port })),
        ),
      );
    }
    const st = desired({ endpoints: [...byIp.values()], services: svcs });
    if (cidr) st.ipcache.push({ prefix: '192.0.2.0/24', identity: 16777217 });
    return st;
  });

describe('diffLowered: properties', () => {
  it('applying the ops one at a time reaches next, with every service slot present at every step', () => {
    fc.assert(
      fc.property(fc.array(stateArb, { minLength: 1, maxLength: 5 }), (states) => {
        const lw = new Lowerer();
        let prev: Lowered | undefined;
        const kernel = kernelOf(undefined);
        for (const s of states) {
          const next = lw.lower(s);
          for (const op of diffLowered(prev, next)) {
            const m = kernel[op.map as keyof Lowered];
            if (op.kind === 'update') m.set(op.key.toString('hex'), op.value!.toString('hex'));
            else {
              expect(m.has(op.key.toString('hex'))).toBe(true);
              m.delete(op.key.toString('hex'));
            }
            expect(servicesConsistent(kernel)).toBeUndefined();
          }
          expect(kernel).toEqual(kernelOf(next));
          prev = next;
        }
      }),
      { numRuns: 200 },
    );
  });

  it('the Lowerer fast path (unchanged endpoints skipped) gives the same ops as a full comparison', () => {
    fc.assert(
      fc.property(fc.array(stateArb, { minLength: 2, maxLength: 5 }), (states) => {
        const lw = new Lowerer();
        let prev = lw.lower(states[0]!);
        for (const s of states.slice(1)) {
          const next = lw.lower(s);
          // A copy of prev is not the Lowerer's previous result: the diff compares every entry.
          const copy: Lowered = {
            ipcache: new Map(prev.ipcache),
            endpoints: new Map(prev.endpoints),
            policy: new Map(prev.policy),
            services: new Map(prev.services),
            backends: new Map(prev.backends),
          };
          const fast = diffLowered(prev, next).map(show);
          const full = diffLowered(copy, next).map(show);
          // Same operations; within one (map, kind) step the order may differ.
          const steps = (ops: string[]) => ops.map((o) => o.split(' ').slice(0, 2).join(' '));
          expect(new Set(steps(fast))).toEqual(new Set(steps(full)));
          expect([...fast].sort()).toEqual([...full].sort());
          const order = (ops: string[]) => steps(ops).filter((x, i, a) => i === 0 || a[i - 1] !== x);
          expect(order(fast)).toEqual(order(full));
          prev = next;
        }
      }),
      { numRuns: 200 },
    );
  });
});
