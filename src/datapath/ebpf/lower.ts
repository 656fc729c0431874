/**
 * PURE lowering of DesiredState into the eBPF maps' entries (bytes exactly as bpf/podwall.h lays them out). No I/O:
 * the driver diffs two lowerings (diff.ts) and writes the operations; the reference evaluator (reference.ts) runs the
 * programs' algorithm over the result.
 *
 * - ipcache: every entry as an LPM key (address masked to its prefix; later duplicates of one prefix win, like
 *   IdentityResolver), plus each host IP as a /32 → PW_ID_HOST unless the ipcache already has that /32.
 * - endpoints: ip → {identity, ifindex, flags}; the ifindex comes from the caller (`ifindexOf`), 0 stays 0, and so
 *   does whether that interface is a veth (`peerOf` → PW_EP_PEER).
 * - policy: per endpoint, per *enforced* direction, per level (byIp → ip, byIdentity → identity, pods, wildcard),
 *   per protocol: the level's segments made disjoint (input order wins where they overlap, like `findSegment`),
 *   adjacent pieces with the same verdict merged, then split into aligned power-of-two port blocks (2^k ports →
 *   prefixlen 112 - k; every port of a protocol — TCP/UDP/SCTP 0-65535, ICMP types 0-255 — is one /96 entry).
 *   Only the first byIp key naming an address counts (`10.0.0.5` and `10.0.0.5/32` name the same peer; the Fake
 *   consults the first one only).
 * - services: (vip, port, proto) → {svc_id, count}; backends (svc_id, slot) → ip:port. A service without backends
 *   is lowered with count 0 (the socket program refuses the connection).
 *
 * Errors: `lower()` throws a `LoweringError` (and leaves the Lowerer's caches and svc_id allocator as they were)
 * for a malformed address or prefix, an identity outside u32, a segment outside its protocol's range, two endpoints
 * or two services with the same address, two services with the same key, or a map over its capacity in podwall.h.
 *
 * Caching: an EndpointState that is the same object (`===`) as in the previous call, with the same ifindex, reuses
 * its entries (the same Entry objects, so diffLowered skips them by reference); ipcache entries are reused per
 * prefix string when the identity is unchanged. Inputs must therefore be treated as immutable between calls.
 * Entry buffers are shared between lowerings and must not be mutated.
 */
import type { DirectionState, Protocol, Segment } from '../../policy/types.js';
import { bareIp } from '../ipv4.js';
import type { DesiredState, EndpointState } from '../types.js';
import {
  decodeSvcVal,
  encodeBackendKey,
  encodeBackendVal,
  encodeEndpointKey,
  encodeEndpointVal,
  encodeIpcacheKey,
  encodeIpcacheVal,
  encodePolicyKey,
  encodePolicyVal,
  encodeSvcKey,
  encodeSvcVal,
  IPPROTO_ICMP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  PW_DIR_EGRESS,
  PW_DIR_INGRESS,
  PW_EP_EGRESS_DEFAULT_ALLOW,
  PW_EP_EGRESS_ENFORCED,
  PW_EP_INGRESS_DEFAULT_ALLOW,
  PW_EP_INGRESS_ENFORCED,
  PW_EP_PEER,
  PW_ID_HOST,
  PW_LEVEL_IDENTITY,
  PW_LEVEL_IP,
  PW_LEVEL_PODS,
  PW_LEVEL_WILDCARD,
  PW_MAX_BACKENDS,
  PW_MAX_ENDPOINTS,
  PW_MAX_IPCACHE,
  PW_MAX_POLICY,
  PW_MAX_SERVICES,
  PW_POLICY_PREFIX_FULL,
  PW_VERDICT_ALLOW,
  PW_VERDICT_AUDIT,
  PW_VERDICT_DENY,
  PW_VERDICT_REDIRECT,
} from './layout.js';

export interface Entry {
  key: Buffer;
  value: Buffer;
}
/** Entries of one map keyed by `key.toString('hex')`. */
export type EntryMap = Map<string, Entry>;

export interface Lowered {
  ipcache: EntryMap;
  endpoints: EntryMap;
  policy: EntryMap;
  services: EntryMap;
  backends: EntryMap;
}

export class LoweringError extends Error {
  override name = 'LoweringError';
}

export const PROTOCOL_NUMBER: Readonly<Record<Protocol, number>> = {
  TCP: IPPROTO_TCP,
  UDP: IPPROTO_UDP,
  SCTP: IPPROTO_SCTP,
  ICMP: IPPROTO_ICMP,
};
/** Highest port (ICMP: type) per protocol. */
const MAX_PORT: Readonly<Record<Protocol, number>> = { TCP: 65535, UDP: 65535, SCTP: 65535, ICMP: 255 };
const U32_MAX = 0xffffffff;
const SERVICE_PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);

// ---- validation / parsing ----

const NON_CANONICAL = /(?:^|\.)0\d/;
const DOTTED = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** A canonical dotted-quad IPv4 address (no leading zeros: the Fake compares addresses as strings) → u32. */
export function parseAddress(s: string, what: string): number {
  if (typeof s !== 'string' || !DOTTED.test(s) || NON_CANONICAL.test(s))
    throw new LoweringError(`${what}: bad IPv4 address ${JSON.stringify(s)}`);
  let n = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else {
      part = part * 10 + (c - 48);
      if (part > 255) throw new LoweringError(`${what}: bad IPv4 address ${JSON.stringify(s)}`);
    }
  }
  return n * 256 + part;
}

/** `a.b.c.d/len` or a bare address (/32) → masked network address and length. */
function parsePrefix(s: string, what: string): { ip: number; len: number } {
  const slash = typeof s === 'string' ? s.indexOf('/') : -1;
  const addr = slash < 0 ? s : s.slice(0, slash);
  let len = 32;
  if (slash >= 0) {
    const l = s.slice(slash + 1);
    if (!/^\d{1,2}$/.test(l) || Number(l) > 32) throw new LoweringError(`${what}: bad prefix ${JSON.stringify(s)}`);
    len = Number(l);
  }
  const n = parseAddress(addr, what);
  const ip = len === 0 ? 0 : (n & (0xffffffff << (32 - len))) >>> 0;
  return { ip, len };
}

function checkIdentity(id: number, what: string): number {
  if (!Number.isInteger(id) || id < 0 || id > U32_MAX)
    throw new LoweringError(`${what}: identity ${id} does not fit in 32 bits`);
  return id;
}

function checkPort(p: number, what: string, max = 65535): number {
  if (!Number.isInteger(p) || p < 0 || p > max) throw new LoweringError(`${what}: port ${p} out of range 0-${max}`);
  return p;
}

function checkCapacity(n: number, max: number, map: string): void {
  if (n > max) throw new LoweringError(`map ${map}: ${n} entries exceed its capacity ${max} (bpf/podwall.h)`);
}

// ---- policy segments ----

export function verdictOf(s: Segment): number {
  if (s.audit) return PW_VERDICT_AUDIT;
  if (s.verdict === 'deny') return PW_VERDICT_DENY;
  return s.l7 !== undefined ? PW_VERDICT_REDIRECT : PW_VERDICT_ALLOW;
}

interface Piece {
  lo: number;
  hi: number;
  v: number;
}

/**
 * Disjoint, sorted pieces of one protocol's segments of one level, where a port covered by several segments takes
 * the verdict of the first (input order), as `findSegment` does. Adjacent pieces with one verdict are merged.
 */
export function disjointPieces(segs: readonly Piece[]): Piece[] {
  let sortedDisjoint = true;
  for (let i = 1; i < segs.length; i++) {
    if (segs[i]!.lo <= segs[i - 1]!.hi) {
      sortedDisjoint = false;
      break;
    }
  }
  let out: Piece[];
  if (sortedDisjoint) out = segs.slice();
  else {
    out = [];
    for (const s of segs) {
      // Gaps of [s.lo, s.hi] not yet covered by earlier segments.
      const add: Piece[] = [];
      let lo = s.lo;
      for (const o of out) {
        if (o.hi < lo) continue;
        if (o.lo > s.hi) break;
        if (o.lo > lo) add.push({ lo, hi: o.lo - 1, v: s.v });
        lo = o.hi + 1;
        if (lo > s.hi) break;
      }
      if (lo <= s.hi) add.push({ lo, hi: s.hi, v: s.v });
      if (add.length) out = [...out, ...add].sort((a, b) => a.lo - b.lo);
    }
  }
  const merged: Piece[] = [];
  for (const p of out) {
    const last = merged[merged.length - 1];
    if (last && last.hi + 1 === p.lo && last.v === p.v) merged[merged.length - 1] = { lo: last.lo, hi: p.hi, v: p.v };
    else merged.push(p);
  }
  return merged;
}

/** Aligned power-of-two blocks covering [lo, hi]: `[port, k]` for a block of 2^k ports starting at `port`. */
export function portBlocks(lo: number, hi: number): [number, number][] {
  const out: [number, number][] = [];
  forEachBlock(lo, hi, (port, k) => out.push([port, k]));
  return out;
}

function forEachBlock(lo: number, hi: number, emit: (port: number, k: number) => void): void {
  while (lo <= hi) {
    let k = 0;
    while (k < 16) {
      const size = 1 << (k + 1);
      if ((lo & (size - 1)) !== 0 || lo + size - 1 > hi) break;
      k++;
    }
    emit(lo, k);
    lo += 1 << k;
  }
}

const VERDICT_VALUES = new Map<number, Buffer>(
  [PW_VERDICT_ALLOW, PW_VERDICT_AUDIT, PW_VERDICT_DENY, PW_VERDICT_REDIRECT].map((v) => [
    v,
    encodePolicyVal({ verdict: v }),
  ]),
);

const PROTOCOL_INDEX: Readonly<Record<Protocol, number>> = { TCP: 0, UDP: 1, SCTP: 2, ICMP: 3 };
const PROTOCOLS_BY_INDEX: readonly Protocol[] = ['TCP', 'UDP', 'SCTP', 'ICMP'];

/** The policy entries of one endpoint, in emission order (`hex[i]` is the key of `entries[i]`). */
export interface PolicyGroup {
  hex: string[];
  entries: Entry[];
}

function lowerLevel(
  out: PolicyGroup,
  epIp: number,
  dir: number,
  level: number,
  peer: number,
  segs: readonly Segment[],
  what: () => string,
): void {
  if (!segs || segs.length === 0) return;
  const byProto: Piece[][] = [[], [], [], []];
  for (const s of segs) {
    const idx = PROTOCOL_INDEX[s.protocol];
    if (idx === undefined) throw new LoweringError(`${what()}: unknown protocol ${JSON.stringify(s.protocol)}`);
    const max = MAX_PORT[s.protocol];
    const { lo, hi } = s;
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi <= max && lo <= hi)) {
      checkPort(lo, `${what()} ${s.protocol}`, max);
      checkPort(hi, `${what()} ${s.protocol}`, max);
      throw new LoweringError(`${what()}: empty ${s.protocol} segment ${lo}-${hi}`);
    }
    byProto[idx]!.push({ lo, hi, v: verdictOf(s) });
  }
  for (let i = 0; i < 4; i++) {
    const list = byProto[i]!;
    if (list.length === 0) continue;
    const protocol = PROTOCOLS_BY_INDEX[i]!;
    const proto = PROTOCOL_NUMBER[protocol];
    const max = MAX_PORT[protocol];
    for (const p of disjointPieces(list)) {
      const value = VERDICT_VALUES.get(p.v)!;
      const emit = (port: number, k: number) => {
        const key = encodePolicyKey({ prefixlen: PW_POLICY_PREFIX_FULL - k, epIp, dir, level, proto, peer, port });
        out.hex.push(key.toString('hex'));
        out.entries.push({ key, value });
      };
      // Every port of the protocol (ICMP: every type) is one /96 entry.
      if (p.lo === 0 && p.hi === max) emit(0, 16);
      else forEachBlock(p.lo, p.hi, emit);
    }
  }
}

function lowerDirection(out: PolicyGroup, ep: EndpointState, epIp: number, dirName: 'ingress' | 'egress'): void {
  const ds: DirectionState = ep.policy[dirName];
  if (!ds.enforced) return;
  const dir = dirName === 'ingress' ? PW_DIR_INGRESS : PW_DIR_EGRESS;
  const what = `endpoint ${ep.name} ${dirName}`;
  const seenIps = new Set<number>();
  for (const [k, segs] of Object.entries(ds.byIp ?? {})) {
    const peer = parseAddress(bareIp(k), `${what} byIp key`);
    if (seenIps.has(peer)) continue; // only the first key naming an address is ever consulted
    seenIps.add(peer);
    lowerLevel(out, epIp, dir, PW_LEVEL_IP, peer, segs, () => `${what} byIp ${k}`);
  }
  for (const [k, segs] of Object.entries(ds.byIdentity ?? {})) {
    const id = Number(k);
    if (String(id) !== k) throw new LoweringError(`${what}: byIdentity key ${JSON.stringify(k)} is not an identity`);
    checkIdentity(id, `${what} byIdentity`);
    lowerLevel(out, epIp, dir, PW_LEVEL_IDENTITY, id, segs, () => `${what} byIdentity ${k}`);
  }
  lowerLevel(out, epIp, dir, PW_LEVEL_PODS, 0, ds.pods ?? [], () => `${what} pods`);
  lowerLevel(out, epIp, dir, PW_LEVEL_WILDCARD, 0, ds.wildcard ?? [], () => `${what} wildcard`);
}

function endpointFlags(ep: EndpointState): number {
  let f = 0;
  const { ingress, egress } = ep.policy;
  if (ingress.enforced) f |= PW_EP_INGRESS_ENFORCED | (ingress.defaultAllow ? PW_EP_INGRESS_DEFAULT_ALLOW : 0);
  if (egress.enforced) f |= PW_EP_EGRESS_ENFORCED | (egress.defaultAllow ? PW_EP_EGRESS_DEFAULT_ALLOW : 0);
  return f;
}

// ---- the Lowerer ----

interface EndpointCache {
  ifindex: number;
  peer: boolean;
  epHex: string;
  epEntry: Entry;
  policy: PolicyGroup;
}

interface IpcacheCache {
  identity: number;
  hex: string;
  entry: Entry;
}

/**
 * What changed in `policy` between a lowering and the one before it from the same Lowerer: groups lowered anew
 * and groups no longer used. Every other group contributes the same Entry objects to both. diffLowered uses it to
 * skip the unchanged endpoints without scanning the whole map.
 */
export interface PolicyDelta {
  added: readonly PolicyGroup[];
  removed: readonly PolicyGroup[];
}

/** Every Lowered a Lowerer returns gets a unique number; a delta names its base by number (no chain of references). */
let loweredCount = 0;
const loweredSeq = new WeakMap<Lowered, number>();
const policyDeltas = new WeakMap<Lowered, PolicyDelta & { baseSeq: number }>();

/** The PolicyDelta of `next` against `prev`, when `next` was lowered right after `prev` by one Lowerer. */
export function policyDeltaOf(prev: Lowered, next: Lowered): PolicyDelta | undefined {
  const d = policyDeltas.get(next);
  return d && d.baseSeq === loweredSeq.get(prev) ? d : undefined;
}

/**
 * Stateful only for speed and stable svc_ids: the same input always lowers to the same entries (Map iteration
 * order aside: an unchanged map is the previous lowering's Map object, reused).
 */
export class Lowerer {
  private endpointCache = new Map<EndpointState, EndpointCache>();
  private ipcacheCache = new Map<string, IpcacheCache>();
  private svcIds = new Map<string, number>();
  /** Freed svc_ids, FIFO, with the call that freed them (reusable from the next call on). */
  private freed: { id: number; call: number }[] = [];
  private nextSvcId = 1;
  /** svc_ids an earlier agent left in the pinned maps, by service address (hex key): see adopt(). */
  private adopted = new Map<string, number>();
  private calls = 0;
  private last: Lowered | undefined;
  /** The ipcache input of the last call (prefixes, identities, host IPs), to reuse its map when unchanged. */
  private lastIpcache: { prefixes: string[]; identities: number[]; hostIps: string[] } | undefined;

  /**
   * `ifindexOf`: the endpoint's host-side interface (0: none); `peerOf`: whether that interface has a peer in the
   * pod (a veth), which lets host routing hand packets to it (PW_EP_PEER).
   */
  lower(
    state: DesiredState,
    ifindexOf: (ep: EndpointState) => number = () => 0,
    peerOf: (ep: EndpointState) => boolean = () => false,
  ): Lowered {
    const call = this.calls + 1;
    const last = this.last;

    // --- ipcache ---
    let ipcache: EntryMap;
    let ipcacheCache: Map<string, IpcacheCache>;
    const lastIpcache = this.lastIpcache;
    let nextIpcache = lastIpcache;
    if (last && lastIpcache && sameIpcacheInput(state, lastIpcache)) {
      ipcache = last.ipcache;
      ipcacheCache = this.ipcacheCache;
    } else {
      ipcache = new Map();
      ipcacheCache = new Map();
      for (const e of state.ipcache) {
        const identity = checkIdentity(e.identity, `ipcache ${e.prefix}`);
        let c = ipcacheCache.get(e.prefix) ?? this.ipcacheCache.get(e.prefix);
        if (!c || c.identity !== identity) {
          let key: Buffer;
          let hex: string;
          if (c) {
            key = c.entry.key;
            hex = c.hex;
          } else {
            const { ip, len } = parsePrefix(e.prefix, `ipcache ${e.prefix}`);
            key = encodeIpcacheKey({ prefixlen: len, ip });
            hex = key.toString('hex');
          }
          c = { identity, hex, entry: { key, value: encodeIpcacheVal({ identity }) } };
        }
        ipcacheCache.set(e.prefix, c);
        ipcache.set(c.hex, c.entry); // a later duplicate of a prefix wins (IdentityResolver does the same)
      }
      for (const h of state.hostIps) {
        const cacheKey = `host ${h}`;
        let c = ipcacheCache.get(cacheKey) ?? this.ipcacheCache.get(cacheKey);
        if (!c) {
          const key = encodeIpcacheKey({ prefixlen: 32, ip: parseAddress(h, 'hostIps') });
          c = {
            identity: PW_ID_HOST,
            hex: key.toString('hex'),
            entry: { key, value: encodeIpcacheVal({ identity: PW_ID_HOST }) },
          };
        }
        ipcacheCache.set(cacheKey, c);
        if (!ipcache.has(c.hex)) ipcache.set(c.hex, c.entry);
      }
      checkCapacity(ipcache.size, PW_MAX_IPCACHE, 'ipcache');
      nextIpcache = {
        prefixes: state.ipcache.map((e) => e.prefix),
        identities: state.ipcache.map((e) => e.identity),
        hostIps: [...state.hostIps],
      };
    }

    // --- endpoints and policy ---
    const endpointCache = new Map<EndpointState, EndpointCache>();
    const added: PolicyGroup[] = [];
    let allReused = last !== undefined;
    for (const ep of state.endpoints) {
      const ifindex = ifindexOf(ep);
      if (!Number.isInteger(ifindex) || ifindex < 0 || ifindex > U32_MAX)
        throw new LoweringError(`endpoint ${ep.name}: bad ifindex ${ifindex}`);
      const peer = ifindex > 0 && peerOf(ep);
      const cached = this.endpointCache.get(ep);
      let c = cached;
      if (!c || c.ifindex !== ifindex || c.peer !== peer) {
        allReused = false;
        const epIp = parseAddress(ep.ip, `endpoint ${ep.name}`);
        const identity = checkIdentity(ep.identity, `endpoint ${ep.name}`);
        const key = c ? c.epEntry.key : encodeEndpointKey({ ip: epIp });
        const flags = endpointFlags(ep) | (peer ? PW_EP_PEER : 0);
        const epEntry = { key, value: encodeEndpointVal({ identity, ifindex, flags }) };
        let pol = c?.policy;
        if (!pol) {
          pol = { hex: [], entries: [] };
          lowerDirection(pol, ep, epIp, 'ingress');
          lowerDirection(pol, ep, epIp, 'egress');
          added.push(pol);
        }
        c = { ifindex, peer, epHex: c ? c.epHex : key.toString('hex'), epEntry, policy: pol };
      }
      endpointCache.set(ep, c);
    }
    let endpoints: EntryMap;
    let policy: EntryMap;
    // Exactly the previous endpoint objects, each unchanged: the previous maps hold exactly these entries.
    if (
      last &&
      allReused &&
      endpointCache.size === state.endpoints.length &&
      endpointCache.size === this.endpointCache.size
    ) {
      endpoints = last.endpoints;
      policy = last.policy;
    } else {
      endpoints = new Map();
      policy = new Map();
      for (const [ep, c] of endpointCache) {
        if (endpoints.has(c.epHex)) throw new LoweringError(`two endpoints with IP ${ep.ip} (${ep.name})`);
        endpoints.set(c.epHex, c.epEntry);
        const { hex, entries } = c.policy;
        for (let i = 0; i < hex.length; i++) policy.set(hex[i]!, entries[i]!);
      }
      // The same object listed twice is two endpoints with one IP.
      if (endpointCache.size !== state.endpoints.length) {
        const seen = new Set<EndpointState>();
        for (const ep of state.endpoints) {
          if (seen.has(ep)) throw new LoweringError(`two endpoints with IP ${ep.ip} (${ep.name})`);
          seen.add(ep);
        }
      }
      checkCapacity(endpoints.size, PW_MAX_ENDPOINTS, 'endpoints');
      checkCapacity(policy.size, PW_MAX_POLICY, 'policy');
    }

    // --- services ---
    const services: EntryMap = new Map();
    const backends: EntryMap = new Map();
    const svcIds = new Map<string, number>();
    let freedTaken = 0;
    let nextSvcId = this.nextSvcId;
    const allocate = (): number => {
      const f = this.freed[freedTaken];
      if (f && f.call < call) {
        freedTaken++;
        return f.id;
      }
      if (nextSvcId > U32_MAX) throw new LoweringError('services: svc_id space exhausted');
      return nextSvcId++;
    };
    for (const svc of state.services) {
      const what = `service ${svc.key}`;
      if (svcIds.has(svc.key)) throw new LoweringError(`${what}: duplicate service key`);
      const proto = SERVICE_PROTOCOLS.has(svc.protocol) ? PROTOCOL_NUMBER[svc.protocol] : undefined;
      if (proto === undefined) throw new LoweringError(`${what}: bad protocol ${JSON.stringify(svc.protocol)}`);
      const key = encodeSvcKey({ vip: parseAddress(svc.ip, what), vport: checkPort(svc.port, what), proto });
      const hex = key.toString('hex');
      if (services.has(hex))
        throw new LoweringError(`${what}: two services with address ${svc.ip}:${svc.port}/${svc.protocol}`);
      const svcId = this.svcIds.get(svc.key) ?? this.adopted.get(hex) ?? allocate();
      svcIds.set(svc.key, svcId);
      services.set(hex, { key, value: encodeSvcVal({ svcId, count: svc.backends.length }) });
      svc.backends.forEach((be, slot) => {
        const bkey = encodeBackendKey({ svcId, slot });
        const value = encodeBackendVal({
          ip: parseAddress(be.ip, `${what} backend`),
          port: checkPort(be.port, `${what} backend`),
        });
        backends.set(bkey.toString('hex'), { key: bkey, value });
      });
    }
    checkCapacity(services.size, PW_MAX_SERVICES, 'services');
    checkCapacity(backends.size, PW_MAX_BACKENDS, 'backends');

    // --- commit (nothing above changed the Lowerer) ---
    const result: Lowered = { ipcache, endpoints, policy, services, backends };
    if (last) {
      const used = new Set<PolicyGroup>();
      for (const c of endpointCache.values()) used.add(c.policy);
      const removed: PolicyGroup[] = [];
      for (const c of this.endpointCache.values()) if (!used.has(c.policy)) removed.push(c.policy);
      policyDeltas.set(result, { baseSeq: loweredSeq.get(last)!, added, removed });
    }
    loweredSeq.set(result, ++loweredCount);
    const freed = this.freed.slice(freedTaken);
    for (const [key, id] of this.svcIds) if (!svcIds.has(key)) freed.push({ id, call });
    const kept = new Set(svcIds.values());
    for (const id of this.adopted.values()) if (!kept.has(id)) freed.push({ id, call });
    this.adopted = new Map();
    this.freed = freed;
    this.svcIds = svcIds;
    this.nextSvcId = nextSvcId;
    this.endpointCache = endpointCache;
    this.ipcacheCache = ipcacheCache;
    this.lastIpcache = nextIpcache;
    this.calls = call;
    this.last = result;
    return result;
  }

  /**
   * Start from the services an earlier agent left pinned: on the next lower(), a service at the same address
   * keeps its svc_id, and no other service gets one of those ids in that call, so a restarted agent never points
   * an old service address at a new service's backend slots while it converges.
   */
  adopt(installedServices: EntryMap): void {
    for (const [hex, e] of installedServices) {
      const { svcId } = decodeSvcVal(e.value);
      this.adopted.set(hex, svcId);
      if (svcId >= this.nextSvcId) this.nextSvcId = svcId + 1;
    }
  }

  /** The svc_id currently assigned to a service key (for dumps and tests). */
  svcIdOf(key: string): number | undefined {
    return this.svcIds.get(key);
  }
}

function sameIpcacheInput(
  state: DesiredState,
  last: { prefixes: string[]; identities: number[]; hostIps: string[] },
): boolean {
  const { ipcache, hostIps } = state;
  if (ipcache.length !== last.prefixes.length || hostIps.length !== last.hostIps.length) return false;
  for (let i = 0; i < ipcache.length; i++) {
    const e = ipcache[i]!;
    if (e.prefix !== last.prefixes[i] || e.identity !== last.identities[i]) return false;
  }
  for (let i = 0; i < hostIps.length; i++) if (hostIps[i] !== last.hostIps[i]) return false;
  return true;
}
