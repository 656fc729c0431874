/**
 * Container logs: each container instance writes stdout and stderr straight into
 * `$PODWALL_HOME/logs/pods/<ns>_<pod>_<uid>/<container>/<restartCount>.log` (the kubelet's layout), so logs survive
 * a daemon restart and `--previous` reads the file of the instance before. Reading supports tail and follow.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

export function podLogDir(home: string, namespace: string, name: string, uid: string): string {
  return join(home, 'logs', 'pods', `${namespace}_${name}_${uid}`);
}

export function containerLogPath(podDir: string, container: string, restartCount: number): string {
  return join(podDir, container, `${restartCount}.log`);
}

/** Byte offset where the last `n` lines of the file start. */
export async function tailOffset(path: string, n: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (n <= 0) return size;
    let pos = size;
    let newlines = 0;
    const chunk = Buffer.alloc(64 * 1024);
    // A trailing newline ends the last line; it does not start a new one.
    let skipTrailing = true;
    while (pos > 0) {
      const len = Math.min(chunk.length, pos);
      pos -= len;
      await fh.read(chunk, 0, len, pos);
      for (let i = len - 1; i >= 0; i--) {
        if (chunk[i] !== 0x0a) {
          skipTrailing = false;
          continue;
        }
        if (skipTrailing) {
          skipTrailing = false;
          continue;
        }
        newlines++;
        if (newlines === n) return pos + i + 1;
      }
    }
    return 0;
  } finally {
    await fh.close();
  }
}

export interface FollowOptions {
  start: number;
  /** Polled; when it returns true (the instance exited) the stream ends after draining the file. */
  isDone: () => boolean;
  pollMs?: number;
}

/** A Readable over `path` from `start`; with follow it keeps reading as the file grows until `isDone()`. */
export function readLog(path: string, start: number, follow?: FollowOptions): Readable {
  if (!follow) return createReadStream(path, { start });
  let pos = start;
  let timer: NodeJS.Timeout | undefined;
  let reading = false;
  const pollMs = follow.pollMs ?? 200;
  const stream = new Readable({
    read() {
      if (!timer && !reading) void pump();
    },
    destroy(err, cb) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      cb(err);
    },
  });
  const pump = async (): Promise<void> => {
    timer = undefined;
    if (stream.destroyed) return;
    reading = true;
    const done = follow.isDone();
    try {
      const size = (await stat(path)).size;
      if (size > pos) {
        const fh = await open(path, 'r');
        try {
          const buf = Buffer.alloc(Math.min(size - pos, 1 << 20));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          pos += bytesRead;
          reading = false;
          if (stream.push(buf.subarray(0, bytesRead))) timer = setTimeout(pump, 0);
          return;
        } finally {
          await fh.close();
        }
      }
    } catch {}
    reading = false;
    if (done) {
      stream.push(null);
      return;
    }
    timer = setTimeout(pump, pollMs);
  };
  return stream;
}
