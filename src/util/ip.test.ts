import { describe, expect, it } from 'vitest';
import { canonicalCidr, cidrContains, cidrContainsIp, formatIp, parseCidr, parseIp } from './ip.js';

describe('parseCidr masks host bits like Go net.ParseCIDR', () => {
  it.each([
    ['10.244.0.10/4', '0.0.0.0/4'],
    ['10.244.1.7/24', '10.244.1.0/24'],
    ['192.168.1.1/32', '192.168.1.1/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:db8::1/64', '2001:db8::/64'],
    ['::/0', '::/0'],
  ])('%s -> %s', (input, want) => {
    expect(canonicalCidr(input)).toBe(want);
  });

  it.each(['10.0.0.0', '10.0.0.0/33', '10.0.0/8', '01.0.0.0/8', 'abc', '10.0.0.0/-1', '::1/129'])(
    'rejects %s',
    (input) => {
      expect(parseCidr(input)).toBeUndefined();
    },
  );

  it('accepts a bare IP as a host prefix when asked', () => {
    expect(canonicalCidr('10.1.2.3', true)).toBe('10.1.2.3/32');
    expect(canonicalCidr('fd00::1', true)).toBe('fd00::1/128');
  });
});

describe('containment', () => {
  it('ip in cidr', () => {
    expect(cidrContainsIp(parseCidr('10.0.0.0/8')!, parseIp('10.2.3.4')!)).toBe(true);
    expect(cidrContainsIp(parseCidr('10.0.0.0/8')!, parseIp('11.2.3.4')!)).toBe(false);
    expect(cidrContainsIp(parseCidr('10.0.0.0/8')!, parseIp('::1')!)).toBe(false);
  });
  it('cidr in cidr', () => {
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseCidr('10.1.0.0/16')!)).toBe(true);
    expect(cidrContains(parseCidr('10.1.0.0/16')!, parseCidr('10.0.0.0/8')!)).toBe(false);
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseCidr('10.0.0.0/8')!)).toBe(true);
  });
  it('formats IPv6 compressed', () => {
    expect(formatIp(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')!)).toBe('2001:db8::1');
    expect(formatIp(parseIp('::ffff:10.0.0.1')!)).toBe('::ffff:a00:1');
  });
});
