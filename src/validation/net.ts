/**
 * Minimal IP/CIDR parsing for validation, with Go's error wording where validators quote it
 * (`net/netip.ParsePrefix` for Cilium, `ParseCIDRSloppy` semantics for Kubernetes ipBlock).
 * Pure and self-contained so validation does not depend on the datapath's CIDR math.
 */

export interface Addr {
  /** 4 bytes (IPv4) or 16 bytes (IPv6). */
  bytes: number[];
}

export interface Prefix {
  addr: Addr;
  bits: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function fail<T>(error: string): Parsed<T> {
  return { ok: false, error };
}

/**
 * IPv4 dotted quad. `sloppy` accepts leading zeros (k8s `ParseIPSloppy`); strict mode rejects them
 * like `netip.ParseAddr`.
 */
function parseIPv4(s: string, sloppy: boolean): Parsed<number[]> {
  const out: number[] = [];
  let field = '';
  const flush = (): string | undefined => {
    if (field.length === 0) return 'IPv4 field must have at least one digit';
    if (!sloppy && field.length > 1 && field[0] === '0') return 'IPv4 field has octet with leading zero';
    const n = Number.parseInt(field, 10);
    if (n > 255) return 'IPv4 field has value >255';
    if (out.length === 4) return 'IPv4 address too long';
    out.push(n);
    field = '';
    return undefined;
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c >= '0' && c <= '9') {
      field += c;
      if (field.length > 3 && !sloppy) return fail('IPv4 field has value >255');
    } else if (c === '.') {
      const e = flush();
      if (e) return fail(e);
    } else {
      return fail(`unexpected character (at ${JSON.stringify(s.slice(i))})`);
    }
  }
  const e = flush();
  if (e) return fail(e);
  if (out.length < 4) return fail('IPv4 address too short');
  return { ok: true, value: out };
}

function parseIPv6(s: string, sloppy: boolean): Parsed<number[]> {
  const bad = fail<number[]>('unable to parse IP');
  if (s.includes('%')) return bad;
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return bad;
  const parseGroups = (part: string, allowV4Tail: boolean): number[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    const bytes: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g, sloppy);
        if (!v4.ok) return undefined;
        bytes.push(...v4.value);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      const n = Number.parseInt(g, 16);
      bytes.push(n >> 8, n & 0xff);
    }
    return bytes;
  };
  let bytes: number[] | undefined;
  if (dbl >= 0) {
    const head = parseGroups(s.slice(0, dbl), false);
    const tail = parseGroups(s.slice(dbl + 2), true);
    if (!head || !tail || head.length + tail.length > 14) return bad;
    bytes = [...head, ...new Array(16 - head.length - tail.length).fill(0), ...tail];
  } else {
    bytes = parseGroups(s, true);
    if (bytes?.length !== 16) return bad;
  }
  return { ok: true, value: bytes };
}

/** `netip.ParseAddr`-like (strict unless `sloppy`); errors read `ParseAddr("x"): <reason>`. */
export function parseAddr(s: string, sloppy = false): Parsed<Addr> {
  const r = s.includes(':') ? parseIPv6(s, sloppy) : parseIPv4(s, sloppy);
  if (!r.ok) return fail(`ParseAddr(${JSON.stringify(s)}): ${r.error}`);
  return { ok: true, value: { bytes: r.value } };
}

/**
 * `netip.ParsePrefix`: `addr/bits`, errors worded like Go
 * (`netip.ParsePrefix("10.0.0.1"): no '/'`). Host bits may be set (not masked), as in Go.
 */
export function parsePrefix(s: string, sloppy = false): Parsed<Prefix> {
  const q = JSON.stringify(s);
  const slash = s.lastIndexOf('/');
  if (slash < 0) return fail(`netip.ParsePrefix(${q}): no '/'`);
  const a = parseAddr(s.slice(0, slash), sloppy);
  if (!a.ok) return fail(`netip.ParsePrefix(${q}): ${a.error}`);
  const bitsStr = s.slice(slash + 1);
  if (!/^[0-9]+$/.test(bitsStr) || (!sloppy && bitsStr.length > 1 && bitsStr[0] === '0')) {
    return fail(`netip.ParsePrefix(${q}): bad bits after slash: ${JSON.stringify(bitsStr)}`);
  }
  const bits = Number.parseInt(bitsStr, 10);
  if (bits > a.value.bytes.length * 8) return fail(`netip.ParsePrefix(${q}): prefix length out of range`);
  return { ok: true, value: { addr: a.value, bits } };
}

/** Whether `addr` lies inside `p` (same family only, as `netip.Prefix.Contains`). */
export function prefixContains(p: Prefix, addr: Addr): boolean {
  if (p.addr.bytes.length !== addr.bytes.length) return false;
  let bits = p.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((p.addr.bytes[i] & mask) !== (addr.bytes[i] & mask)) return false;
  }
  return true;
}
