/** Socket writes that coalesce: small pieces are copied into one buffer, larger ones go out as one writev. */
import type net from 'node:net';

/** Below this total, one copy is cheaper than a writev of several buffers. */
const COALESCE_MAX = 16 * 1024;

/** Write all parts; returns false when the socket's buffer is full (wait for 'drain'). */
export function writeParts(s: net.Socket, parts: readonly Buffer[]): boolean {
  const n = parts.length;
  if (n === 0) return true;
  if (n === 1) return s.write(parts[0]!);
  let total = 0;
  for (let i = 0; i < n; i++) total += parts[i]!.length;
  if (total <= COALESCE_MAX) return s.write(Buffer.concat(parts as Buffer[], total));
  s.cork();
  let ok = true;
  for (let i = 0; i < n; i++) ok = s.write(parts[i]!);
  s.uncork();
  return ok;
}
