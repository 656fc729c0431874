/**
 * koffi bindings to libbpf.so.1 (Debian 12: libbpf 1.1) and the few libc calls the kernel edge needs. Loaded
 * lazily: importing a module of this folder on a machine without libbpf costs nothing until it is used.
 *
 * koffi 3 passes a Buffer as a pointer to its bytes (in place, no copy) and returns pointers as BigInt.
 */
import koffi from 'koffi';

/** An opaque C pointer (libbpf object, map, program, ring buffer); null for NULL. */
export type Ptr = bigint | null;

export interface LibBpf {
  bpf_map_update_elem(fd: number, key: Buffer, value: Buffer, flags: bigint): number;
  bpf_map_lookup_elem(fd: number, key: Buffer, value: Buffer): number;
  bpf_map_delete_elem(fd: number, key: Buffer): number;
  bpf_map_get_next_key(fd: number, key: Buffer | null, next: Buffer): number;
  bpf_object__open_file(path: string, opts: Buffer): Ptr;
  bpf_object__load(obj: Ptr): number;
  bpf_object__close(obj: Ptr): void;
  bpf_object__find_map_by_name(obj: Ptr, name: string): Ptr;
  bpf_object__find_program_by_name(obj: Ptr, name: string): Ptr;
  bpf_map__fd(map: Ptr): number;
  bpf_map__key_size(map: Ptr): number;
  bpf_map__value_size(map: Ptr): number;
  bpf_program__fd(prog: Ptr): number;
  bpf_obj_get(path: string): number;
  bpf_obj_pin(fd: number, path: string): number;
  bpf_obj_get_info_by_fd(fd: number, info: Buffer, len: Buffer): number;
  bpf_link_create(progFd: number, targetFd: number, attachType: number, opts: null): number;
  bpf_link_update(linkFd: number, progFd: number, opts: null): number;
  bpf_link_detach(linkFd: number): number;
  libbpf_set_print(fn: Ptr | null): Ptr;
  bpf_tc_hook_create(hook: Buffer): number;
  bpf_tc_hook_destroy(hook: Buffer): number;
  bpf_tc_attach(hook: Buffer, opts: Buffer): number;
  bpf_tc_detach(hook: Buffer, opts: Buffer): number;
  bpf_prog_test_run_opts(progFd: number, opts: Buffer): number;
  ring_buffer__new(mapFd: number, cb: bigint, ctx: null, opts: null): Ptr;
  ring_buffer__consume(rb: Ptr): number;
  ring_buffer__free(rb: Ptr): void;
}

export interface LibC {
  close(fd: number): number;
  strerror(errno: number): string;
  if_nametoindex(name: string): number;
  mount(source: string, target: string, fstype: string, flags: bigint, data: string | null): number;
  umount2(target: string, flags: number): number;
}

const BPF_PROTOS: Record<keyof LibBpf, string> = {
  bpf_map_update_elem: 'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
  bpf_map_lookup_elem: 'int bpf_map_lookup_elem(int fd, const void *key, void *value)',
  bpf_map_delete_elem: 'int bpf_map_delete_elem(int fd, const void *key)',
  bpf_map_get_next_key: 'int bpf_map_get_next_key(int fd, const void *key, void *next_key)',
  bpf_object__open_file: 'void *bpf_object__open_file(const char *path, const void *opts)',
  bpf_object__load: 'int bpf_object__load(void *obj)',
  bpf_object__close: 'void bpf_object__close(void *obj)',
  bpf_object__find_map_by_name: 'void *bpf_object__find_map_by_name(const void *obj, const char *name)',
  bpf_object__find_program_by_name: 'void *bpf_object__find_program_by_name(const void *obj, const char *name)',
  bpf_map__fd: 'int bpf_map__fd(const void *map)',
  bpf_map__key_size: 'uint32_t bpf_map__key_size(const void *map)',
  bpf_map__value_size: 'uint32_t bpf_map__value_size(const void *map)',
  bpf_program__fd: 'int bpf_program__fd(const void *prog)',
  bpf_obj_get: 'int bpf_obj_get(const char *pathname)',
  bpf_obj_pin: 'int bpf_obj_pin(int fd, const char *pathname)',
  bpf_obj_get_info_by_fd: 'int bpf_obj_get_info_by_fd(int fd, void *info, void *info_len)',
  bpf_link_create: 'int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)',
  bpf_link_update: 'int bpf_link_update(int link_fd, int new_prog_fd, const void *opts)',
  bpf_link_detach: 'int bpf_link_detach(int link_fd)',
  libbpf_set_print: 'void *libbpf_set_print(void *fn)',
  bpf_tc_hook_create: 'int bpf_tc_hook_create(void *hook)',
  bpf_tc_hook_destroy: 'int bpf_tc_hook_destroy(void *hook)',
  bpf_tc_attach: 'int bpf_tc_attach(const void *hook, void *opts)',
  bpf_tc_detach: 'int bpf_tc_detach(const void *hook, const void *opts)',
  bpf_prog_test_run_opts: 'int bpf_prog_test_run_opts(int prog_fd, void *opts)',
  ring_buffer__new: 'void *ring_buffer__new(int map_fd, void *sample_cb, void *ctx, const void *opts)',
  ring_buffer__consume: 'int ring_buffer__consume(void *rb)',
  ring_buffer__free: 'void ring_buffer__free(void *rb)',
};

const LIBC_PROTOS: Record<keyof LibC, string> = {
  close: 'int close(int fd)',
  strerror: 'const char *strerror(int errnum)',
  if_nametoindex: 'unsigned int if_nametoindex(const char *ifname)',
  mount:
    'int mount(const char *source, const char *target, const char *filesystemtype, unsigned long mountflags, const char *data)',
  umount2: 'int umount2(const char *target, int flags)',
};

function bind<T>(soname: string, protos: Record<string, string>): T {
  const lib = koffi.load(soname);
  const out: Record<string, unknown> = {};
  for (const [name, proto] of Object.entries(protos)) out[name] = lib.func(proto);
  return out as T;
}

let bpf: LibBpf | undefined;
let c: LibC | undefined;

export function libbpf(): LibBpf {
  if (!bpf) {
    try {
      bpf = bind<LibBpf>('libbpf.so.1', BPF_PROTOS);
    } catch (e) {
      throw new Error(`cannot load libbpf.so.1 (apt-get install libbpf1): ${(e as Error).message}`);
    }
  }
  return bpf;
}

export function libc(): LibC {
  c ??= bind<LibC>('libc.so.6', LIBC_PROTOS);
  return c;
}

/** errno of the last native call on this thread (libbpf calls returning NULL report through it). */
export function lastErrno(): number {
  return koffi.errno();
}

/** Closes an fd this module opened; errors are ignored (there is nothing useful to do about them). */
export function closeFd(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

/**
 * Native memory for buffers that a struct we lay out ourselves points at (the GC never moves or frees it behind
 * the kernel's back). `bytes` is a view on it; call free() when done.
 */
export class NativeBuffer {
  readonly ptr: bigint;
  readonly bytes: Buffer;
  private freed = false;

  constructor(readonly size: number) {
    this.ptr = koffi.alloc('uint8_t', Math.max(size, 1)) as bigint;
    this.bytes = Buffer.from(koffi.view(this.ptr, Math.max(size, 1))).subarray(0, size);
    this.bytes.fill(0);
  }

  static from(data: Buffer | string): NativeBuffer {
    const src = typeof data === 'string' ? Buffer.from(`${data}\0`) : data;
    const n = new NativeBuffer(src.length);
    src.copy(n.bytes);
    return n;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    koffi.free(this.ptr);
  }
}
