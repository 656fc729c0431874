/**
 * Reads an nftables `log group N` (NFLOG) in-process: a NETLINK_NETFILTER socket opened through koffi → libc,
 * bound to the group with NFULNL_MSG_CONFIG (NFULNL_CFG_CMD_BIND), copy-packet mode (the first `copyRange` bytes
 * of each packet), and a queue threshold of 1 so the kernel sends every packet at once instead of batching for
 * up to a second (its default). Datagrams are read with `fs.read` on the socket fd — a blocking read on one libuv
 * pool thread, with SO_RCVTIMEO so the loop notices `close()` — and decoded here: NFULA_PREFIX, NFULA_MARK,
 * NFULA_PAYLOAD (the IP packet), NFULA_TIMESTAMP, in/out interface indexes.
 *
 * Why not `nft monitor trace` or ulogd: trace output is text meant for humans, one process per reader and far too
 * slow under load; ulogd is not installed. The netlink wire format is small and stable (linux/netfilter/nfnetlink_log.h).
 *
 * Needs CAP_NET_ADMIN. Only one socket may bind a group; a second bind fails with EBUSY.
 */
import { read } from 'node:fs';
import koffi from 'koffi';

// netlink / nfnetlink_log constants (linux/netlink.h, linux/netfilter/nfnetlink.h, nfnetlink_log.h)
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_NO_ENOBUFS = 5;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NFNL_SUBSYS_ULOG = 4;
const NFULNL_MSG_PACKET = 0;
const NFULNL_MSG_CONFIG = 1;
const NFULA_CFG_CMD = 1;
const NFULA_CFG_MODE = 2;
const NFULA_CFG_NLBUFSIZ = 3;
const NFULA_CFG_TIMEOUT = 4;
const NFULA_CFG_QTHRESH = 5;
const NFULNL_CFG_CMD_BIND = 1;
const NFULNL_CFG_CMD_UNBIND = 2;
const NFULNL_COPY_PACKET = 2;
export const NFULA = {
  PACKET_HDR: 1,
  MARK: 2,
  TIMESTAMP: 3,
  IFINDEX_INDEV: 4,
  IFINDEX_OUTDEV: 5,
  PAYLOAD: 9,
  PREFIX: 10,
} as const;

/** One logged packet. */
export interface NflogPacket {
  group: number;
  prefix: string;
  /** `meta mark` when the packet was logged (podwall: the peer identity). */
  mark: number;
  /** The packet from its IP header, at most `copyRange` bytes. */
  payload: Uint8Array;
  /** Kernel timestamp when the skb carried one, else the time it was read. */
  time: Date;
  indev?: number;
  outdev?: number;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function attr(type: number, payload: Uint8Array): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  Buffer.from(payload).copy(b, 4);
  return b;
}

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** An NFULNL_MSG_CONFIG request for `group` with the given attributes (NLM_F_ACK: the kernel confirms). */
export function configMessage(group: number, attrs: Buffer[], seq: number): Buffer {
  const body = Buffer.concat([
    Buffer.from([0 /* AF_UNSPEC */, 0 /* NFNETLINK_V0 */, (group >> 8) & 0xff, group & 0xff]),
    ...attrs,
  ]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, 4);
  h.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, body]);
}

export function bindMessages(group: number, copyRange: number): Buffer[] {
  const mode = Buffer.alloc(6);
  mode.writeUInt32BE(copyRange, 0);
  mode[4] = NFULNL_COPY_PACKET;
  return [
    configMessage(group, [attr(NFULA_CFG_CMD, Buffer.from([NFULNL_CFG_CMD_BIND]))], 1),
    configMessage(
      group,
      [
        attr(NFULA_CFG_MODE, mode),
        attr(NFULA_CFG_QTHRESH, be32(1)),
        attr(NFULA_CFG_TIMEOUT, be32(1)),
        attr(NFULA_CFG_NLBUFSIZ, be32(65536)),
      ],
      2,
    ),
  ];
}

export type NetlinkItem = { kind: 'packet'; packet: NflogPacket } | { kind: 'ack'; seq: number; error: number };

/** Decode every netlink message in one datagram. Unknown messages are skipped; malformed lengths end the walk. */
export function decodeDatagram(buf: Uint8Array, now: () => Date = () => new Date()): NetlinkItem[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NetlinkItem[] = [];
  let off = 0;
  while (off + 16 <= b.length) {
    const len = b.readUInt32LE(off);
    if (len < 16 || off + len > b.length) break;
    const type = b.readUInt16LE(off + 4);
    const seq = b.readUInt32LE(off + 8);
    if (type === NLMSG_ERROR && len >= 20) out.push({ kind: 'ack', seq, error: -b.readInt32LE(off + 16) });
    else if (type === ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) && len >= 20) {
      const group = b.readUInt16BE(off + 18);
      const p: NflogPacket = { group, prefix: '', mark: 0, payload: new Uint8Array(0), time: now() };
      let a = off + 20;
      const end = off + len;
      while (a + 4 <= end) {
        const alen = b.readUInt16LE(a);
        const atype = b.readUInt16LE(a + 2) & 0x3fff;
        if (alen < 4 || a + alen > end) break;
        const v = b.subarray(a + 4, a + alen);
        switch (atype) {
          case NFULA.PREFIX: {
            const nul = v.indexOf(0);
            p.prefix = v.subarray(0, nul < 0 ? v.length : nul).toString('latin1');
            break;
          }
          case NFULA.MARK:
            if (v.length >= 4) p.mark = v.readUInt32BE(0);
            break;
          case NFULA.PAYLOAD:
            p.payload = Uint8Array.from(v);
            break;
          case NFULA.TIMESTAMP:
            if (v.length >= 16) {
              const sec = Number(v.readBigUInt64BE(0));
              const usec = Number(v.readBigUInt64BE(8));
              if (sec > 0) p.time = new Date(sec * 1000 + Math.floor(usec / 1000));
            }
            break;
          case NFULA.IFINDEX_INDEV:
            if (v.length >= 4) p.indev = v.readUInt32BE(0);
            break;
          case NFULA.IFINDEX_OUTDEV:
            if (v.length >= 4) p.outdev = v.readUInt32BE(0);
            break;
        }
        a += align4(alen);
      }
      out.push({ kind: 'packet', packet: p });
    } else if (type === NLMSG_DONE) break;
    off += align4(len);
  }
  return out;
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  close(fd: number): number;
}

let libc: Libc | undefined;
function loadLibc(): Libc {
  if (!libc) {
    const l = koffi.load('libc.so.6');
    libc = {
      socket: l.func('int socket(int domain, int type, int protocol)'),
      bind: l.func('int bind(int fd, const void *addr, uint32_t len)'),
      send: l.func('intptr_t send(int fd, const void *buf, uintptr_t len, int flags)'),
      setsockopt: l.func('int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)'),
      close: l.func('int close(int fd)'),
    } as Libc;
  }
  return libc;
}

export interface NflogOptions {
  group: number;
  /** Bytes of each packet to copy (IP + L4 headers need < 100). Default 128. */
  copyRange?: number;
  onPacket(p: NflogPacket): void;
  onError?(e: Error): void;
}

export interface NflogReader {
  readonly group: number;
  /** Packets read so far. */
  readonly received: number;
  close(): Promise<void>;
}

function readOnce(fd: number, buf: Buffer): Promise<{ n: number; err?: NodeJS.ErrnoException }> {
  return new Promise((resolve) =>
    read(fd, buf, 0, buf.length, null, (err, n) => resolve({ n, err: err ?? undefined })),
  );
}

/** Opens the socket, binds the group (resolves once the kernel acknowledged both config messages) and starts reading. */
export async function openNflog(opts: NflogOptions): Promise<NflogReader> {
  const c = loadLibc();
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) throw new Error(`nflog: socket(AF_NETLINK, NETLINK_NETFILTER) failed (errno ${koffi.errno()})`);
  let closed = false;
  const fail = (what: string): never => {
    const e = koffi.errno();
    closed = true;
    c.close(fd);
    throw new Error(`nflog group ${opts.group}: ${what} failed (errno ${e})`);
  };
  const sa = Buffer.alloc(12);
  sa.writeUInt16LE(AF_NETLINK, 0);
  if (c.bind(fd, sa, sa.length) !== 0) fail('bind');
  const int = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v, 0);
    return b;
  };
  c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int(4 << 20), 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, int(1), 4);
  const tv = Buffer.alloc(16);
  tv.writeBigInt64LE(0n, 0);
  tv.writeBigInt64LE(200_000n, 8);
  if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) !== 0) fail('setsockopt(SO_RCVTIMEO)');

  const buf = Buffer.alloc(256 * 1024);
  const msgs = bindMessages(opts.group, opts.copyRange ?? 128);
  const pending: NflogPacket[] = [];
  for (const m of msgs) {
    if (c.send(fd, m, m.length, 0) !== m.length) fail('send config');
  }
  // Wait for the two acks (packets that already arrive are kept).
  const acked = new Set<number>();
  const deadline = Date.now() + 2000;
  while (acked.size < msgs.length) {
    if (Date.now() > deadline) fail('waiting for the config ack');
    const { n, err } = await readOnce(fd, buf);
    if (err) {
      if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK') continue;
      fail(`read (${err.code})`);
    }
    for (const it of decodeDatagram(buf.subarray(0, n))) {
      if (it.kind === 'packet') pending.push(it.packet);
      else if (it.seq === 1 || it.seq === 2) {
        if (it.error !== 0) {
          closed = true;
          c.close(fd);
          throw new Error(
            `nflog group ${opts.group}: bind refused (errno ${it.error}${it.error === 16 ? ': another process listens on this group' : ''})`,
          );
        }
        acked.add(it.seq);
      }
    }
  }

  let received = 0;
  const deliver = (p: NflogPacket) => {
    received++;
    try {
      opts.onPacket(p);
    } catch (e) {
      opts.onError?.(e as Error);
    }
  };
  for (const p of pending) deliver(p);
  const loop = (async () => {
    while (!closed) {
      const { n, err } = await readOnce(fd, buf);
      if (closed) break;
      if (err) {
        if (err.code !== 'EAGAIN' && err.code !== 'EWOULDBLOCK' && err.code !== 'ENOBUFS' && err.code !== 'EINTR') {
          opts.onError?.(new Error(`nflog read: ${err.code}`));
          await new Promise((r) => setTimeout(r, 100));
        }
        continue;
      }
      for (const it of decodeDatagram(buf.subarray(0, n))) if (it.kind === 'packet') deliver(it.packet);
    }
  })();

  return {
    group: opts.group,
    get received() {
      return received;
    },
    async close() {
      if (closed) return;
      closed = true;
      // The pending read returns within SO_RCVTIMEO; only then is the fd closed (never under a reader).
      await loop;
      const unbind = configMessage(opts.group, [attr(NFULA_CFG_CMD, Buffer.from([NFULNL_CFG_CMD_UNBIND]))], 3);
      c.send(fd, unbind, unbind.length, 0);
      c.close(fd);
    },
  };
}
