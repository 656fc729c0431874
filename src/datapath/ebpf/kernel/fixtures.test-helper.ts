/**
 * Test-only: raw podwall.h encodings (independent of ../layout.ts on purpose: the tests check the C layout, not the
 * TypeScript mirror), crafted IPv4 frames, a private bpffs per test, and network namespaces.
 *
 * Hygiene: temp dirs are /var/tmp/pw-*, netns pw-t-*, links pw-t*; every helper returns its own cleanup.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import koffi from 'koffi';
import { formatIpv4, parseIpv4 } from '../../ipv4.js';
import {
  decodeCtVal,
  decodeEvent as decodeLayoutEvent,
  encodeBackendKey,
  encodeBackendVal,
  encodeConfig,
  encodeConfigKey,
  encodeCtKey,
  encodeCtVal,
  encodeEndpointKey,
  encodeEndpointVal,
  encodeIpcacheKey,
  encodeIpcacheVal,
  encodePolicyKey,
  encodePolicyVal,
  encodeSvcKey,
  encodeSvcVal,
  type PwEvent as LayoutEvent,
  macBytes,
} from '../layout.js';
import { mountBpffs, unmountBpffs } from './bpffs.js';
import { type LoadedDatapath, loadDatapath } from './loader.js';

const execFileP = promisify(execFile);

export const IS_ROOT = process.getuid?.() === 0;
export const ROOT_REASON = 'needs root (bpf(2), bpffs mounts, netns): run as root, as CI does';

// --- podwall.h constants -----------------------------------------------------------------------------------------

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;
export const MARK_TO_PROXY = 0x80000000;
export const MARK_JUDGED = 0x40000000;
export const EP = { IN_ENFORCED: 1, EG_ENFORCED: 2, IN_DEFAULT_ALLOW: 4, EG_DEFAULT_ALLOW: 8, PEER: 0x10 } as const;
export const DIR = { ingress: 0, egress: 1 } as const;
export const LEVEL = { ip: 0, identity: 1, pods: 2, wildcard: 3 } as const;
export const VERDICT = { allow: 1, audit: 2, deny: 3, redirect: 4 } as const;
export const EV = { allow: 1, audit: 2, deny: 3, redirect: 4, denied: 5, noProxy: 6, dropped: 7 } as const;
export const EV_LEVEL = { ip: 0, identity: 1, pods: 2, wildcard: 3, default: 4, host: 5 } as const;
export const EV_FLAG_CUT = 1;
export const CT_PROXY = 1;
export const CT_DENIED = 2;

// --- encodings ---------------------------------------------------------------------------------------------------

export function ip4(s: string): Buffer {
  const b = Buffer.from(s.split('.').map(Number));
  if (b.length !== 4) throw new Error(`bad IPv4 ${s}`);
  return b;
}

export function ipString(b: Buffer, off = 0): string {
  return [...b.subarray(off, off + 4)].join('.');
}

// Map keys and values through the production encoders (layout.ts), in the shapes these tests write them.
export const ipcacheKey = (ip: string, prefixlen = 32) => encodeIpcacheKey({ prefixlen, ip: parseIpv4(ip) });
export const ipcacheVal = (identity: number) => encodeIpcacheVal({ identity });

export const endpointKey = (ip: string) => encodeEndpointKey({ ip: parseIpv4(ip) });
export function endpointVal(identity: number, ifindex: number, flags: number): Buffer {
  return encodeEndpointVal({ identity, ifindex, flags });
}

export interface PolicyKeyOpts {
  ep: string;
  dir: number;
  level: number;
  proto: number;
  /** ip level: an address; identity level: an identity; otherwise 0. */
  peer?: string | number;
  /** First port of the block (or ICMP type); ignored when `bits` is 16 (all ports). */
  port?: number;
  /** Host bits of the block: 0 = one port, k = 2^k ports, 16 = every port. */
  bits?: number;
}

export function policyKey(o: PolicyKeyOpts): Buffer {
  const bits = o.bits ?? 0;
  const peer = o.peer ?? 0;
  return encodePolicyKey({
    prefixlen: 96 + 16 - bits,
    epIp: parseIpv4(o.ep),
    dir: o.dir,
    level: o.level,
    proto: o.proto,
    peer: typeof peer === 'string' ? parseIpv4(peer) : peer,
    port: bits < 16 ? (o.port ?? 0) & ~((1 << bits) - 1) : 0,
  });
}
export const policyVal = (verdict: number) => encodePolicyVal({ verdict });

export const CONFIG_KEY = encodeConfigKey();
export const configVal = (generation: number, proxyPort = 0, flags = 0) =>
  encodeConfig({ generation, proxyPort, flags });

export interface Tuple {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
}

export function ctKey(t: Tuple): Buffer {
  return encodeCtKey({ ...t, saddr: parseIpv4(t.saddr), daddr: parseIpv4(t.daddr) });
}

export function ctVal(generation: number, flags: number): Buffer {
  return encodeCtVal({ generation, flags, createdNs: 1n });
}

export function decodeCt(v: Buffer): { generation: number; flags: number; createdNs: bigint } {
  return decodeCtVal(v);
}

export function svcKey(vip: string, vport: number, proto: number): Buffer {
  return encodeSvcKey({ vip: parseIpv4(vip), vport, proto });
}
export const svcVal = (svcId: number, count: number) => encodeSvcVal({ svcId, count });
export const backendKey = (svcId: number, slot: number) => encodeBackendKey({ svcId, slot });
export function backendVal(ip: string, port: number): Buffer {
  return encodeBackendVal({ ip: parseIpv4(ip), port });
}

/** A verdict record with its addresses as strings (what the assertions compare). */
export type PwEvent = Omit<LayoutEvent, 'saddr' | 'daddr' | 'tsNs'> & { saddr: string; daddr: string };

export function decodeEvent(r: Buffer): PwEvent & { tsNs: bigint } {
  const e = decodeLayoutEvent(r);
  return { ...e, saddr: formatIpv4(e.saddr), daddr: formatIpv4(e.daddr) };
}

// --- frames ------------------------------------------------------------------------------------------------------

export interface FrameOpts {
  src: string;
  dst: string;
  proto: number;
  sport?: number;
  dport?: number;
  /** TCP flags byte (default SYN). */
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** ICMP echo identifier. */
  icmpId?: number;
  /** ICMP error: the quoted packet (IP header + 8 bytes of its transport header). */
  inner?: FrameOpts;
  /** IPv4 flags/fragment offset field (host order), e.g. 0x2000 = more fragments. */
  fragOff?: number;
  /** IPv4 identification (default 0): what ties a datagram's fragments together. */
  ipId?: number;
  /** IPv4 TTL (default 64). */
  ttl?: number;
  ethertype?: number;
  /** Ethernet addresses (default source 02:00:00:00:00:01, destination 02:00:00:00:00:02). */
  ethSrc?: string;
  ethDst?: string;
}

export const SYN = 0x02;
export const ACK = 0x10;
export const SYNACK = 0x12;

function ipPacket(o: FrameOpts): Buffer {
  let l4: Buffer;
  if (o.proto === TCP) {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(o.sport ?? 0, 0);
    l4.writeUInt16BE(o.dport ?? 0, 2);
    l4[12] = 0x50;
    l4[13] = o.tcpFlags ?? SYN;
  } else if (o.proto === ICMP) {
    const quoted = o.inner ? ipPacket(o.inner).subarray(0, 28) : Buffer.alloc(0);
    l4 = Buffer.concat([Buffer.alloc(8), quoted]);
    l4[0] = o.icmpType ?? 8;
    l4[1] = o.icmpCode ?? 0;
    l4.writeUInt16BE(o.icmpId ?? 0, 4);
    l4.writeUInt16BE(1, 6);
  } else {
    l4 = Buffer.alloc(8);
    l4.writeUInt16BE(o.sport ?? 0, 0);
    l4.writeUInt16BE(o.dport ?? 0, 2);
    l4.writeUInt16BE(8, 4);
  }
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(o.ipId ?? 0, 4);
  ip.writeUInt16BE(o.fragOff ?? 0x4000, 6); // DF
  ip[8] = o.ttl ?? 64;
  ip[9] = o.proto;
  ip4(o.src).copy(ip, 12);
  ip4(o.dst).copy(ip, 16);
  ip.writeUInt16BE(ipv4HeaderChecksum(ip), 10);
  return Buffer.concat([ip, l4]);
}

/** The Internet checksum of an IPv4 header (its checksum field as it stands: 0 computes it, the right value
 * gives 0 — what a receiver verifies). */
export function ipv4HeaderChecksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet frame carrying one IPv4 packet (a valid IP header checksum; transport checksums are left 0: the
 * programs never check them). */
export function frame(o: FrameOpts): Buffer {
  const eth = Buffer.alloc(14);
  macBytes(o.ethDst ?? '02:00:00:00:00:02').copy(eth, 0);
  macBytes(o.ethSrc ?? '02:00:00:00:00:01').copy(eth, 6);
  eth.writeUInt16BE(o.ethertype ?? 0x0800, 12);
  return Buffer.concat([eth, ipPacket(o)]);
}

// --- a private bpffs and a loaded datapath -------------------------------------------------------------------------

export interface TestPin {
  /** The temp dir (/var/tmp/pw-*). */
  dir: string;
  /** The bpffs mount point inside it. */
  pinDir: string;
  cleanup(): Promise<void>;
}

export async function testPin(): Promise<TestPin> {
  const dir = mkdtempSync('/var/tmp/pw-');
  const pinDir = join(dir, 'bpf');
  await mountBpffs(pinDir);
  return {
    dir,
    pinDir,
    async cleanup() {
      await unmountBpffs(pinDir);
      rmdirSync(dir);
    },
  };
}

export interface TestDatapath extends TestPin {
  dp: LoadedDatapath;
}

export async function testDatapath(): Promise<TestDatapath> {
  const pin = await testPin();
  try {
    const dp = loadDatapath({ pinDir: pin.pinDir });
    return {
      ...pin,
      dp,
      async cleanup() {
        dp.close();
        await pin.cleanup();
      },
    };
  } catch (e) {
    await pin.cleanup();
    throw e;
  }
}

// --- network namespaces ------------------------------------------------------------------------------------------

export const randomId = (n = 3) => randomBytes(n).toString('hex');

export async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { timeout: 20_000 });
  return stdout;
}

export async function addNetns(name: string): Promise<() => Promise<void>> {
  if (!name.startsWith('pw-t')) throw new Error(`test netns must be named pw-t*: ${name}`);
  await sh('ip', ['netns', 'add', name]);
  return async () => {
    await sh('ip', ['netns', 'del', name]).catch(() => undefined);
  };
}

const CLONE_NEWNET = 0x40000000;
let setnsFn: ((fd: number, nstype: number) => number) | undefined;

/**
 * Runs `fn` (synchronously) with this thread inside network namespace `name`: bpf_link_create for tcx and
 * if_nametoindex resolve an ifindex in the caller's namespace. Only this thread moves; it moves back before
 * returning.
 */
export function inNetns<T>(name: string, fn: () => T): T {
  setnsFn ??= koffi.load('libc.so.6').func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${name}`, 'r');
  try {
    if (setnsFn(target, CLONE_NEWNET) !== 0) throw new Error(`setns(${name}) failed: errno ${koffi.errno()}`);
    let out: { value: T } | { error: unknown };
    try {
      out = { value: fn() };
    } catch (error) {
      out = { error };
    }
    if (setnsFn(home, CLONE_NEWNET) !== 0) throw new Error(`setns(back) failed: errno ${koffi.errno()}`);
    if ('error' in out) throw out.error;
    return out.value;
  } finally {
    closeSync(target);
    closeSync(home);
  }
}
