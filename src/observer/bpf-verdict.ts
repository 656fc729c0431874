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
  PW_EV_VERDICT_DROPPED,
  PW_EV_VERDICT_NO_PROXY,
  PW_EV_VERDICT_REDIRECT,
  type PwEvent,
} from '../datapath/ebpf/layout.js';
import { formatIpv4 } from '../datapath/ipv4.js';
import type { LogPrefix } from '../datapath/nftables/render.js';
import {
  type AttributionSource,
  type DatapathDrop,
  flowsFromDatapathDrop,
  flowsFromVerdict,
  type KernelVerdict,
} from './build.js';
import { dropReasonOf } from './drop-reasons.js';
import type { Flow } from './flow.js';
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

function packetOf(e: PwEvent, protocol: PacketSummary['protocol']): PacketSummary {
  const packet: PacketSummary = { src: formatIpv4(e.saddr), dst: formatIpv4(e.daddr), protocol, proto: e.proto };
  if (protocol === 'ICMP') packet.icmp = { type: e.dport >> 8, code: e.dport & 255 };
  else if (protocol !== 'OTHER') {
    packet.sport = e.sport;
    packet.dport = e.dport;
  }
  return packet;
}

/** A policy verdict record (undefined for the datapath's own drops, see dropFromEvent, and unreported kinds). */
export function verdictFromEvent(e: PwEvent, time: Date = wallTime(e.tsNs)): KernelVerdict | undefined {
  const verdict = VERDICT[e.verdict];
  const level = LEVEL[e.level];
  const protocol = PROTOCOL_NAMES[e.proto];
  // Not mapped: host → pod allowed with no segment (the nftables datapath does not log it either).
  if (!verdict || !level || !protocol) return undefined;
  const cut = (e.flags & PW_EV_FLAG_CUT) !== 0;
  const packet = packetOf(e, protocol);
  // A new connection's verdict is taken on its first packet: for TCP, the SYN.
  if (protocol === 'TCP' && !cut) packet.tcpFlags = { SYN: true };
  return {
    time,
    decision: { direction: e.dir === PW_DIR_INGRESS ? 'ingress' : 'egress', verdict, level, ...(cut ? { cut } : {}) },
    packet,
    peerIdentity: e.peerIdentity,
  };
}

/** A drop of the datapath's own (anti-spoofing, a lost first fragment, no proxy socket), else undefined. */
export function dropFromEvent(e: PwEvent, time: Date = wallTime(e.tsNs)): DatapathDrop | undefined {
  if (e.verdict !== PW_EV_VERDICT_DROPPED && e.verdict !== PW_EV_VERDICT_NO_PROXY) return undefined;
  const reason = dropReasonOf(e.dropReason);
  if (!reason) return undefined;
  const packet = packetOf(e, PROTOCOL_NAMES[e.proto] ?? 'OTHER');
  return { time, reason, direction: e.dir === PW_DIR_INGRESS ? 'ingress' : 'egress', packet };
}

/** A raw ring-buffer record decoded, or undefined when it is malformed (a record is never worth an exception). */
function decoded(record: Buffer): PwEvent | undefined {
  try {
    return decodeEvent(record);
  } catch {
    return undefined;
  }
}

/** A raw ring-buffer record (undefined when it is not one the flow pipeline reports, or malformed). */
export function verdictFromBpfEvent(record: Buffer): KernelVerdict | undefined {
  const e = decoded(record);
  return e && verdictFromEvent(e);
}

/** The flow records for one raw ring-buffer record: a policy verdict's, or a datapath drop's; none if malformed. */
export function flowsFromBpfEvent(record: Buffer, src: AttributionSource): Flow[] {
  const e = decoded(record);
  if (!e) return [];
  const v = verdictFromEvent(e);
  if (v) return flowsFromVerdict(v, src);
  const d = dropFromEvent(e);
  return d ? flowsFromDatapathDrop(d, src) : [];
}
