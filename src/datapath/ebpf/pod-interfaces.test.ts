import { describe, expect, it } from 'vitest';
import { podRoutes } from './pod-interfaces.js';

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
