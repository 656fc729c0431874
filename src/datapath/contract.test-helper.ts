/**
 * ONE contract suite for every Driver. Each case applies a DesiredState and checks what traffic observes:
 * the Fake answers from `lookup()`, the nftables driver from real connections between netns pods. Both must agree
 * on every expectation below (hono-style shared contract; knftables-style "trace packets, not rule text").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Protocol } from '../policy/types.js';
import { desired, endpoint, enforced, seg, service, unenforced } from './builders.test-helper.js';
import type { DesiredState, Driver, EndpointState } from './types.js';

export type PodName = 'a' | 'b' | 'c' | 'd';
export const POD_NAMES: readonly PodName[] = ['a', 'b', 'c', 'd'];
export const IDS: Record<PodName, number> = { a: 1001, b: 1002, c: 1003, d: 1004 };
export const CIDR_ID = 16777217;

export type Observed =
  | { kind: 'accepted'; servedBy?: string }
  | { kind: 'proxied'; servedBy?: string }
  | { kind: 'dropped'; detail?: string };

export interface Target {
  ip: string;
  port: number;
  protocol?: Protocol;
  /** UDP: the datagram's size; above the MTU (1500) it travels as IPv4 fragments. */
  bytes?: number;
}

export interface KeepAlive {
  request(): Promise<Observed>;
  close(): void;
}

export interface ContractEnv {
  driver: Driver;
  pods: Record<PodName, { ip: string }>;
  /** Source IP of host traffic toward pods. */
  hostIp: string;
  /** Free addresses (not pods) usable as service IPs / CIDRs, in a range that never leaves the machine. */
  spareIp(n: number): string;
  /** A /28-ish CIDR containing pod d only among pods ("world" side of tests). */
  cidrOf(pod: PodName): string;
  proxyPort: number;
  probe(from: PodName | 'host', to: Target): Promise<Observed>;
  keepAlive(from: PodName, to: Target): Promise<KeepAlive>;
  setProxyRunning(running: boolean): Promise<void>;
  /** Host objects (nft tables, ip rules, routes, links) — for the teardown check. */
  hostSnapshot(): Promise<string>;
}

export interface ContractHarness {
  name: string;
  setup(): Promise<ContractEnv>;
  cleanup(): Promise<void>;
}

type Policies = Partial<
  Record<PodName, { ingress?: EndpointState['policy']['ingress']; egress?: EndpointState['policy']['egress'] }>
>;

function stateFor(env: ContractEnv, pol: Policies, extra: Partial<DesiredState> = {}, omitIpcache: PodName[] = []) {
  const eps = POD_NAMES.map((p) => endpoint(`default/${p}`, env.pods[p].ip, IDS[p], pol[p] ?? {}));
  const s = desired({ endpoints: eps, proxyPort: env.proxyPort, hostIps: [env.hostIp], ...extra });
  if (!extra.ipcache)
    s.ipcache = s.ipcache.filter((e) => !omitIpcache.some((p) => e.prefix === `${env.pods[p].ip}/32`));
  return s;
}

export function runDriverContract(h: ContractHarness): void {
  describe(`Driver contract: ${h.name}`, () => {
    let env: ContractEnv;
    let before = '';
    beforeAll(async () => {
      env = await h.setup();
      before = await env.hostSnapshot();
    });
    afterAll(async () => {
      // The pods and the proxy go even when the driver's teardown fails (it is what failed, not the harness).
      try {
        await env?.driver.teardown();
      } finally {
        await h.cleanup();
      }
    });

    const to = (p: PodName, port = 80): Target => ({ ip: env.pods[p].ip, port });
    const ok = (servedBy: string) => ({ kind: 'accepted', servedBy });
    const dropped = { kind: 'dropped' };
    async function expectAll(cases: [PodName | 'host', Target, object][]) {
      const got = await Promise.all(cases.map(([from, t]) => env.probe(from, t)));
      for (let i = 0; i < cases.length; i++) {
        const [from, t, want] = cases[i]!;
        expect({ from, to: `${t.ip}:${t.port}`, got: got[i] }).toMatchObject({
          from,
          to: `${t.ip}:${t.port}`,
          got: want,
        });
      }
    }

    it('no policy: everything allowed', async () => {
      const st = await env.driver.apply(stateFor(env, {}));
      expect(st.changes).toBeGreaterThan(0);
      await expectAll([
        ['a', to('b'), ok('b')],
        ['c', to('a', 8080), ok('a')],
        ['host', to('d'), ok('d')],
      ]);
    });

    it('identity allow, default deny drops the rest', async () => {
      await env.driver.apply(
        stateFor(env, { b: { ingress: enforced({ byIdentity: { [IDS.a]: [seg('TCP', 80)] } }) } }),
      );
      await expectAll([
        ['a', to('b'), ok('b')],
        ['c', to('b'), dropped],
        ['a', to('b', 81), dropped],
        ['c', to('a'), ok('a')],
      ]);
    });

    it('incremental update touches one element', async () => {
      const st = await env.driver.apply(
        stateFor(env, {
          b: { ingress: enforced({ byIdentity: { [IDS.a]: [seg('TCP', 80)], [IDS.c]: [seg('TCP', 80)] } }) },
        }),
      );
      expect(st.full).toBe(false);
      expect(st.changes).toBeLessThanOrEqual(2);
      await expectAll([
        ['c', to('b'), ok('b')],
        ['d', to('b'), dropped],
      ]);
    });

    it('explicit deny beats allow (identity level deny over wildcard allow)', async () => {
      await env.driver.apply(
        stateFor(env, {
          b: {
            ingress: enforced({
              byIdentity: { [IDS.a]: [seg('TCP', 80, 80, { deny: true })] },
              wildcard: [seg('TCP', 80)],
            }),
          },
        }),
      );
      await expectAll([
        ['a', to('b'), dropped],
        ['c', to('b'), ok('b')],
      ]);
    });

    it('port ranges', async () => {
      await env.driver.apply(
        stateFor(env, { b: { ingress: enforced({ byIdentity: { [IDS.a]: [seg('TCP', 8000, 8100)] } }) } }),
      );
      await expectAll([
        ['a', to('b', 8080), ok('b')],
        ['a', to('b', 9090), dropped],
        ['a', to('b', 80), dropped],
      ]);
    });

    it('byIp level decides before identity and wildcard', async () => {
      await env.driver.apply(
        stateFor(env, {
          b: {
            ingress: enforced({
              byIp: { [env.pods.a.ip]: [seg('TCP', 80)], [env.pods.c.ip]: [seg('TCP', 80, 80, { deny: true })] },
              byIdentity: { [IDS.a]: [seg('TCP', 80, 80, { deny: true })] },
              wildcard: [seg('TCP', 80)],
            }),
          },
        }),
      );
      await expectAll([
        ['a', to('b'), ok('b')],
        ['c', to('b'), dropped],
        ['d', to('b'), ok('b')],
      ]);
    });

    it('wildcard level', async () => {
      await env.driver.apply(stateFor(env, { b: { ingress: enforced({ wildcard: [seg('TCP', 81)] }) } }));
      await expectAll([
        ['a', to('b', 81), ok('b')],
        ['c', to('b', 81), ok('b')],
        ['a', to('b', 80), dropped],
      ]);
    });

    it('pods level applies to cluster-local identities only, before wildcard', async () => {
      const st = stateFor(
        env,
        {
          b: {
            ingress: enforced({
              byIdentity: { [IDS.a]: [seg('TCP', 8080)] },
              pods: [seg('TCP', 80)],
              wildcard: [seg('TCP', 81)],
            }),
          },
        },
        {},
        ['d'],
      );
      st.ipcache.push({ prefix: env.cidrOf('d'), identity: CIDR_ID });
      await env.driver.apply(st);
      await expectAll([
        ['a', to('b', 80), ok('b')], // a's identity entry has no segment for 80: the miss falls through to pods
        ['c', to('b', 80), ok('b')],
        ['d', to('b', 80), dropped],
        ['d', to('b', 81), ok('b')],
        ['a', to('b', 8080), ok('b')],
      ]);
    });

    it('egress and ingress are both needed', async () => {
      await env.driver.apply(
        stateFor(env, {
          a: { egress: enforced({ byIdentity: { [IDS.b]: [seg('TCP', 80)] } }) },
          b: { ingress: enforced({ byIdentity: { [IDS.c]: [seg('TCP', 80)] } }) },
        }),
      );
      await expectAll([
        ['a', to('b'), dropped],
        ['a', to('c'), dropped],
        ['c', to('b'), ok('b')],
      ]);
      await env.driver.apply(
        stateFor(env, {
          a: { egress: enforced({ byIdentity: { [IDS.b]: [seg('TCP', 80)] } }) },
          b: { ingress: enforced({ byIdentity: { [IDS.c]: [seg('TCP', 80)], [IDS.a]: [seg('TCP', 80)] } }) },
        }),
      );
      await expectAll([['a', to('b'), ok('b')]]);
    });

    it('CIDR identity and world', async () => {
      // d has no /32 entry: it is seen through a CIDR identity, then (entry removed) as world.
      const pol: Policies = {
        b: { ingress: enforced({ byIdentity: { [CIDR_ID]: [seg('TCP', 80)], 2: [seg('TCP', 81)] } }) },
        a: { egress: enforced({ byIdentity: { [CIDR_ID]: [seg('TCP', 80)], [IDS.b]: allTcp() } }) },
      };
      const withCidr = stateFor(env, pol, {}, ['d']);
      withCidr.ipcache.push({ prefix: env.cidrOf('d'), identity: CIDR_ID });
      await env.driver.apply(withCidr);
      await expectAll([
        ['d', to('b'), ok('b')],
        ['d', to('b', 81), dropped],
        ['c', to('b'), dropped],
        ['a', to('d'), ok('d')],
        ['a', to('c'), dropped],
      ]);
      await env.driver.apply(stateFor(env, pol, {}, ['d']));
      await expectAll([
        ['d', to('b'), dropped],
        ['d', to('b', 81), ok('b')],
        ['a', to('d'), dropped],
      ]);
    });

    it('service DNAT to a backend, then policy on the backend', async () => {
      const svcIp = env.spareIp(200);
      await env.driver.apply(
        stateFor(
          env,
          { b: { ingress: enforced({ byIdentity: { [IDS.a]: [seg('TCP', 80)] } }) } },
          { services: [service('default/web:http', svcIp, 80, [{ ip: env.pods.b.ip, port: 80 }])] },
        ),
      );
      await expectAll([
        ['a', { ip: svcIp, port: 80 }, ok('b')],
        ['c', { ip: svcIp, port: 80 }, dropped],
        ['host', { ip: svcIp, port: 80 }, ok('b')],
      ]);
    });

    it('service port translation and several backends', async () => {
      const svcIp = env.spareIp(201);
      await env.driver.apply(
        stateFor(
          env,
          {},
          {
            services: [
              service('default/multi:http', svcIp, 80, [
                { ip: env.pods.c.ip, port: 8080 },
                { ip: env.pods.d.ip, port: 8080 },
              ]),
            ],
          },
        ),
      );
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const o = await env.probe('a', { ip: svcIp, port: 80 });
        expect(o.kind).toBe('accepted');
        if (o.kind === 'accepted' && o.servedBy) seen.add(o.servedBy);
      }
      for (const s of seen) expect(['c', 'd']).toContain(s);
    });

    it('hairpin: a backend reaches itself through its service (policy skipped, as Cilium)', async () => {
      const svcIp = env.spareIp(202);
      await env.driver.apply(
        stateFor(
          env,
          { a: { ingress: enforced({}), egress: enforced({}) } },
          { services: [service('default/self:http', svcIp, 80, [{ ip: env.pods.a.ip, port: 80 }])] },
        ),
      );
      await expectAll([
        ['a', { ip: svcIp, port: 80 }, ok('a')],
        ['b', { ip: svcIp, port: 80 }, dropped],
      ]);
    });

    it('host: always allowed on ingress, never proxied, explicit deny applies', async () => {
      await env.driver.apply(
        stateFor(env, {
          b: {
            ingress: enforced({
              byIdentity: { 1: [seg('TCP', 81, 81, { deny: true })] },
              wildcard: [seg('TCP', 80, 80, { l7: true })],
            }),
          },
        }),
      );
      await expectAll([
        ['host', to('b', 80), ok('b')],
        ['host', to('b', 8080), ok('b')],
        ['host', to('b', 81), dropped],
      ]);
    });

    it('L7 redirect reaches the proxy; fails closed when the proxy is down', async () => {
      await env.driver.apply(
        stateFor(env, {
          b: { ingress: enforced({ byIdentity: { [IDS.a]: [seg('TCP', 80, 80, { l7: true })] } }) },
          c: { egress: enforced({ wildcard: [seg('TCP', 80, 80, { l7: true })] }) },
        }),
      );
      await expectAll([
        ['a', to('b'), { kind: 'proxied', servedBy: 'b' }],
        ['c', to('d'), { kind: 'proxied', servedBy: 'd' }],
        ['c', to('b'), dropped],
        ['d', to('b'), dropped],
      ]);
      await env.setProxyRunning(false);
      try {
        await expectAll([
          ['a', to('b'), dropped],
          ['c', to('d'), dropped],
        ]);
      } finally {
        await env.setProxyRunning(true);
      }
    });

    it('revoking access cuts an established keep-alive connection', async () => {
      const allow = stateFor(env, { b: { ingress: enforced({ byIdentity: { [IDS.a]: [seg('TCP', 80)] } }) } });
      await env.driver.apply(allow);
      const ka = await env.keepAlive('a', to('b'));
      try {
        expect(await ka.request()).toMatchObject(ok('b'));
        expect(await ka.request()).toMatchObject(ok('b'));
        await env.driver.apply(stateFor(env, { b: { ingress: enforced({}) } }));
        expect(await ka.request()).toMatchObject(dropped);
      } finally {
        ka.close();
      }
    });

    it('an established connection that stays allowed survives unrelated changes', async () => {
      const allowAB = { ingress: enforced({ byIdentity: { [IDS.a]: [seg('TCP', 80)] } }) };
      await env.driver.apply(stateFor(env, { b: allowAB }));
      const ka = await env.keepAlive('a', to('b'));
      try {
        expect(await ka.request()).toMatchObject(ok('b'));
        for (const port of [81, 82]) {
          // d's policy changes, b's does not: a→b must be re-judged and still pass, not cut or cached wrongly.
          await env.driver.apply(
            stateFor(env, { b: allowAB, d: { ingress: enforced({ byIdentity: { [IDS.c]: [seg('TCP', port)] } }) } }),
          );
          expect(await ka.request()).toMatchObject(ok('b'));
        }
        await env.driver.apply(
          stateFor(env, { b: { ingress: enforced({ byIdentity: { [IDS.c]: [seg('TCP', 80)] } }) } }),
        );
        expect(await ka.request()).toMatchObject(dropped);
      } finally {
        ka.close();
      }
    });

    it('UDP, and datagrams larger than the MTU: every IPv4 fragment gets its datagram’s verdict', async () => {
      await env.driver.apply(
        stateFor(env, { b: { ingress: enforced({ byIdentity: { [IDS.a]: [seg('UDP', 80)] } }) } }),
      );
      const udp = (p: PodName, port: number, bytes: number): Target => ({
        ip: env.pods[p].ip,
        port,
        protocol: 'UDP',
        bytes,
      });
      await expectAll([
        ['a', udp('b', 80, 64), ok('b')],
        ['a', udp('b', 80, 4000), ok('b')],
        ['c', udp('b', 80, 4000), dropped],
        ['a', udp('b', 81, 4000), dropped],
        ['a', to('b', 80), dropped],
      ]);
    });

    it('teardown leaves nothing behind', async () => {
      await env.driver.apply(stateFor(env, { b: { ingress: unenforced() } }));
      await env.driver.teardown();
      expect(await env.hostSnapshot()).toBe(before);
      await env.driver.teardown(); // idempotent
      expect(await env.hostSnapshot()).toBe(before);
    });
  });
}

function allTcp() {
  return [seg('TCP', 0, 65535)];
}
