import { describe, expect, it } from 'vitest';
import { parseAddr, parsePrefix, prefixContains } from './net.js';

describe('parsePrefix (Go netip wording)', () => {
  it.each<[string, boolean, string | undefined]>([
    ['10.0.0.0/8', false, undefined],
    ['10.0.0.1/8', false, undefined],
    ['2001:db8::/32', false, undefined],
    ['::ffff:10.0.0.1/128', false, undefined],
    ['10.0.0.1', false, 'netip.ParsePrefix("10.0.0.1"): no \'/\''],
    ['10.0.0.0/33', false, 'netip.ParsePrefix("10.0.0.0/33"): prefix length out of range'],
    ['10.0.0.0/x', false, 'netip.ParsePrefix("10.0.0.0/x"): bad bits after slash: "x"'],
    ['10.0.0/8', false, 'netip.ParsePrefix("10.0.0/8"): ParseAddr("10.0.0"): IPv4 address too short'],
    [
      '010.0.0.0/8',
      false,
      'netip.ParsePrefix("010.0.0.0/8"): ParseAddr("010.0.0.0"): IPv4 field has octet with leading zero',
    ],
    ['010.0.0.0/8', true, undefined],
    [
      '1:2:3:4:5:6:7:8:9/64',
      false,
      'netip.ParsePrefix("1:2:3:4:5:6:7:8:9/64"): ParseAddr("1:2:3:4:5:6:7:8:9"): unable to parse IP',
    ],
  ])('%s (sloppy=%s)', (s, sloppy, err) => {
    const r = parsePrefix(s, sloppy);
    expect(r.ok ? undefined : r.error).toBe(err);
  });

  it.each<[string, string, boolean]>([
    ['10.0.0.0/8', '10.255.0.1', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['10.0.0.0/9', '10.128.0.0', false],
    ['0.0.0.0/0', '1.2.3.4', true],
    ['10.0.0.0/8', '::1', false],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
  ])('%s contains %s = %s', (p, a, want) => {
    const prefix = parsePrefix(p);
    const addr = parseAddr(a);
    if (!prefix.ok || !addr.ok) throw new Error('bad fixture');
    expect(prefixContains(prefix.value, addr.value)).toBe(want);
  });
});
