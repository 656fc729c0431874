import { describe, expect, it } from 'vitest';
import { flattenCidrs, formatIpv4, parseCidr, parseIpv4 } from './ipv4.js';

describe('ipv4', () => {
  it('parses and formats', () => {
    expect(formatIpv4(parseIpv4('10.1.2.3'))).toBe('10.1.2.3');
    expect(() => parseIpv4('10.1.2')).toThrow();
    expect(() => parseIpv4('10.1.2.256')).toThrow();
    expect(parseCidr('10.1.2.3/24')).toEqual({ lo: parseIpv4('10.1.2.0'), hi: parseIpv4('10.1.2.255'), len: 24 });
    expect(parseCidr('0.0.0.0/0').hi).toBe(2 ** 32 - 1);
  });

  it.each([
    ['0.0.0.0', 0],
    ['255.255.255.255', 2 ** 32 - 1],
    ['10.0.0.1', 167772161],
    ['010.0.0.1', 167772161],
  ])('parseIpv4(%s)', (ip, n) => {
    expect(parseIpv4(ip)).toBe(n);
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '1..2.3',
    '.1.2.3',
    '1.2.3.',
    '1.2.3.4/32',
    '1.2.3.a',
    '1.2.3.1000',
    ' 1.2.3.4',
    '1.2.3.-4',
  ])('parseIpv4 rejects %j', (ip) => {
    expect(() => parseIpv4(ip)).toThrow(/invalid IPv4 address/);
  });

  it('flattens nested CIDRs so the longest prefix wins', () => {
    const iv = flattenCidrs([
      { cidr: parseCidr('10.0.0.0/8'), value: 'a' },
      { cidr: parseCidr('10.1.0.0/16'), value: 'b' },
      { cidr: parseCidr('10.1.2.0/24'), value: 'c' },
      { cidr: parseCidr('192.0.2.0/24'), value: 'd' },
    ]).map((x) => `${formatIpv4(x.lo)}-${formatIpv4(x.hi)}=${x.value}`);
    expect(iv).toEqual([
      '10.0.0.0-10.0.255.255=a',
      '10.1.0.0-10.1.1.255=b',
      '10.1.2.0-10.1.2.255=c',
      '10.1.3.0-10.1.255.255=b',
      '10.2.0.0-10.255.255.255=a',
      '192.0.2.0-192.0.2.255=d',
    ]);
  });
});
