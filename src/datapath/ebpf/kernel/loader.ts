/**
 * Loads dist/bpf/podwall.bpf.o through libbpf: maps are pinned by name in `pinDir` (libbpf's pin_root_path), so a
 * second load — a restarted agent — reuses the pinned maps and their contents (the connection table survives).
 * Loading never attaches anything (attach.ts does) and closing never detaches or unpins.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAP_NAMES, type MapName } from '../layout.js';
import { BpfError, check } from './errors.js';
import { BpfMap } from './maps.js';
import { lastErrno, libbpf, NativeBuffer, type Ptr } from './native.js';

export type ProgName =
  | 'from_pod'
  | 'to_pod'
  | 'sock_connect4'
  | 'sock_sendmsg4'
  | 'sock_recvmsg4'
  | 'sock_getpeername4';

export const PROG_NAMES: readonly ProgName[] = [
  'from_pod',
  'to_pod',
  'sock_connect4',
  'sock_sendmsg4',
  'sock_recvmsg4',
  'sock_getpeername4',
];

export interface LoadedDatapath {
  maps: Record<MapName, BpfMap>;
  progFd(name: ProgName): number;
  /** Closes the fds and the bpf_object; never detaches or unpins. Idempotent. */
  close(): void;
}

/** The package root: the nearest directory above this module holding podwall's package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'podwall') return dir;
      } catch {
        // not ours; keep going up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`podwall package root not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** dist/bpf/podwall.bpf.o of this package (from src under vitest and from dist alike). */
export function bpfObjectPath(): string {
  return join(packageRoot(), 'dist', 'bpf', 'podwall.bpf.o');
}

/** struct bpf_object_open_opts of libbpf 1.1 (80 bytes; `sz` lets newer libbpf versions accept it too). */
const OPEN_OPTS_SIZE = 80;
const OFF_PIN_ROOT_PATH = 24;
const OFF_KERNEL_LOG_BUF = 56;
const OFF_KERNEL_LOG_SIZE = 64;
/** Verifier log kept for a failed load (libbpf fills it only when a program is rejected). */
const LOG_SIZE = 4 * 1024 * 1024;
const LOG_TAIL_LINES = 60;

function verifierTail(log: Buffer): string | undefined {
  const end = log.indexOf(0);
  const text = log
    .subarray(0, end < 0 ? log.length : end)
    .toString('utf8')
    .trimEnd();
  if (!text) return undefined;
  const lines = text.split('\n');
  const tail = lines.slice(-LOG_TAIL_LINES).join('\n');
  return lines.length > LOG_TAIL_LINES
    ? `verifier log (last ${LOG_TAIL_LINES} lines):\n${tail}`
    : `verifier log:\n${tail}`;
}

export function loadDatapath(opts: { pinDir: string; objectPath?: string }): LoadedDatapath {
  const path = opts.objectPath ?? bpfObjectPath();
  if (!existsSync(path)) throw new Error(`eBPF object ${path} not found (npm run build compiles it)`);
  if (!existsSync(opts.pinDir)) throw new Error(`pin directory ${opts.pinDir} does not exist (mountBpffs first)`);
  const bpf = libbpf();

  // Native memory for what the opts point at: libbpf reads the pin root during open and keeps the log pointer until
  // load, so neither may live in a Buffer the garbage collector could free in between.
  const pinRoot = NativeBuffer.from(opts.pinDir);
  const log = new NativeBuffer(LOG_SIZE);
  const openOpts = Buffer.alloc(OPEN_OPTS_SIZE);
  openOpts.writeBigUInt64LE(BigInt(OPEN_OPTS_SIZE), 0);
  openOpts.writeBigUInt64LE(pinRoot.ptr, OFF_PIN_ROOT_PATH);
  openOpts.writeBigUInt64LE(log.ptr, OFF_KERNEL_LOG_BUF);
  openOpts.writeBigUInt64LE(BigInt(LOG_SIZE), OFF_KERNEL_LOG_SIZE);

  let obj: Ptr = null;
  let closed = false;
  try {
    obj = bpf.bpf_object__open_file(path, openOpts);
    if (!obj) throw new BpfError(`bpf_object__open_file(${path})`, lastErrno() || 22);
    const rc = bpf.bpf_object__load(obj);
    if (rc < 0) throw new BpfError(`bpf_object__load(${path})`, -rc, verifierTail(log.bytes));

    const maps = {} as Record<MapName, BpfMap>;
    for (const name of MAP_NAMES) {
      const m = bpf.bpf_object__find_map_by_name(obj, name);
      if (!m) throw new Error(`map ${name} not found in ${path}`);
      const fd = check(`bpf_map__fd(${name})`, bpf.bpf_map__fd(m));
      maps[name] = new BpfMap(name, fd, bpf.bpf_map__key_size(m), bpf.bpf_map__value_size(m));
    }
    const progs = new Map<ProgName, number>();
    for (const name of PROG_NAMES) {
      const p = bpf.bpf_object__find_program_by_name(obj, name);
      if (!p) throw new Error(`program ${name} not found in ${path}`);
      progs.set(name, check(`bpf_program__fd(${name})`, bpf.bpf_program__fd(p)));
    }
    return {
      maps,
      progFd(name: ProgName): number {
        if (closed) throw new Error(`progFd(${name}): the datapath was closed`);
        const fd = progs.get(name);
        if (fd === undefined) throw new Error(`unknown program ${name}`);
        return fd;
      },
      close(): void {
        if (closed) return;
        closed = true;
        bpf.bpf_object__close(obj);
      },
    };
  } catch (e) {
    if (obj && !closed) {
      closed = true;
      bpf.bpf_object__close(obj);
    }
    throw e;
  } finally {
    pinRoot.free();
    log.free();
  }
}
