/**
 * How every process enters a pod: `ip netns exec <netns> [setpriv ...] argv...`. `ip netns exec` switches the
 * network namespace, remounts /sys and bind-mounts `/etc/netns/<netns>/*` (the pod's resolv.conf and hosts) over
 * /etc in a private mount namespace, then execs, so the pid we get is the container's own process.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_PATH, lookPath } from './container.js';

let ipPath: string | undefined;

/** Absolute path of `ip` (spawn looks commands up in the child's PATH, which is the container's). */
export function ipBinary(): string {
  ipPath ??= lookPath('ip', `${process.env.PATH ?? ''}:${DEFAULT_PATH}`) ?? '/usr/sbin/ip';
  return ipPath;
}

export function nsArgv(netns: string, argv: readonly string[], runAs?: { uid?: number; gid?: number }): string[] {
  const priv =
    runAs?.uid !== undefined
      ? ['setpriv', `--reuid=${runAs.uid}`, `--regid=${runAs.gid ?? runAs.uid}`, '--clear-groups', '--']
      : [];
  return ['netns', 'exec', netns, ...priv, ...argv];
}

/** Start time of a pid (field 22 of /proc/<pid>/stat), or undefined when the process is gone. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and is the same process that was recorded with `start`. */
export function isSameProcess(pid: number, start: string | undefined): boolean {
  const now = procStartTime(pid);
  if (now === undefined) return false;
  if (start !== undefined && now !== start) return false;
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
