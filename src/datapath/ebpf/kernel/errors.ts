/**
 * Errors of the kernel edge: every failure names the call that failed, the errno and its text, e.g.
 * `bpf_map_update_elem(policy): E2BIG (Argument list too long)` — never a bare -1.
 */
import { constants } from 'node:os';
import { libc } from './native.js';

/** errno → name, preferring the names the kernel's own headers use for aliases (EAGAIN, not EWOULDBLOCK). */
const NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!NAMES.has(n)) NAMES.set(n, name);
for (const name of ['EAGAIN', 'EDEADLK', 'EOPNOTSUPP'] as const) NAMES.set(constants.errno[name], name);
/** Kernel-internal codes the bpf syscall leaks to user space (include/linux/errno.h). */
const KERNEL_ONLY: Record<number, [string, string]> = {
  512: ['ERESTARTSYS', 'Restart system call'],
  524: ['ENOTSUPP', 'Operation is not supported'],
};

export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? KERNEL_ONLY[errno]?.[0] ?? `errno ${errno}`;
}

export function errnoText(errno: number): string {
  return KERNEL_ONLY[errno]?.[1] ?? libc().strerror(errno);
}

export class BpfError extends Error {
  constructor(
    /** The failing call as written in the message, e.g. `bpf_map_update_elem(policy)`. */
    readonly call: string,
    /** Positive errno. */
    readonly errno: number,
    detail?: string,
  ) {
    super(`${call}: ${errnoName(errno)} (${errnoText(errno)})${detail ? `\n${detail}` : ''}`);
    this.name = 'BpfError';
  }

  /** The errno name (`ENOENT`), as Node's errors carry it. */
  get code(): string {
    return errnoName(this.errno);
  }
}

/** libbpf 1.x returns -errno; anything else negative is passed through as its absolute value. */
export function check(call: string, rc: number, detail?: string): number {
  if (rc < 0) throw new BpfError(call, -rc, detail);
  return rc;
}
