import { describe, expect, it } from 'vitest';
import { hasPeer, parseProcNetRoute, podRoutes } from './pod-interfaces.js';

describe('podRoutes: pod IP → host veth, only through podwall-named devices', () => {
  it.each([
    [
      'a /32 route via a pw- veth',
      [{ dst: '10.213.4.2', dev: 'pw-0a1b2c3d4e5f' }],
      [['10.213.4.2', 'pw-0a1b2c3d4e5f']],
    ],
    ['an explicit /32', [{ dst: '10.213.4.3/32', dev: 'pw-ab-1' }], [['10.213.4.3', 'pw-ab-1']]],
    [
      'the default route and foreign devices are never used',
      [
        { dst: 'default', dev: 'eth0' },
        { dst: '10.0.0.9', dev: 'eth0' },
      ],
      [],
    ],
    ['a subnet route is not a pod', [{ dst: '10.213.4.0/24', dev: 'pw-br' }], []],
    ['rows without a device', [{ dst: '10.213.4.4' }], []],
  ])('%s', (_name, rows, want) => {
    expect([...podRoutes(rows)]).toEqual(want);
  });
});

describe('parseProcNetRoute: /proc/net/route rows (hex, host byte order)', () => {
  it('a pod /32, a subnet and the default route', () => {
    const text = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'pw-0a1b2c3d4e5f\t0500F40A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0',
      'pw-br\t0000F40A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
      '',
    ].join('\n');
    expect(parseProcNetRoute(text)).toEqual([
      { dst: '0.0.0.0/0', dev: 'eth0' },
      { dst: '10.244.0.5', dev: 'pw-0a1b2c3d4e5f' },
      { dst: '10.244.0.0/16', dev: 'pw-br' },
    ]);
    expect([...podRoutes(parseProcNetRoute(text))]).toEqual([['10.244.0.5', 'pw-0a1b2c3d4e5f']]);
  });
});

describe('hasPeer: whether host routing can hand packets to the interface', () => {
  it('loopback links to itself: no peer', () => {
    expect(hasPeer('lo', 1)).toBe(false);
  });
  it('an interface that does not exist: no peer', () => {
    expect(hasPeer('pw-no-such-if', 4242)).toBe(false);
  });
});
