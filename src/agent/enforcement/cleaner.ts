/**
 * What enforcement leaves on the host, recorded before it is created, and removed exactly by `podwall down` (a
 * HOST_CLEANER) after a crash: the nft table (nftables datapath) or the bpffs holding the eBPF datapath's pinned
 * maps and attachments (unmounting it releases them: the programs detach), and the TPROXY ip rule / local route. The record lives in
 * $PODWALL_HOME/enforcement/datapath.json; nothing is removed by pattern, only the objects named in it, and only when
 * their names carry the podwall prefix. Kept free of heavy imports: `podwall down` loads it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DatapathRecord {
  /** nftables datapath: its table (family inet). */
  table?: string;
  /** eBPF datapath: the bpffs mount point (inside $PODWALL_HOME). */
  bpffs?: string;
  tproxy: { mark: number; table: number; pref: number };
}

export function recordPath(home: string): string {
  return join(home, 'enforcement', 'datapath.json');
}

export function writeDatapathRecord(home: string, rec: DatapathRecord): void {
  mkdirSync(join(home, 'enforcement'), { recursive: true, mode: 0o700 });
  writeFileSync(recordPath(home), `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
}

export function readDatapathRecord(home: string): DatapathRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(home), 'utf8')) as DatapathRecord;
  } catch {
    return undefined;
  }
}

export function removeDatapathRecord(home: string): void {
  rmSync(recordPath(home), { force: true });
}

async function quiet(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout } = await run(cmd, args);
    return { ok: true, out: stdout };
  } catch {
    return { ok: false, out: '' };
  }
}

/** Mount points and their filesystem types, from /proc/mounts (podwall's own paths carry no escaped characters). */
function mounts(): { dir: string; type: string }[] {
  try {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f.length >= 3)
      .map((f) => ({ dir: f[1]!, type: f[2]! }));
  } catch {
    return [];
  }
}

/** Whether `dir` is a bpffs mount point (only such a mount is unmounted: never whatever else sits there). */
function isBpffsMount(dir: string): boolean {
  return mounts().some((m) => m.dir === dir && m.type === 'bpf');
}

/** Whether anything is mounted at `dir` or below it (`down --purge` leaves such a directory where it is). */
export function hasMountUnder(dir: string): boolean {
  return mounts().some((m) => m.dir === dir || m.dir.startsWith(`${dir}/`));
}

/** Removes the recorded table, rule and route (whichever still exist). Returns what it removed. */
export async function cleanDatapath(home: string): Promise<string[]> {
  const rec = readDatapathRecord(home);
  if (!rec) return [];
  const done: string[] = [];
  if (rec.bpffs && isBpffsMount(rec.bpffs) && (await quiet('umount', [rec.bpffs])).ok) {
    done.push(`unmounted bpffs ${rec.bpffs} (eBPF programs detached)`);
    try {
      rmdirSync(rec.bpffs);
    } catch {
      // Not empty or already gone: it is inside $PODWALL_HOME, removed with it.
    }
  }
  if (rec.table && /^(podwall|pw-)[A-Za-z0-9_-]*$/.test(rec.table)) {
    const tables = await quiet('nft', ['list', 'tables', 'inet']);
    if (tables.out.split('\n').some((l) => l.trim() === `table inet ${rec.table}`)) {
      if ((await quiet('nft', ['delete', 'table', 'inet', rec.table])).ok)
        done.push(`removed nft table inet ${rec.table}`);
    }
  }
  const { mark, table, pref } = rec.tproxy;
  const m = `0x${mark.toString(16)}`;
  const rules = await quiet('ip', ['-j', '-4', 'rule', 'show', 'pref', String(pref)]);
  const ours = (JSON.parse(rules.out || '[]') as { table?: string; fwmark?: string }[]).some(
    (r) => r.table === String(table) && Number(r.fwmark) === mark,
  );
  if (
    ours &&
    (await quiet('ip', ['-4', 'rule', 'del', 'pref', String(pref), 'fwmark', `${m}/${m}`, 'lookup', String(table)])).ok
  )
    done.push(`removed ip rule pref ${pref} fwmark ${m} lookup ${table}`);
  if ((await quiet('ip', ['-4', 'route', 'del', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', String(table)])).ok)
    done.push(`removed route local 0.0.0.0/0 dev lo table ${table}`);
  removeDatapathRecord(home);
  return done;
}

export const ENFORCEMENT_CLEANER = { name: 'enforcement datapath', clean: cleanDatapath };
