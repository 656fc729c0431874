/**
 * A naive reference of the eBPF programs' verdict for the first packet of a connection, computed over the LOWERED
 * map entries (decoded from their bytes), for tests: `referenceLookup(lower(state), probe)` must equal
 * `FakeDriver.lookup(probe)` after `apply(state)`. Nothing is clever here: LPM lookups scan every entry and
 * compare the first `prefixlen` bits of the key data, as the kernel's trie defines the match.
 *
 * The walk (src/datapath/ebpf/README.md):
 * 1. Socket LB: a `services` entry for (dstIp, dport, proto) with count > 0 → backend slot 0 (the kernel picks at
 *    random). A backend reaching its own service is a connection to itself: accepted without policy. With count 0
 *    the programs refuse the connection (ECONNREFUSED), which a PacketOutcome cannot express; the reference leaves
 *    the destination untranslated, as the Fake does.
 * 2. Source is a local endpoint (`from_pod`): egress of the source (peer = destination, identity = ipcache LPM of
 *    the destination, miss = world); then, if the destination is a local endpoint, its ingress with peer = source
 *    and identity = ipcache LPM of the source (README step 5; a pod seen through a CIDR keeps that identity).
 *    Otherwise (`to_pod`): the same ingress judgement (host IPs are /32 → 1).
 * 3. One direction as README "Judging one direction". A drop in either direction drops (egress first); a
 *    redirect in either redirects.
 */
import type { Protocol } from '../../policy/types.js';
import { formatIpv4, parseIpv4 } from '../ipv4.js';
import type { PacketOutcome, PacketProbe, ServiceBackend } from '../types.js';
import {
  decodeBackendKey,
  decodeBackendVal,
  decodeEndpointKey,
  decodeEndpointVal,
  decodeIpcacheKey,
  decodeIpcacheVal,
  decodePolicyKey,
  decodePolicyVal,
  decodeSvcKey,
  decodeSvcVal,
  type EndpointVal,
  encodeIpcacheKey,
  encodePolicyKey,
  PW_DIR_EGRESS,
  PW_DIR_INGRESS,
  PW_EP_EGRESS_DEFAULT_ALLOW,
  PW_EP_EGRESS_ENFORCED,
  PW_EP_INGRESS_DEFAULT_ALLOW,
  PW_EP_INGRESS_ENFORCED,
  PW_ID_HOST,
  PW_ID_POD_MAX,
  PW_ID_POD_MIN,
  PW_ID_WORLD,
  PW_LEVEL_IDENTITY,
  PW_LEVEL_IP,
  PW_LEVEL_PODS,
  PW_LEVEL_WILDCARD,
  PW_POLICY_PREFIX_FULL,
  PW_VERDICT_ALLOW,
  PW_VERDICT_AUDIT,
  PW_VERDICT_DENY,
  PW_VERDICT_REDIRECT,
} from './layout.js';
import { type Lowered, PROTOCOL_NUMBER } from './lower.js';

interface LpmEntry {
  key: Buffer;
  prefixlen: number;
  value: Buffer;
}

interface Decoded {
  ipcache: LpmEntry[];
  policy: LpmEntry[];
  endpoints: Map<number, EndpointVal>;
  services: Map<string, { svcId: number; count: number }>;
  backends: Map<string, ServiceBackend>;
}

const decodedCache = new WeakMap<Lowered, Decoded>();

function decode(l: Lowered): Decoded {
  let d = decodedCache.get(l);
  if (d) return d;
  d = {
    ipcache: [...l.ipcache.values()].map((e) => ({
      key: e.key,
      prefixlen: decodeIpcacheKey(e.key).prefixlen,
      value: e.value,
    })),
    policy: [...l.policy.values()].map((e) => ({
      key: e.key,
      prefixlen: decodePolicyKey(e.key).prefixlen,
      value: e.value,
    })),
    endpoints: new Map([...l.endpoints.values()].map((e) => [decodeEndpointKey(e.key).ip, decodeEndpointVal(e.value)])),
    services: new Map(
      [...l.services.values()].map((e) => {
        const k = decodeSvcKey(e.key);
        return [`${k.vip}/${k.vport}/${k.proto}`, decodeSvcVal(e.value)];
      }),
    ),
    backends: new Map(
      [...l.backends.values()].map((e) => {
        const k = decodeBackendKey(e.key);
        const v = decodeBackendVal(e.value);
        return [`${k.svcId}/${k.slot}`, { ip: formatIpv4(v.ip), port: v.port }];
      }),
    ),
  };
  decodedCache.set(l, d);
  return d;
}

/** The first `bits` bits of the key data (after the 4-byte prefixlen) are equal. */
function prefixEqual(a: Buffer, b: Buffer, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = 4 + (i >> 3);
    const mask = 0x80 >> (i & 7);
    if ((a[byte]! & mask) !== (b[byte]! & mask)) return false;
  }
  return true;
}

/** Kernel LPM trie lookup: the entry with the longest prefixlen <= the probe's whose prefix matches. */
function lpmLookup(entries: readonly LpmEntry[], probe: Buffer, probeLen: number): Buffer | undefined {
  let best: LpmEntry | undefined;
  for (const e of entries) {
    if (e.prefixlen > probeLen) continue;
    if (best && e.prefixlen <= best.prefixlen) continue;
    if (prefixEqual(e.key, probe, e.prefixlen)) best = e;
  }
  return best?.value;
}

function identityOf(d: Decoded, ip: number): number {
  const v = lpmLookup(d.ipcache, encodeIpcacheKey({ prefixlen: 32, ip }), 32);
  return v ? decodeIpcacheVal(v).identity : PW_ID_WORLD;
}

type Judgement = { kind: 'allow' | 'redirect' } | { kind: 'drop'; reason: 'POLICY_DENIED' | 'POLICY_DENY' };

/** README "Judging one direction". */
function judge(
  d: Decoded,
  epIp: number,
  ep: EndpointVal,
  dir: number,
  peerIp: number,
  peerId: number,
  proto: number,
  port: number,
): Judgement {
  const enforced = dir === PW_DIR_INGRESS ? PW_EP_INGRESS_ENFORCED : PW_EP_EGRESS_ENFORCED;
  const defaultAllow = dir === PW_DIR_INGRESS ? PW_EP_INGRESS_DEFAULT_ALLOW : PW_EP_EGRESS_DEFAULT_ALLOW;
  if (!(ep.flags & enforced)) return { kind: 'allow' };
  const fromHost = dir === PW_DIR_INGRESS && peerId === PW_ID_HOST;
  const levels: [number, number][] = [];
  if (!fromHost) levels.push([PW_LEVEL_IP, peerIp]);
  levels.push([PW_LEVEL_IDENTITY, peerId]);
  if (peerId >= PW_ID_POD_MIN && peerId <= PW_ID_POD_MAX) levels.push([PW_LEVEL_PODS, 0]);
  levels.push([PW_LEVEL_WILDCARD, 0]);
  for (const [level, peer] of levels) {
    const key = encodePolicyKey({ prefixlen: PW_POLICY_PREFIX_FULL, epIp, dir, level, proto, peer, port });
    const v = lpmLookup(d.policy, key, PW_POLICY_PREFIX_FULL);
    if (!v) continue;
    const verdict = decodePolicyVal(v).verdict;
    if (verdict === PW_VERDICT_ALLOW || verdict === PW_VERDICT_AUDIT) return { kind: 'allow' };
    if (verdict === PW_VERDICT_DENY) return { kind: 'drop', reason: 'POLICY_DENY' };
    if (verdict === PW_VERDICT_REDIRECT) return { kind: fromHost ? 'allow' : 'redirect' };
    throw new Error(`policy entry with unknown verdict ${verdict}`);
  }
  if (fromHost) return { kind: 'allow' };
  if (ep.flags & defaultAllow) return { kind: 'allow' };
  return { kind: 'drop', reason: 'POLICY_DENIED' };
}

export function referenceLookup(l: Lowered, probe: PacketProbe, proxyPort: number): PacketOutcome {
  const d = decode(l);
  const proto = PROTOCOL_NUMBER[probe.protocol as Protocol];
  const src = parseIpv4(probe.srcIp);
  let dst = parseIpv4(probe.dstIp);
  let port = probe.dport;
  let backend: ServiceBackend | undefined;

  const svc = d.services.get(`${dst}/${port}/${proto}`);
  if (svc && svc.count > 0) {
    backend = d.backends.get(`${svc.svcId}/0`);
    if (!backend) throw new Error(`service ${probe.dstIp}:${probe.dport}: count ${svc.count} but no slot 0`);
    dst = parseIpv4(backend.ip);
    port = backend.port;
    if (dst === src) return { action: 'accept', backend };
  }

  let redirect = false;
  const srcEp = d.endpoints.get(src);
  const dstEp = d.endpoints.get(dst);
  if (srcEp) {
    const eg = judge(d, src, srcEp, PW_DIR_EGRESS, dst, identityOf(d, dst), proto, port);
    if (eg.kind === 'drop') return { action: 'drop', reason: eg.reason, direction: 'egress' };
    if (eg.kind === 'redirect') redirect = true;
  }
  if (dstEp) {
    const peerId = identityOf(d, src);
    const ing = judge(d, dst, dstEp, PW_DIR_INGRESS, src, peerId, proto, port);
    if (ing.kind === 'drop') return { action: 'drop', reason: ing.reason, direction: 'ingress' };
    if (ing.kind === 'redirect') redirect = true;
  }
  const out: PacketOutcome = redirect ? { action: 'redirect', proxyPort } : { action: 'accept' };
  return backend ? { ...out, backend } : out;
}
