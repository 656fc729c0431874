/**
 * A verdict record of the eBPF datapath (struct pw_event from its ring buffer) as a KernelVerdict, the same shape the
 * NFLOG reader produces, so both datapaths feed one flow pipeline. Pure.
 */
import { hrtime } from 'node:process';
import {
  decodeEvent,
  PROTOCOL_NAMES,
  PW_DIR_INGRESS,
  PW_EV_FLAG_CUT,
  PW_EV_LEVEL_DEFAULT,
  PW_EV_LEVEL_IDENTITY,
  PW_EV_LEVEL_IP,
  PW_EV_LEVEL_PODS,
  PW_EV_LEVEL_WILDCARD,
  PW_EV_VERDICT_ALLOW,
  PW_EV_VERDICT_AUDIT,
  PW_EV_VERDICT_DENIED,
  PW_EV_VERDICT_DENY,
  PW_EV_VERDICT_REDIRECT,
  type PwEvent,
} from '../datapath/ebpf/layout.js';
import { formatIpv4 } from '../datapath/ipv4.js';
import type { LogPrefix } from '../datapath/nftables/render.js';
import type { KernelVerdict } from './build.js';
import type { PacketSummary } from './packet.js';

const VERDICT: Record<number, LogPrefix['verdict']> = {
  [PW_EV_VERDICT_ALLOW]: 'allow',
  [PW_EV_VERDICT_AUDIT]: 'audit',
  [PW_EV_VERDICT_DENY]: 'deny',
  [PW_EV_VERDICT_REDIRECT]: 'redirect',
  [PW_EV_VERDICT_DENIED]: 'denied',
};

const LEVEL: Record<number, LogPrefix['level']> = {
  [PW_EV_LEVEL_IP]: 'ip',
  [PW_EV_LEVEL_IDENTITY]: 'id',
  [PW_EV_LEVEL_PODS]: 'pd',
  [PW_EV_LEVEL_WILDCARD]: 'wc',
  [PW_EV_LEVEL_DEFAULT]: 'default',
};

/** bpf_ktime_get_ns is CLOCK_MONOTONIC, as is process.hrtime: the record's age, subtracted from now. */
function wallTime(tsNs: bigint): Date {
  const ageMs = Number(hrtime.bigint() - tsNs) / 1e6;
  return new Date(Date.now() - Math.max(0, ageMs));
}

export function verdictFromEvent(e: PwEvent, time: Date = wallTime(e.tsNs)): KernelVerdict | undefined {
  const verdict = VERDICT[e.verdict];
  const level = LEVEL[e.level];
  const protocol = PROTOCOL_NAMES[e.proto];
  // Not mapped: host → pod allowed with no segment (the nftables datapath does not log it either) and
  // "redirect wanted, no proxy socket" (no Hubble policy verdict fits; the proxy's absence is in `podwall status`).
  if (!verdict || !level || !protocol) return undefined;
  const cut = (e.flags & PW_EV_FLAG_CUT) !== 0;
  const packet: PacketSummary = { src: formatIpv4(e.saddr), dst: formatIpv4(e.daddr), protocol, proto: e.proto };
  if (protocol === 'ICMP') packet.icmp = { type: e.dport >> 8, code: e.dport & 255 };
  else {
    packet.sport = e.sport;
    packet.dport = e.dport;
  }
  // A new connection's verdict is taken on its first packet: for TCP, the SYN.
  if (protocol === 'TCP' && !cut) packet.tcpFlags = { SYN: true };
  return {
    time,
    decision: { direction: e.dir === PW_DIR_INGRESS ? 'ingress' : 'egress', verdict, level, ...(cut ? { cut } : {}) },
    packet,
    peerIdentity: e.peerIdentity,
  };
}

/** A raw ring-buffer record (undefined when it is not one the flow pipeline reports, or malformed). */
export function verdictFromBpfEvent(record: Buffer): KernelVerdict | undefined {
  try {
    return verdictFromEvent(decodeEvent(record));
  } catch {
    return undefined;
  }
}
