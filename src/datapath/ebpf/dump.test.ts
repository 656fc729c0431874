import { describe, expect, it } from 'vitest';
import { desired, endpoint, enforced, seg, service } from '../builders.test-helper.js';
import { dumpLowered } from './dump.js';
import { Lowerer } from './lower.js';

describe('dumpLowered: what the kernel matches, one sorted line per entry', () => {
  it('endpoints, policy blocks as port ranges, ipcache, services', () => {
    const state = desired({
      endpoints: [
        endpoint('default/a', '10.0.0.5', 1001, {
          ingress: enforced({
            byIdentity: { 1002: [seg('TCP', 8000, 8063)] },
            wildcard: [seg('UDP', 53, 53, { deny: true })],
          }),
        }),
      ],
      services: [service('default/web:http', '10.96.0.10', 80, [{ ip: '10.0.0.5', port: 8080 }])],
      hostIps: ['10.0.0.1'],
    });
    expect(dumpLowered(new Lowerer().lower(state, () => 7))).toBe(
      [
        'backend id=1 slot=0 10.0.0.5:8080',
        'endpoint 10.0.0.5 id=1001 ifindex=7 ingress=enforced egress=open',
        'ep 10.0.0.5 ingress any UDP 53 deny',
        'ep 10.0.0.5 ingress id=1002 TCP 8000-8063 allow',
        'ipcache 10.0.0.1/32 1',
        'ipcache 10.0.0.5/32 1001',
        'service 10.96.0.10:80/TCP id=1 backends=1',
        '',
      ].join('\n'),
    );
  });
});
