/**
 * IP and CIDR math for IPv4 and IPv6, with Go `net.ParseCIDR` semantics: host bits are masked
 * (`10.244.0.10/4` is `0.0.0.0/4`). Addresses are bigints so both families share one code path;
 * these functions are used when compiling policy, never per packet.
 */

export type IpFamily = 4 | 6;

export interface Ip {
  family: IpFamily;
  value: bigint;
}

export interface Cidr {
  family: IpFamily;
  /** Network address (host bits cleared). */
  base: bigint;
  bits: number;
}

const V4_MAX = 32;
const V6_MAX = 128;

export function parseIp(s: string): Ip | undefined {
  if (typeof s !== 'string') return undefined;
  if (s.includes(':')) return parseIpv6(s);
  return parseIpv4(s);
}

function parseIpv4(s: string): Ip | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Go rejects leading zeros ("010") as ambiguous octal.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return { family: 4, value: v };
}

function parseIpv6(s: string): Ip | undefined {
  if (s.includes('%')) return undefined;
  let head = s;
  let tailV4: Ip | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tailV4 = parseIpv4(s.slice(lastColon + 1));
    if (!tailV4) return undefined;
    head = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = head.split('::');
  if (dbl.length > 2) return undefined;
  const left = dbl[0] === '' ? [] : dbl[0]!.split(':');
  const right = dbl.length === 2 ? (dbl[1] === '' ? [] : dbl[1]!.split(':')) : [];
  const groups = dbl.length === 2 ? left.length + right.length : left.length;
  if (dbl.length === 1 && groups !== 8) return undefined;
  if (dbl.length === 2 && groups > 7) return undefined;
  const all = [...left, ...Array(8 - groups).fill('0'), ...right];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  }
  if (tailV4) v = (v & ~0xffffffffn) | tailV4.value;
  return { family: 6, value: v };
}

export function maxBits(family: IpFamily): number {
  return family === 4 ? V4_MAX : V6_MAX;
}

function mask(family: IpFamily, bits: number): bigint {
  const max = maxBits(family);
  if (bits === 0) return 0n;
  return ((1n << BigInt(bits)) - 1n) << BigInt(max - bits);
}

/** Parses `a.b.c.d/n` (host bits masked, like Go). A bare IP is accepted only with `allowBareIp` (/32 or /128). */
export function parseCidr(s: string, allowBareIp = false): Cidr | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) {
    if (!allowBareIp) return undefined;
    const ip = parseIp(s);
    return ip ? { family: ip.family, base: ip.value, bits: maxBits(ip.family) } : undefined;
  }
  const ip = parseIp(s.slice(0, slash));
  const bitsText = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]*)$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > maxBits(ip.family)) return undefined;
  return { family: ip.family, base: ip.value & mask(ip.family, bits), bits };
}

export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 255n)).join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((ip.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.base })}/${c.bits}`;
}

/** Canonical text of a CIDR (host bits masked), or undefined when it does not parse. */
export function canonicalCidr(s: string, allowBareIp = false): string | undefined {
  const c = parseCidr(s, allowBareIp);
  return c ? formatCidr(c) : undefined;
}

export function cidrContainsIp(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && (ip.value & mask(c.family, c.bits)) === c.base;
}

/** True when `inner` lies inside `outer` (equal counts as inside). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    outer.bits <= inner.bits &&
    (inner.base & mask(outer.family, outer.bits)) === outer.base
  );
}

/** Last address of the CIDR. */
export function cidrLast(c: Cidr): bigint {
  const hostBits = BigInt(maxBits(c.family) - c.bits);
  return c.base | ((1n << hostBits) - 1n);
}

/** Quick check used on hot paths: IPv4 dotted quad to a 32-bit unsigned number, or -1. */
export function ipv4ToNumber(s: string): number {
  const ip = parseIpv4(s);
  return ip ? Number(ip.value) : -1;
}
