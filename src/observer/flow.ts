/**
 * Flow records in Hubble's schema (cilium api/v1/flow/flow.proto), field names as Hubble's JSON output spells
 * them (`UseProtoNames`): `drop_reason_desc`, `traffic_direction`, `IP`, `l4`, `Type`, `ingress_allowed_by`...
 * Only the fields podwall fills are typed. Plain data: the store, the filters and the printers all work on these.
 */

import type { DropReasonDesc } from './drop-reasons.js';

export type { DropReasonDesc };

export const VERDICTS = ['FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED'] as const;
export type FlowVerdictName = (typeof VERDICTS)[number];

/** Hubble event types: 1 drop, 5 policy verdict, 129 L7 access log. */
export const EVENT_DROP = 1;
export const EVENT_POLICY_VERDICT = 5;
export const EVENT_L7 = 129;

export interface TcpFlags {
  SYN?: boolean;
  ACK?: boolean;
  FIN?: boolean;
  RST?: boolean;
  PSH?: boolean;
  URG?: boolean;
  ECE?: boolean;
  CWR?: boolean;
}

export interface Layer4 {
  TCP?: { source_port: number; destination_port: number; flags?: TcpFlags };
  UDP?: { source_port: number; destination_port: number };
  SCTP?: { source_port: number; destination_port: number };
  ICMPv4?: { type: number; code: number };
}

export interface FlowEndpoint {
  identity: number;
  namespace?: string;
  pod_name?: string;
  /** `k8s:org=empire`, `reserved:host`... sorted. */
  labels: string[];
}

/** A policy that decided (Hubble `Policy`). `kind` is the object kind, or `Builtin` for podwall's implicit rules. */
export interface FlowPolicy {
  name: string;
  namespace?: string;
  kind: string;
}

export interface HttpInfo {
  code?: number;
  method: string;
  url: string;
  protocol: string;
}

export interface Flow {
  time: string;
  uuid: string;
  verdict: FlowVerdictName;
  drop_reason_desc?: DropReasonDesc;
  IP: { source: string; destination: string; ipVersion: 'IPv4' };
  l4?: Layer4;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  Type: 'L3_L4' | 'L7';
  node_name?: string;
  event_type: { type: number; sub_type?: number };
  traffic_direction: 'INGRESS' | 'EGRESS' | 'TRAFFIC_DIRECTION_UNKNOWN';
  /** Hubble policy_match_type: 0 none, 1 L3-Only, 2 L3-L4, 3 L4-Only, 4 all. */
  policy_match_type?: number;
  is_reply?: boolean;
  l7?: { type: 'REQUEST' | 'RESPONSE'; latency_ns?: number; http: HttpInfo };
  /** Destination name the client used (the HTTP Host), when known. */
  destination_names?: string[];
  ingress_allowed_by?: FlowPolicy[];
  egress_allowed_by?: FlowPolicy[];
  ingress_denied_by?: FlowPolicy[];
  egress_denied_by?: FlowPolicy[];
  /** Deprecated text summary Hubble still fills (`TCP Flags: SYN`, `HTTP/1.1 PUT http://...`). */
  Summary?: string;
}

/** One line of `-o json` / the observer API: `{"flow": {...}}` like `hubble observe -o json`. */
export interface FlowResponse {
  flow: Flow;
  node_name?: string;
  time: string;
}
