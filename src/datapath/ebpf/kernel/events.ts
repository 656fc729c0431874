/**
 * The `events` ring buffer, read in-process: libbpf's ring_buffer__consume calls back (synchronously, on this
 * thread) once per record; each record is copied out (struct pw_event, see podwall.h) before the callback returns,
 * because libbpf releases its slot right after.
 */
import koffi from 'koffi';
import { BpfError } from './errors.js';
import type { BpfMap } from './maps.js';
import { lastErrno, libbpf, type Ptr } from './native.js';

export interface EventReader {
  /** Delivers every record available now; returns how many. Never blocks. */
  poll(): number;
  close(): void;
}

let sampleProto: ReturnType<typeof koffi.proto> | undefined;

function sampleFnType(): ReturnType<typeof koffi.proto> {
  sampleProto ??= koffi.proto('int pw_ring_buffer_sample_fn(void *ctx, void *data, size_t size)');
  return sampleProto;
}

export function openEvents(map: BpfMap, onRecord: (rec: Buffer) => void): EventReader {
  const bpf = libbpf();
  // An exception must not unwind through libbpf's C frames: park it, stop the batch (a non-zero return makes
  // ring_buffer__consume stop and return it), rethrow from poll().
  let pending: unknown;
  const cb = koffi.register((_ctx: unknown, data: bigint, size: number | bigint): number => {
    try {
      onRecord(Buffer.from(new Uint8Array(koffi.view(data, Number(size)))));
      return 0;
    } catch (e) {
      pending = e;
      return -1;
    }
  }, koffi.pointer(sampleFnType()));

  const rb: Ptr = bpf.ring_buffer__new(map.fd, cb, null, null);
  if (!rb) {
    koffi.unregister(cb);
    throw new BpfError(`ring_buffer__new(${map.name})`, lastErrno() || 22);
  }
  let open = true;
  return {
    poll(): number {
      if (!open) throw new Error(`events(${map.name}): reader closed`);
      const n = bpf.ring_buffer__consume(rb);
      if (pending !== undefined) {
        const e = pending;
        pending = undefined;
        throw e;
      }
      if (n < 0) throw new BpfError(`ring_buffer__consume(${map.name})`, -n);
      return n;
    },
    close(): void {
      if (!open) return;
      open = false;
      bpf.ring_buffer__free(rb);
      koffi.unregister(cb);
    },
  };
}
