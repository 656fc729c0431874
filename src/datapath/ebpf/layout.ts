/**
 * TS mirror of bpf/podwall.h: every constant, and one encoder/decoder per map key/value struct. Change both files
 * together.
 *
 * Encoders return a Buffer of exactly the C `sizeof` with every padding byte zero. Byte order, as the header says:
 * addresses and ports network order (big-endian); identities, counters, flags and `prefixlen` host order (written
 * little-endian: podwall's eBPF datapath runs on x86_64 and arm64 only — `assertLittleEndianHost` checks it); and
 * `policy_key.peer` big-endian.
 *
 * Addresses are plain numbers here: the IPv4 address as an unsigned 32-bit value (`10.0.0.5` = 0x0a000005, see
 * `parseIpv4` / `formatIpv4` in ../ipv4.ts), written big-endian. Decoders return the same shapes, so
 * `encodeX(decodeX(b))` is byte-identical to `b` whenever the padding of `b` is zero.
 */
import { endianness } from 'node:os';

// ---- constants (podwall.h) ----

export const PW_MAX_IPCACHE = 262144;
export const PW_MAX_ENDPOINTS = 16384;
export const PW_MAX_L2 = 16384;
export const PW_MAX_FRAGS = 16384;
export const PW_MAX_POLICY = 1048576;
export const PW_MAX_CT = 262144;
export const PW_MAX_SERVICES = 65536;
export const PW_MAX_BACKENDS = 262144;
export const PW_MAX_REVNAT = 65536;
export const PW_EVENTS_BYTES = 4 * 1024 * 1024;

export const PW_ID_HOST = 1;
export const PW_ID_WORLD = 2;
export const PW_ID_POD_MIN = 256;
export const PW_ID_POD_MAX = 65535;

export const PW_MARK_TO_PROXY = 0x80000000;
export const PW_MARK_JUDGED = 0x40000000;

export const PW_EP_INGRESS_ENFORCED = 0x1;
export const PW_EP_EGRESS_ENFORCED = 0x2;
export const PW_EP_INGRESS_DEFAULT_ALLOW = 0x4;
export const PW_EP_EGRESS_DEFAULT_ALLOW = 0x8;
export const PW_EP_PEER = 0x10;

export const PW_DIR_INGRESS = 0;
export const PW_DIR_EGRESS = 1;
export const PW_LEVEL_IP = 0;
export const PW_LEVEL_IDENTITY = 1;
export const PW_LEVEL_PODS = 2;
export const PW_LEVEL_WILDCARD = 3;
export const PW_POLICY_PREFIX_BASE = 96;
/** Prefix length of a full policy key (every bit of the port): what the programs look up with. */
export const PW_POLICY_PREFIX_FULL = PW_POLICY_PREFIX_BASE + 16;

export const PW_VERDICT_ALLOW = 1;
export const PW_VERDICT_AUDIT = 2;
export const PW_VERDICT_DENY = 3;
export const PW_VERDICT_REDIRECT = 4;

export const PW_CFG_HOST_ROUTING = 0x1;

export const PW_CT_PROXY = 0x1;
export const PW_CT_DENIED = 0x2;

export const PW_EV_VERDICT_ALLOW = 1;
export const PW_EV_VERDICT_AUDIT = 2;
export const PW_EV_VERDICT_DENY = 3;
export const PW_EV_VERDICT_REDIRECT = 4;
export const PW_EV_VERDICT_DENIED = 5;
export const PW_EV_VERDICT_NO_PROXY = 6;
export const PW_EV_VERDICT_DROPPED = 7;
export const PW_DROP_INVALID_SOURCE_IP = 132;
export const PW_DROP_FRAGMENT_NOT_FOUND = 175;
export const PW_DROP_SOCKET_LOOKUP_FAILED = 178;
export const PW_DROP_PROXY_UNSUPPORTED_PROTO = 180;
export const PW_EV_LEVEL_IP = 0;
export const PW_EV_LEVEL_IDENTITY = 1;
export const PW_EV_LEVEL_PODS = 2;
export const PW_EV_LEVEL_WILDCARD = 3;
export const PW_EV_LEVEL_DEFAULT = 4;
export const PW_EV_LEVEL_HOST = 5;
export const PW_EV_FLAG_CUT = 0x1;

/** IPPROTO_* numbers of the protocols a policy key or service key carries. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;
/** IP protocol number → the name the policy model uses. */
export const PROTOCOL_NAMES: Readonly<Record<number, 'ICMP' | 'TCP' | 'UDP' | 'SCTP'>> = {
  [IPPROTO_ICMP]: 'ICMP',
  [IPPROTO_TCP]: 'TCP',
  [IPPROTO_UDP]: 'UDP',
  [IPPROTO_SCTP]: 'SCTP',
};

// ---- maps and sizes ----

/** Map names: the C names of podwall.h, pinned under `<stateDir>/bpf`. */
export type MapName =
  | 'ipcache'
  | 'endpoints'
  | 'l2'
  | 'frags'
  | 'policy'
  | 'config'
  | 'ct'
  | 'services'
  | 'backends'
  | 'revnat'
  | 'events';
export const MAP_NAMES: readonly MapName[] = [
  'ipcache',
  'endpoints',
  'l2',
  'frags',
  'policy',
  'config',
  'ct',
  'services',
  'backends',
  'revnat',
  'events',
];

/** `sizeof` of every struct in podwall.h. */
export const SIZEOF = {
  ipcacheKey: 8,
  ipcacheVal: 4,
  endpointKey: 4,
  endpointVal: 16,
  l2Key: 4,
  l2Val: 16,
  fragKey: 12,
  fragVal: 8,
  policyKey: 20,
  policyVal: 4,
  config: 16,
  ctKey: 16,
  ctVal: 16,
  svcKey: 8,
  svcVal: 8,
  backendKey: 8,
  backendVal: 8,
  revnatKey: 16,
  revnatVal: 8,
  event: 40,
} as const;

/** Key and value sizes per map (`events` is a ring buffer: no key, records of `SIZEOF.event`). */
export const MAP_SIZES: Record<MapName, { key: number; value: number }> = {
  ipcache: { key: SIZEOF.ipcacheKey, value: SIZEOF.ipcacheVal },
  endpoints: { key: SIZEOF.endpointKey, value: SIZEOF.endpointVal },
  l2: { key: SIZEOF.l2Key, value: SIZEOF.l2Val },
  frags: { key: SIZEOF.fragKey, value: SIZEOF.fragVal },
  policy: { key: SIZEOF.policyKey, value: SIZEOF.policyVal },
  config: { key: 4, value: SIZEOF.config },
  ct: { key: SIZEOF.ctKey, value: SIZEOF.ctVal },
  services: { key: SIZEOF.svcKey, value: SIZEOF.svcVal },
  backends: { key: SIZEOF.backendKey, value: SIZEOF.backendVal },
  revnat: { key: SIZEOF.revnatKey, value: SIZEOF.revnatVal },
  events: { key: 0, value: SIZEOF.event },
};

/** Maximum entries per map (`events`: bytes of the ring buffer; `config`: one element). */
export const MAP_CAPACITY: Record<MapName, number> = {
  ipcache: PW_MAX_IPCACHE,
  endpoints: PW_MAX_ENDPOINTS,
  l2: PW_MAX_L2,
  frags: PW_MAX_FRAGS,
  policy: PW_MAX_POLICY,
  config: 1,
  ct: PW_MAX_CT,
  services: PW_MAX_SERVICES,
  backends: PW_MAX_BACKENDS,
  revnat: PW_MAX_REVNAT,
  events: PW_EVENTS_BYTES,
};

/** Throws unless this host stores integers little-endian (the encoders write host-order fields as LE). */
export function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new Error('podwall eBPF layout: big-endian hosts are not supported');
}

// ---- helpers ----

function check(b: Buffer, size: number, what: string): void {
  if (b.length !== size) throw new Error(`${what}: expected ${size} bytes, got ${b.length}`);
}

// Small buffers come from Node's shared pool (allocUnsafe: no backing store per key, which dominated GC when
// lowering tens of thousands of entries), zero-filled so every padding byte is 0.
const alloc = (n: number) => Buffer.allocUnsafe(n).fill(0);

// ---- ipcache ----

export interface IpcacheKey {
  prefixlen: number;
  ip: number;
}
export function encodeIpcacheKey(k: IpcacheKey): Buffer {
  const b = alloc(SIZEOF.ipcacheKey);
  b.writeUInt32LE(k.prefixlen, 0);
  b.writeUInt32BE(k.ip >>> 0, 4);
  return b;
}
export function decodeIpcacheKey(b: Buffer): IpcacheKey {
  check(b, SIZEOF.ipcacheKey, 'pw_ipcache_key');
  return { prefixlen: b.readUInt32LE(0), ip: b.readUInt32BE(4) };
}

export interface IpcacheVal {
  identity: number;
}
export function encodeIpcacheVal(v: IpcacheVal): Buffer {
  const b = alloc(SIZEOF.ipcacheVal);
  b.writeUInt32LE(v.identity, 0);
  return b;
}
export function decodeIpcacheVal(b: Buffer): IpcacheVal {
  check(b, SIZEOF.ipcacheVal, 'pw_ipcache_val');
  return { identity: b.readUInt32LE(0) };
}

// ---- endpoints ----

export interface EndpointKey {
  ip: number;
}
export function encodeEndpointKey(k: EndpointKey): Buffer {
  const b = alloc(SIZEOF.endpointKey);
  b.writeUInt32BE(k.ip >>> 0, 0);
  return b;
}
export function decodeEndpointKey(b: Buffer): EndpointKey {
  check(b, SIZEOF.endpointKey, 'pw_endpoint_key');
  return { ip: b.readUInt32BE(0) };
}

export interface EndpointVal {
  identity: number;
  ifindex: number;
  /** PW_EP_* bits. */
  flags: number;
}
export function encodeEndpointVal(v: EndpointVal): Buffer {
  const b = alloc(SIZEOF.endpointVal);
  b.writeUInt32LE(v.identity, 0);
  b.writeUInt32LE(v.ifindex, 4);
  b.writeUInt32LE(v.flags, 8);
  return b;
}
export function decodeEndpointVal(b: Buffer): EndpointVal {
  check(b, SIZEOF.endpointVal, 'pw_endpoint_val');
  return { identity: b.readUInt32LE(0), ifindex: b.readUInt32LE(4), flags: b.readUInt32LE(8) };
}

// ---- l2 (learned by the programs; the agent only reads it) ----

export interface L2Key {
  ip: number;
}
export function encodeL2Key(k: L2Key): Buffer {
  const b = alloc(SIZEOF.l2Key);
  b.writeUInt32BE(k.ip >>> 0, 0);
  return b;
}
export function decodeL2Key(b: Buffer): L2Key {
  check(b, SIZEOF.l2Key, 'pw_l2_key');
  return { ip: b.readUInt32BE(0) };
}

export interface L2Val {
  ifindex: number;
  /** `aa:bb:cc:dd:ee:ff`. */
  podMac: string;
  gwMac: string;
}
export function encodeL2Val(v: L2Val): Buffer {
  const b = alloc(SIZEOF.l2Val);
  b.writeUInt32LE(v.ifindex, 0);
  macBytes(v.podMac).copy(b, 4);
  macBytes(v.gwMac).copy(b, 10);
  return b;
}
export function decodeL2Val(b: Buffer): L2Val {
  check(b, SIZEOF.l2Val, 'pw_l2_val');
  return { ifindex: b.readUInt32LE(0), podMac: formatMac(b.subarray(4, 10)), gwMac: formatMac(b.subarray(10, 16)) };
}

/** `aa:bb:cc:dd:ee:ff` → its 6 bytes. */
export function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p))) throw new Error(`not a MAC address: ${mac}`);
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}
/** 6 bytes → `aa:bb:cc:dd:ee:ff`. */
export function formatMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

// ---- policy ----

export interface PolicyKey {
  /** PW_POLICY_PREFIX_BASE..PW_POLICY_PREFIX_FULL. */
  prefixlen: number;
  epIp: number;
  /** PW_DIR_*. */
  dir: number;
  /** PW_LEVEL_*. */
  level: number;
  /** IPPROTO_*. */
  proto: number;
  /** IPv4 address (level ip) or identity (level identity); 0 otherwise. Written big-endian either way. */
  peer: number;
  /** Port, or ICMP type. */
  port: number;
}
export function encodePolicyKey(k: PolicyKey): Buffer {
  const b = alloc(SIZEOF.policyKey);
  b.writeUInt32LE(k.prefixlen, 0);
  b.writeUInt32BE(k.epIp >>> 0, 4);
  b.writeUInt8(k.dir, 8);
  b.writeUInt8(k.level, 9);
  b.writeUInt8(k.proto, 10);
  b.writeUInt32BE(k.peer >>> 0, 12);
  b.writeUInt16BE(k.port, 16);
  return b;
}
export function decodePolicyKey(b: Buffer): PolicyKey {
  check(b, SIZEOF.policyKey, 'pw_policy_key');
  return {
    prefixlen: b.readUInt32LE(0),
    epIp: b.readUInt32BE(4),
    dir: b[8]!,
    level: b[9]!,
    proto: b[10]!,
    peer: b.readUInt32BE(12),
    port: b.readUInt16BE(16),
  };
}

export interface PolicyVal {
  /** PW_VERDICT_*. */
  verdict: number;
}
export function encodePolicyVal(v: PolicyVal): Buffer {
  const b = alloc(SIZEOF.policyVal);
  b.writeUInt32LE(v.verdict, 0);
  return b;
}
export function decodePolicyVal(b: Buffer): PolicyVal {
  check(b, SIZEOF.policyVal, 'pw_policy_val');
  return { verdict: b.readUInt32LE(0) };
}

// ---- config ----

export interface Config {
  generation: number;
  /** Host order; 0 = no proxy. */
  proxyPort: number;
  flags: number;
}
export function encodeConfig(c: Config): Buffer {
  const b = alloc(SIZEOF.config);
  b.writeUInt32LE(c.generation, 0);
  b.writeUInt32LE(c.proxyPort, 4);
  b.writeUInt32LE(c.flags, 8);
  return b;
}
export function decodeConfig(b: Buffer): Config {
  check(b, SIZEOF.config, 'pw_config');
  return { generation: b.readUInt32LE(0), proxyPort: b.readUInt32LE(4), flags: b.readUInt32LE(8) };
}
/** The key of the config array's only element (`__u32` index 0). */
export function encodeConfigKey(): Buffer {
  return alloc(4);
}

// ---- ct ----

export interface CtKey {
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  proto: number;
}
export function encodeCtKey(k: CtKey): Buffer {
  const b = alloc(SIZEOF.ctKey);
  b.writeUInt32BE(k.saddr >>> 0, 0);
  b.writeUInt32BE(k.daddr >>> 0, 4);
  b.writeUInt16BE(k.sport, 8);
  b.writeUInt16BE(k.dport, 10);
  b.writeUInt8(k.proto, 12);
  return b;
}
export function decodeCtKey(b: Buffer): CtKey {
  check(b, SIZEOF.ctKey, 'pw_ct_key');
  return {
    saddr: b.readUInt32BE(0),
    daddr: b.readUInt32BE(4),
    sport: b.readUInt16BE(8),
    dport: b.readUInt16BE(10),
    proto: b[12]!,
  };
}

export interface CtVal {
  generation: number;
  /** PW_CT_* bits. */
  flags: number;
  createdNs: bigint;
}
export function encodeCtVal(v: CtVal): Buffer {
  const b = alloc(SIZEOF.ctVal);
  b.writeUInt32LE(v.generation, 0);
  b.writeUInt32LE(v.flags, 4);
  b.writeBigUInt64LE(v.createdNs, 8);
  return b;
}
export function decodeCtVal(b: Buffer): CtVal {
  check(b, SIZEOF.ctVal, 'pw_ct_val');
  return { generation: b.readUInt32LE(0), flags: b.readUInt32LE(4), createdNs: b.readBigUInt64LE(8) };
}

// ---- services / backends ----

export interface SvcKey {
  vip: number;
  vport: number;
  proto: number;
}
export function encodeSvcKey(k: SvcKey): Buffer {
  const b = alloc(SIZEOF.svcKey);
  b.writeUInt32BE(k.vip >>> 0, 0);
  b.writeUInt16BE(k.vport, 4);
  b.writeUInt8(k.proto, 6);
  return b;
}
export function decodeSvcKey(b: Buffer): SvcKey {
  check(b, SIZEOF.svcKey, 'pw_svc_key');
  return { vip: b.readUInt32BE(0), vport: b.readUInt16BE(4), proto: b[6]! };
}

export interface SvcVal {
  svcId: number;
  count: number;
}
export function encodeSvcVal(v: SvcVal): Buffer {
  const b = alloc(SIZEOF.svcVal);
  b.writeUInt32LE(v.svcId, 0);
  b.writeUInt32LE(v.count, 4);
  return b;
}
export function decodeSvcVal(b: Buffer): SvcVal {
  check(b, SIZEOF.svcVal, 'pw_svc_val');
  return { svcId: b.readUInt32LE(0), count: b.readUInt32LE(4) };
}

export interface BackendKey {
  svcId: number;
  slot: number;
}
export function encodeBackendKey(k: BackendKey): Buffer {
  const b = alloc(SIZEOF.backendKey);
  b.writeUInt32LE(k.svcId, 0);
  b.writeUInt32LE(k.slot, 4);
  return b;
}
export function decodeBackendKey(b: Buffer): BackendKey {
  check(b, SIZEOF.backendKey, 'pw_backend_key');
  return { svcId: b.readUInt32LE(0), slot: b.readUInt32LE(4) };
}

export interface BackendVal {
  ip: number;
  port: number;
}
export function encodeBackendVal(v: BackendVal): Buffer {
  const b = alloc(SIZEOF.backendVal);
  b.writeUInt32BE(v.ip >>> 0, 0);
  b.writeUInt16BE(v.port, 4);
  return b;
}
export function decodeBackendVal(b: Buffer): BackendVal {
  check(b, SIZEOF.backendVal, 'pw_backend_val');
  return { ip: b.readUInt32BE(0), port: b.readUInt16BE(4) };
}

// ---- revnat ----

export interface RevnatKey {
  cookie: bigint;
  ip: number;
  port: number;
}
export function encodeRevnatKey(k: RevnatKey): Buffer {
  const b = alloc(SIZEOF.revnatKey);
  b.writeBigUInt64LE(k.cookie, 0);
  b.writeUInt32BE(k.ip >>> 0, 8);
  b.writeUInt16BE(k.port, 12);
  return b;
}
export function decodeRevnatKey(b: Buffer): RevnatKey {
  check(b, SIZEOF.revnatKey, 'pw_revnat_key');
  return { cookie: b.readBigUInt64LE(0), ip: b.readUInt32BE(8), port: b.readUInt16BE(12) };
}

export interface RevnatVal {
  vip: number;
  vport: number;
}
export function encodeRevnatVal(v: RevnatVal): Buffer {
  const b = alloc(SIZEOF.revnatVal);
  b.writeUInt32BE(v.vip >>> 0, 0);
  b.writeUInt16BE(v.vport, 4);
  return b;
}
export function decodeRevnatVal(b: Buffer): RevnatVal {
  check(b, SIZEOF.revnatVal, 'pw_revnat_val');
  return { vip: b.readUInt32BE(0), vport: b.readUInt16BE(4) };
}

// ---- events ----

export interface PwEvent {
  tsNs: bigint;
  saddr: number;
  daddr: number;
  sport: number;
  /** ICMP: `type << 8 | code` (host order in the record). */
  dport: number;
  proto: number;
  /** PW_DIR_*. */
  dir: number;
  /** PW_EV_VERDICT_*. */
  verdict: number;
  /** PW_EV_LEVEL_*. */
  level: number;
  peerIdentity: number;
  /** PW_EV_FLAG_* bits. */
  flags: number;
  ifindex: number;
  /** PW_DROP_* (Hubble DropReason) for DROPPED and NO_PROXY records, else 0. */
  dropReason: number;
}

function isIcmp(proto: number): boolean {
  return proto === IPPROTO_ICMP;
}

/**
 * `pw_event.sport`/`dport` are network order like every port, except the ICMP `dport`, which the header defines as
 * `type << 8 | code` in host order.
 */
export function encodeEvent(e: PwEvent): Buffer {
  const b = alloc(SIZEOF.event);
  b.writeBigUInt64LE(e.tsNs, 0);
  b.writeUInt32BE(e.saddr >>> 0, 8);
  b.writeUInt32BE(e.daddr >>> 0, 12);
  b.writeUInt16BE(e.sport, 16);
  if (isIcmp(e.proto)) b.writeUInt16LE(e.dport, 18);
  else b.writeUInt16BE(e.dport, 18);
  b.writeUInt8(e.proto, 20);
  b.writeUInt8(e.dir, 21);
  b.writeUInt8(e.verdict, 22);
  b.writeUInt8(e.level, 23);
  b.writeUInt32LE(e.peerIdentity, 24);
  b.writeUInt32LE(e.flags, 28);
  b.writeUInt32LE(e.ifindex, 32);
  b.writeUInt32LE(e.dropReason, 36);
  return b;
}
export function decodeEvent(b: Buffer): PwEvent {
  check(b, SIZEOF.event, 'pw_event');
  const proto = b[20]!;
  return {
    tsNs: b.readBigUInt64LE(0),
    saddr: b.readUInt32BE(8),
    daddr: b.readUInt32BE(12),
    sport: b.readUInt16BE(16),
    dport: isIcmp(proto) ? b.readUInt16LE(18) : b.readUInt16BE(18),
    proto,
    dir: b[21]!,
    verdict: b[22]!,
    level: b[23]!,
    peerIdentity: b.readUInt32LE(24),
    flags: b.readUInt32LE(28),
    ifindex: b.readUInt32LE(32),
    dropReason: b.readUInt32LE(36),
  };
}
