/**
 * IP_TRANSPARENT on a listening socket (recipe Q4 option B), through koffi → libc setsockopt. Required for a
 * TPROXY target: the socket accepts connections addressed to non-local IPs, and accepted sockets inherit the
 * flag, so `socket.localAddress:localPort` is the original destination. Needs root / CAP_NET_ADMIN.
 */
import type { Server } from 'node:net';
import koffi from 'koffi';

const SOL_IP = 0;
const IP_TRANSPARENT = 19;

type SetSockOpt = (fd: number, level: number, name: number, value: Buffer, len: number) => number;
let setsockopt: SetSockOpt | undefined;

function libc(): SetSockOpt {
  if (!setsockopt) {
    const l = koffi.load('libc.so.6');
    setsockopt = l.func(
      'int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)',
    ) as SetSockOpt;
  }
  return setsockopt;
}

/** The OS fd of a listening net.Server (private Node API `_handle.fd`, fine on Linux). */
export function serverFd(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('server has no fd (not listening?)');
  return fd;
}

export function setIpTransparent(fd: number): void {
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  const rc = libc()(fd, SOL_IP, IP_TRANSPARENT, one, 4);
  if (rc !== 0) throw new Error('setsockopt(IP_TRANSPARENT) failed (needs CAP_NET_ADMIN)');
}
