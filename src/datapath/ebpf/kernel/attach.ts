/**
 * Attachments as pinned bpf links under `<pinDir>/links`: they outlive the agent process (if it dies the programs
 * stay attached: fail closed), and a restarted agent swaps the program of an existing link atomically
 * (bpf_link_update) instead of detaching and attaching again (no window without policy).
 *
 * tc: tcx links (kernel ≥ 6.6) — no qdisc, nothing to clean up but the link. libbpf 1.1 does not know the tcx
 * attach types, but its bpf_link_create passes unknown types straight to the kernel, which is all tcx needs.
 * cgroup: BPF_LINK_CREATE on the cgroup v2 directory.
 */
import { closeSync, existsSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { mountPointsOf } from './bpffs.js';
import { BpfError, check } from './errors.js';
import type { ProgName } from './loader.js';
import { closeFd, libbpf, libc } from './native.js';

const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;
const CGROUP_ATTACH: Partial<Record<ProgName, number>> = {
  sock_connect4: 10, // BPF_CGROUP_INET4_CONNECT
  sock_sendmsg4: 14, // BPF_CGROUP_UDP4_SENDMSG
  sock_recvmsg4: 19, // BPF_CGROUP_UDP4_RECVMSG
  sock_getpeername4: 29, // BPF_CGROUP_INET4_GETPEERNAME
};

const ENOENT = 2;
const ENODEV = 19;
const EINVAL = 22;
const ENOLINK = 67;

/** struct bpf_link_info: type, id, prog_id, then (8-aligned) the per-type union; cgroup: { u64 cgroup_id; ... }. */
const LINK_INFO_SIZE = 48;
const BPF_LINK_TYPE_CGROUP = 3;
const OFF_CGROUP_ID = 16;

function linksDir(pinDir: string): string {
  const d = join(pinDir, 'links');
  mkdirSync(d, { recursive: true });
  return d;
}

function tcLinkPath(pinDir: string, ifindex: number, dir: 'ingress' | 'egress'): string {
  return join(pinDir, 'links', `tcx-${ifindex}-${dir}`);
}

function cgroupLinkPath(pinDir: string, prog: ProgName): string {
  return join(pinDir, 'links', `cgroup-${prog}`);
}

export function ifindexOf(ifname: string): number {
  return libc().if_nametoindex(ifname);
}

/** Mount point of the cgroup v2 hierarchy (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a hybrid host). */
export function cgroupV2Root(): string | undefined {
  return mountPointsOf('cgroup2')[0];
}

/** Opens a pinned link; undefined when nothing is pinned there. */
function openPinned(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const fd = libbpf().bpf_obj_get(path);
  if (fd === -ENOENT) return undefined;
  return check(`bpf_obj_get(${path})`, fd);
}

/**
 * Replaces the program of the link pinned at `path`. True when done; false when there is no usable link there
 * (none pinned, or its target — interface, cgroup — is gone: the kernel says ENOLINK), after removing the stale pin.
 */
function updatePinned(path: string, progFd: number, sameTarget: (linkFd: number) => boolean = () => true): boolean {
  const fd = openPinned(path);
  if (fd === undefined) return false;
  try {
    if (sameTarget(fd)) {
      const rc = libbpf().bpf_link_update(fd, progFd, null);
      if (rc === 0) return true;
      if (rc !== -ENOLINK) throw new BpfError(`bpf_link_update(${path})`, -rc);
    }
    // Attached elsewhere, or defunct: detach it (a no-op for a defunct link) and start over.
    libbpf().bpf_link_detach(fd);
    unlinkSync(path);
    return false;
  } finally {
    closeFd(fd);
  }
}

function createPinned(path: string, call: string, progFd: number, targetFd: number, attachType: number): void {
  const fd = check(call, libbpf().bpf_link_create(progFd, targetFd, attachType, null));
  try {
    check(`bpf_obj_pin(${path})`, libbpf().bpf_obj_pin(fd, path));
  } catch (e) {
    libbpf().bpf_link_detach(fd);
    throw e;
  } finally {
    closeFd(fd);
  }
}

/** Detaches the link pinned at `path` (if any) and removes the pin. Idempotent. */
function removePinned(path: string): void {
  const fd = openPinned(path);
  if (fd === undefined) return;
  let rc: number;
  try {
    rc = libbpf().bpf_link_detach(fd);
  } finally {
    closeFd(fd);
  }
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // ENOLINK/ENODEV: already detached (its interface or cgroup went away); EINVAL: a link type without detach.
  if (rc < 0 && rc !== -ENOLINK && rc !== -ENODEV && rc !== -EINVAL)
    throw new BpfError(`bpf_link_detach(${path})`, -rc);
}

export function attachTc(pinDir: string, ifindex: number, dir: 'ingress' | 'egress', progFd: number): void {
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw new Error(`attachTc: invalid ifindex ${ifindex}`);
  linksDir(pinDir);
  const path = tcLinkPath(pinDir, ifindex, dir);
  if (updatePinned(path, progFd)) return;
  const type = dir === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
  createPinned(path, `bpf_link_create(tcx ${dir}, ifindex ${ifindex})`, progFd, ifindex, type);
}

export function detachTc(pinDir: string, ifindex: number, dir: 'ingress' | 'egress'): void {
  removePinned(tcLinkPath(pinDir, ifindex, dir));
}

/** cgroup v2 id of a directory: its inode number. */
function cgroupId(path: string): bigint {
  return statSync(path, { bigint: true }).ino;
}

function linkCgroupId(linkFd: number): bigint | undefined {
  const info = Buffer.alloc(LINK_INFO_SIZE);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(LINK_INFO_SIZE);
  if (libbpf().bpf_obj_get_info_by_fd(linkFd, info, len) < 0) return undefined;
  if (info.readUInt32LE(0) !== BPF_LINK_TYPE_CGROUP) return undefined;
  return info.readBigUInt64LE(OFF_CGROUP_ID);
}

export function attachCgroup(pinDir: string, cgroupPath: string, prog: ProgName, progFd: number): void {
  const type = CGROUP_ATTACH[prog];
  if (type === undefined) throw new Error(`attachCgroup: ${prog} is not a cgroup program`);
  linksDir(pinDir);
  const path = cgroupLinkPath(pinDir, prog);
  const id = cgroupId(cgroupPath);
  // A link pinned for another cgroup is replaced, not silently kept.
  if (updatePinned(path, progFd, (fd) => linkCgroupId(fd) === id)) return;
  let cgFd: number;
  try {
    cgFd = openSync(cgroupPath, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new BpfError(`open(${cgroupPath})`, Math.abs(err.errno ?? ENOENT));
  }
  try {
    createPinned(path, `bpf_link_create(${prog}, ${cgroupPath})`, progFd, cgFd, type);
  } finally {
    closeSync(cgFd);
  }
}

export function detachCgroup(pinDir: string, prog: ProgName): void {
  removePinned(cgroupLinkPath(pinDir, prog));
}
