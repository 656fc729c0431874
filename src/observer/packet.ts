/**
 * Decodes the start of an IPv4 packet as NFLOG hands it over (NFULA_PAYLOAD begins at the IP header): addresses,
 * protocol, ports, TCP flags, ICMP type/code. Pure; truncated or non-IPv4 input yields undefined.
 */
import type { TcpFlags } from './flow.js';

export interface PacketSummary {
  src: string;
  dst: string;
  protocol: 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'OTHER';
  /** IP protocol number. */
  proto: number;
  sport?: number;
  dport?: number;
  tcpFlags?: TcpFlags;
  icmp?: { type: number; code: number };
}

function ipv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

const PROTOCOLS: Record<number, PacketSummary['protocol']> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

export function parseIpv4Packet(b: Uint8Array): PacketSummary | undefined {
  if (b.length < 20 || b[0]! >> 4 !== 4) return undefined;
  const ihl = (b[0]! & 0x0f) * 4;
  if (ihl < 20 || b.length < ihl) return undefined;
  const proto = b[9]!;
  const out: PacketSummary = {
    src: ipv4(b, 12),
    dst: ipv4(b, 16),
    protocol: PROTOCOLS[proto] ?? 'OTHER',
    proto,
  };
  // Only the first fragment carries the L4 header.
  const fragOffset = ((b[6]! & 0x1f) << 8) | b[7]!;
  if (fragOffset !== 0) return out;
  const l4 = b.subarray(ihl);
  if ((proto === 6 || proto === 17 || proto === 132) && l4.length >= 4) {
    out.sport = (l4[0]! << 8) | l4[1]!;
    out.dport = (l4[2]! << 8) | l4[3]!;
  }
  if (proto === 6 && l4.length >= 14) {
    const f = l4[13]!;
    const flags: TcpFlags = {};
    if (f & 0x01) flags.FIN = true;
    if (f & 0x02) flags.SYN = true;
    if (f & 0x04) flags.RST = true;
    if (f & 0x08) flags.PSH = true;
    if (f & 0x10) flags.ACK = true;
    if (f & 0x20) flags.URG = true;
    if (f & 0x40) flags.ECE = true;
    if (f & 0x80) flags.CWR = true;
    out.tcpFlags = flags;
  }
  if (proto === 1 && l4.length >= 2) out.icmp = { type: l4[0]!, code: l4[1]! };
  return out;
}
