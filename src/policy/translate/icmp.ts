/** ICMPv4 type names Cilium accepts in `icmps[].fields[].type` (pkg/policy/api/icmp.go). */
const ICMPV4_TYPES: Record<string, number> = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  Redirect: 5,
  Echo: 8,
  EchoRequest: 8,
  RouterAdvertisement: 9,
  RouterSelection: 10,
  TimeExceeded: 11,
  ParameterProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
  Photuris: 40,
  ExtendedEchoRequest: 42,
  ExtendedEchoReply: 43,
};

export function icmpTypeNumber(t: number | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  if (typeof t === 'number') return t >= 0 && t <= 255 ? t : undefined;
  if (/^[0-9]+$/.test(t)) {
    const n = Number(t);
    return n <= 255 ? n : undefined;
  }
  return ICMPV4_TYPES[t];
}

export function icmpTypeName(n: number): string | undefined {
  return Object.entries(ICMPV4_TYPES).find(([, v]) => v === n)?.[0];
}
