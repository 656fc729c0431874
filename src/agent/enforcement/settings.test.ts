import { describe, expect, it } from 'vitest';
import { datapathFromEnv, hostRoutingFromEnv, PRODUCTION_SETTINGS, settingsForHome } from './settings.js';

describe('enforcement settings from the environment (set by podwall up flags)', () => {
  it.each([
    [undefined, 'bpf'],
    ['', 'bpf'],
    ['bpf', 'bpf'],
    ['legacy', 'legacy'],
  ])('PODWALL_HOST_ROUTING=%s → %s', (v, want) => {
    expect(hostRoutingFromEnv({ PODWALL_HOST_ROUTING: v })).toBe(want);
  });

  it('an unknown host routing mode is an error naming the modes', () => {
    expect(() => hostRoutingFromEnv({ PODWALL_HOST_ROUTING: 'off' })).toThrow(
      'invalid PODWALL_HOST_ROUTING "off": expected bpf or legacy',
    );
  });

  it.each([
    [undefined, 'ebpf'],
    ['nftables', 'nftables'],
  ])('PODWALL_DATAPATH=%s → %s', (v, want) => {
    expect(datapathFromEnv({ PODWALL_DATAPATH: v })).toBe(want);
  });

  it('the production home and any other home carry the chosen datapath and host routing', () => {
    expect(PRODUCTION_SETTINGS.hostRouting).toBe('bpf');
    expect(settingsForHome('/var/lib/podwall', 'ebpf', 'legacy')).toMatchObject({
      table: 'podwall',
      hostRouting: 'legacy',
    });
    expect(settingsForHome('/var/tmp/pw-x', 'nftables', 'bpf')).toMatchObject({
      datapath: 'nftables',
      hostRouting: 'bpf',
    });
  });
});
