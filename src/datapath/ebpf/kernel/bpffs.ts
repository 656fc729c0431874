/**
 * podwall's own bpffs instance. Pinned maps and links live in a directory the agent owns (`<stateDir>/bpf`), never in
 * the host's /sys/fs/bpf: every `mount -t bpf` is a separate instance, so unmounting ours releases exactly what
 * podwall pinned (maps, and the links that keep the programs attached) and nothing else.
 */
import { readFileSync } from 'node:fs';
import { mkdir, realpath, rmdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BpfError } from './errors.js';
import { lastErrno, libc } from './native.js';

/** Source name shown in /proc/mounts; the pw- prefix marks it as podwall's. */
const SOURCE = 'pw-bpffs';
const EINVAL = 22;
const ENOENT = 2;

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Mount points of a filesystem type, from /proc/self/mounts. */
export function mountPointsOf(fstype: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length >= 3 && f[2] === fstype) out.push(unescapeMount(f[1]!));
  }
  return out;
}

async function canonical(dir: string): Promise<string> {
  try {
    return await realpath(dir);
  } catch {
    return resolve(dir);
  }
}

/** True when a bpffs is mounted exactly at `dir` (not merely somewhere above it). */
export async function isBpffsMount(dir: string): Promise<boolean> {
  const d = await canonical(dir);
  return mountPointsOf('bpf').includes(d);
}

export async function mountBpffs(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (await isBpffsMount(dir)) return;
  const target = await canonical(dir);
  if (libc().mount(SOURCE, target, 'bpf', 0n, 'mode=0700') !== 0)
    throw new BpfError(`mount(${SOURCE}, ${target}, bpf)`, lastErrno());
}

export async function unmountBpffs(dir: string): Promise<void> {
  const target = await canonical(dir);
  // Mounted twice over (two agents raced)? Unmount until nothing of type bpf is left there.
  for (let i = 0; i < 8 && (await isBpffsMount(target)); i++) {
    if (libc().umount2(target, 0) !== 0) {
      const errno = lastErrno();
      if (errno === EINVAL || errno === ENOENT) break; // not (or no longer) a mount point
      throw new BpfError(`umount(${target})`, errno);
    }
  }
  try {
    await rmdir(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
