import { describe, expect, it } from 'vitest';
import { allPorts, desired, endpoint, enforced, seg, service } from '../builders.test-helper.js';
import {
  type ContractEnv,
  type Observed,
  POD_NAMES,
  type PodName,
  runDriverContract,
} from '../contract.test-helper.js';
import { FakeDriver } from './fake-driver.js';

function fakeEnv(): ContractEnv {
  const driver = new FakeDriver();
  const pods = { a: { ip: '10.0.0.2' }, b: { ip: '10.0.0.3' }, c: { ip: '10.0.0.4' }, d: { ip: '10.0.0.5' } };
  let proxyRunning = true;
  const nameOf = (ip: string) => POD_NAMES.find((p) => pods[p].ip === ip);
  const env: ContractEnv = {
    driver,
    pods,
    hostIp: '10.0.0.1',
    spareIp: (n) => `10.0.0.${n}`,
    cidrOf: (p) => `${pods[p].ip.replace(/\.\d+$/, '.4')}/30`,
    proxyPort: 15001,
    async probe(from, to): Promise<Observed> {
      const srcIp = from === 'host' ? env.hostIp : pods[from as PodName].ip;
      const o = driver.lookup({ srcIp, dstIp: to.ip, protocol: to.protocol ?? 'TCP', dport: to.port });
      const servedBy = nameOf(o.action !== 'drop' && o.backend ? o.backend.ip : to.ip);
      if (o.action === 'drop') return { kind: 'dropped', detail: `${o.direction} ${o.reason}` };
      if (o.action === 'redirect') return proxyRunning ? { kind: 'proxied', servedBy } : { kind: 'dropped' };
      return { kind: 'accepted', servedBy };
    },
    async keepAlive(from, to) {
      // The datapath re-evaluates every forward packet of an established flow: each request is a fresh lookup.
      return { request: () => env.probe(from, to), close() {} };
    },
    async setProxyRunning(r) {
      proxyRunning = r;
    },
    hostSnapshot: () => driver.dump(),
  };
  return env;
}

runDriverContract({ name: 'FakeDriver', setup: async () => fakeEnv(), cleanup: async () => {} });

describe('FakeDriver.lookup details', () => {
  const a = '10.1.0.2';
  const b = '10.1.0.3';
  const mk = (ingress = enforced(), egress = enforced({ wildcard: allPorts() })) => {
    const d = new FakeDriver();
    return d
      .apply(
        desired({
          endpoints: [endpoint('ns/a', a, 101, { egress }), endpoint('ns/b', b, 102, { ingress })],
          hostIps: ['10.1.0.1'],
          services: [service('ns/s:p', '10.96.0.1', 80, [{ ip: b, port: 8080 }])],
          ipcache: [
            { prefix: `${a}/32`, identity: 101 },
            { prefix: `${b}/32`, identity: 102 },
            { prefix: '192.0.2.0/24', identity: 16777217 },
            { prefix: '192.0.2.128/25', identity: 16777218 },
          ],
        }),
      )
      .then(() => d);
  };

  it('reports direction and reason of drops', async () => {
    const d = await mk(enforced({ byIdentity: { 101: [seg('TCP', 81, 81, { deny: true })] } }), enforced());
    expect(d.lookup({ srcIp: a, dstIp: b, protocol: 'TCP', dport: 80 })).toEqual({
      action: 'drop',
      reason: 'POLICY_DENIED',
      direction: 'egress',
    });
    const d2 = await mk(enforced({ byIdentity: { 101: [seg('TCP', 81, 81, { deny: true })] } }));
    expect(d2.lookup({ srcIp: a, dstIp: b, protocol: 'TCP', dport: 81 })).toEqual({
      action: 'drop',
      reason: 'POLICY_DENY',
      direction: 'ingress',
    });
    expect(d2.lookup({ srcIp: a, dstIp: b, protocol: 'TCP', dport: 80 })).toMatchObject({ reason: 'POLICY_DENIED' });
  });

  it('defaultAllow only drops explicit denies', async () => {
    const d = await mk(enforced({ defaultAllow: true, wildcard: [seg('UDP', 53, 53, { deny: true })] }));
    expect(d.lookup({ srcIp: a, dstIp: b, protocol: 'TCP', dport: 80 }).action).toBe('accept');
    expect(d.lookup({ srcIp: a, dstIp: b, protocol: 'UDP', dport: 53 })).toMatchObject({ reason: 'POLICY_DENY' });
  });

  it('audit segments accept', async () => {
    const d = await mk(enforced({ wildcard: [seg('TCP', 80, 80, { deny: true, audit: true })] }));
    expect(d.lookup({ srcIp: a, dstIp: b, protocol: 'TCP', dport: 80 }).action).toBe('accept');
  });

  it('ICMP segments are keyed by type', async () => {
    const d = await mk(enforced({ byIdentity: { 101: [seg('ICMP', 8)] } }));
    expect(d.lookup({ srcIp: a, dstIp: b, protocol: 'ICMP', dport: 8 }).action).toBe('accept');
    expect(d.lookup({ srcIp: a, dstIp: b, protocol: 'ICMP', dport: 13 }).action).toBe('drop');
  });

  it('longest-prefix CIDR identity, else world', async () => {
    const d = await mk(
      enforced({ byIdentity: { 16777217: [seg('TCP', 80)], 16777218: [seg('TCP', 81)], 2: [seg('TCP', 82)] } }),
    );
    const t = (src: string, dport: number) => d.lookup({ srcIp: src, dstIp: b, protocol: 'TCP', dport }).action;
    expect([t('192.0.2.1', 80), t('192.0.2.1', 81)]).toEqual(['accept', 'drop']);
    expect([t('192.0.2.200', 80), t('192.0.2.200', 81)]).toEqual(['drop', 'accept']);
    expect([t('198.51.100.1', 82), t('198.51.100.1', 80)]).toEqual(['accept', 'drop']);
  });

  it('service DNAT translates the port; redirect carries the backend', async () => {
    const d = await mk(enforced({ byIdentity: { 101: [seg('TCP', 8080, 8080, { l7: true })] } }));
    expect(d.lookup({ srcIp: a, dstIp: '10.96.0.1', protocol: 'TCP', dport: 80 })).toEqual({
      action: 'redirect',
      proxyPort: 15001,
      backend: { ip: b, port: 8080 },
    });
    expect(d.lookup({ srcIp: a, dstIp: '10.96.0.1', protocol: 'UDP', dport: 80 }).action).toBe('accept');
  });

  it('host is never proxied and bypasses default deny, but not explicit deny', async () => {
    const d = await mk(
      enforced({
        byIdentity: { 1: [seg('TCP', 22, 22, { deny: true })] },
        wildcard: [seg('TCP', 80, 80, { l7: true })],
      }),
    );
    const h = (dport: number) => d.lookup({ srcIp: '10.1.0.1', dstIp: b, protocol: 'TCP', dport });
    expect(h(80)).toEqual({ action: 'accept' });
    expect(h(9999)).toEqual({ action: 'accept' });
    expect(h(22)).toMatchObject({ action: 'drop', reason: 'POLICY_DENY', direction: 'ingress' });
  });

  it('apply reports incremental changes and dump is stable', async () => {
    const d = await mk();
    const s1 = await d.dump();
    expect(s1).toContain('endpoint ns/b 10.1.0.3 id=102');
    expect(await d.dump()).toBe(s1);
    const st = await d.apply(d.history[0]!);
    expect(st).toEqual({ changes: 0, full: false });
  });
});
