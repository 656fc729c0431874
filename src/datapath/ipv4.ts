/** Small IPv4 helpers for the datapath (pure). IPv6 is not rendered by the nftables driver yet. */

export function parseIpv4(ip: string): number {
  // A hand-rolled scan: this runs over the whole ipcache on every apply, where split + regex dominated.
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) throw new Error(`invalid IPv4 address: ${ip}`);
    } else if (c === 46 && digits > 0 && dots < 3) {
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else throw new Error(`invalid IPv4 address: ${ip}`);
  }
  if (dots !== 3 || digits === 0) throw new Error(`invalid IPv4 address: ${ip}`);
  return n * 256 + part;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  lo: number;
  hi: number;
  len: number;
}

/** `10.0.0.0/8`, or a bare address meaning /32. */
export function parseCidr(prefix: string): Cidr {
  const [addr, lenStr] = prefix.split('/');
  const len = lenStr === undefined ? 32 : Number(lenStr);
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new Error(`invalid prefix length: ${prefix}`);
  const base = parseIpv4(addr!);
  const size = 2 ** (32 - len);
  const lo = base - (base % size);
  return { lo, hi: lo + size - 1, len };
}

/** Strip a `/32` suffix: byIp keys and ipcache /32 entries are compared as bare addresses. */
export function bareIp(ipOrPrefix: string): string {
  return ipOrPrefix.endsWith('/32') ? ipOrPrefix.slice(0, -3) : ipOrPrefix;
}

export interface Interval<T> {
  lo: number;
  hi: number;
  value: T;
}

/**
 * Flatten possibly nested CIDRs into non-overlapping intervals where every address maps to the value of its
 * longest matching prefix (nft interval maps cannot overlap and have no longest-prefix match).
 * CIDRs are either nested or disjoint, so inserting them from shortest to longest prefix only ever splits the
 * single piece that contains the new one.
 */
export function flattenCidrs<T>(entries: readonly { cidr: Cidr; value: T }[]): Interval<T>[] {
  const sorted = [...entries].sort((a, b) => a.cidr.len - b.cidr.len || a.cidr.lo - b.cidr.lo);
  const pieces: Interval<T>[] = [];
  const findPiece = (x: number): number => {
    let lo = 0;
    let hi = pieces.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = pieces[mid]!;
      if (x < p.lo) hi = mid - 1;
      else if (x > p.hi) lo = mid + 1;
      else return mid;
    }
    return -(lo + 1);
  };
  for (const { cidr, value } of sorted) {
    const i = findPiece(cidr.lo);
    if (i < 0) {
      pieces.splice(-(i + 1), 0, { lo: cidr.lo, hi: cidr.hi, value });
      continue;
    }
    const p = pieces[i]!;
    const repl: Interval<T>[] = [];
    if (p.lo < cidr.lo) repl.push({ lo: p.lo, hi: cidr.lo - 1, value: p.value });
    repl.push({ lo: cidr.lo, hi: cidr.hi, value });
    if (cidr.hi < p.hi) repl.push({ lo: cidr.hi + 1, hi: p.hi, value: p.value });
    pieces.splice(i, 1, ...repl);
  }
  return pieces;
}
