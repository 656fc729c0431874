/**
 * The file hand-off between the agent and the coredns image program: the agent writes a JSON `DnsSnapshot`
 * atomically (temp file + rename); the program watches the file and reloads its in-memory records.
 */
import { type FSWatcher, unwatchFile, watch, watchFile } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { checkSnapshot, type DnsSnapshot, type InMemoryDnsRecords } from './records.js';

export async function writeDnsSnapshot(path: string, snap: DnsSnapshot): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(snap)}\n`, { mode: 0o644 });
  await rename(tmp, path);
}

export async function readDnsSnapshot(
  path: string,
): Promise<{ ok: true; value: DnsSnapshot } | { ok: false; message: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { ok: false, message: `cannot read ${path}: ${(e as Error).message}` };
  }
  try {
    return checkSnapshot(JSON.parse(text));
  } catch (e) {
    return { ok: false, message: `invalid JSON in ${path}: ${(e as Error).message}` };
  }
}

export interface SnapshotWatch {
  /** Resolves after the first load attempt. */
  ready: Promise<void>;
  close(): void;
}

/**
 * Loads `path` into `records` now and on every change (directory watch for speed, stat polling as a fallback
 * for filesystems without inotify). A bad file keeps the previous records and is reported through `onError`.
 */
export function watchDnsSnapshot(
  path: string,
  records: InMemoryDnsRecords,
  hooks: { onLoad?: (s: DnsSnapshot) => void; onError?: (msg: string) => void; pollMs?: number } = {},
): SnapshotWatch {
  let last = '';
  let closed = false;
  let pending: Promise<void> = Promise.resolve();
  const load = () => {
    pending = pending.then(async () => {
      if (closed) return;
      let sig: string;
      try {
        const st = await stat(path);
        sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch (e) {
        hooks.onError?.(`cannot stat ${path}: ${(e as Error).message}`);
        return;
      }
      if (sig === last) return;
      const r = await readDnsSnapshot(path);
      if (!r.ok) {
        hooks.onError?.(r.message);
        return;
      }
      last = sig;
      records.loadSnapshot(r.value);
      hooks.onLoad?.(r.value);
    });
    return pending;
  };
  let dirWatch: FSWatcher | undefined;
  try {
    dirWatch = watch(dirname(path), (_ev, name) => {
      if (name === null || name === basename(path)) void load();
    });
    dirWatch.on('error', () => {});
  } catch {
    dirWatch = undefined;
  }
  const poll = () => void load();
  watchFile(path, { interval: hooks.pollMs ?? 1000 }, poll);
  return {
    ready: load(),
    close() {
      closed = true;
      dirWatch?.close();
      unwatchFile(path, poll);
    },
  };
}
