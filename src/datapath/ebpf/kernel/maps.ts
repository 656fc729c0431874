/**
 * One eBPF map seen from user space: raw key/value Buffers in and out (the layouts are podwall.h's, encoded by
 * ../layout.ts). The fd belongs to whoever opened the map (the LoadedDatapath); BpfMap never closes it.
 */
import { BpfError, check } from './errors.js';
import { libbpf } from './native.js';

const ENOENT = 2;
const BPF_ANY = 0n;

export class BpfMap {
  constructor(
    readonly name: string,
    readonly fd: number,
    readonly keySize: number,
    readonly valueSize: number,
  ) {}

  private sized(what: 'key' | 'value', buf: Buffer, size: number, call: string): void {
    if (buf.length !== size)
      throw new Error(`${call}(${this.name}): ${what} is ${buf.length} bytes, the map's ${what} size is ${size}`);
  }

  /** Create or replace. */
  update(key: Buffer, value: Buffer): void {
    this.sized('key', key, this.keySize, 'bpf_map_update_elem');
    this.sized('value', value, this.valueSize, 'bpf_map_update_elem');
    check(`bpf_map_update_elem(${this.name})`, libbpf().bpf_map_update_elem(this.fd, key, value, BPF_ANY));
  }

  /** False when the key was not there. */
  delete(key: Buffer): boolean {
    this.sized('key', key, this.keySize, 'bpf_map_delete_elem');
    const rc = libbpf().bpf_map_delete_elem(this.fd, key);
    if (rc === -ENOENT) return false;
    check(`bpf_map_delete_elem(${this.name})`, rc);
    return true;
  }

  lookup(key: Buffer): Buffer | undefined {
    this.sized('key', key, this.keySize, 'bpf_map_lookup_elem');
    const value = Buffer.alloc(this.valueSize);
    const rc = libbpf().bpf_map_lookup_elem(this.fd, key, value);
    if (rc === -ENOENT) return undefined;
    check(`bpf_map_lookup_elem(${this.name})`, rc);
    return value;
  }

  /**
   * Every key, in the kernel's order. A hash map changed while it is walked may skip or repeat keys (the kernel
   * restarts from the first bucket when the current key vanished); callers that need a consistent view must not
   * write meanwhile.
   */
  keys(): Buffer[] {
    const out: Buffer[] = [];
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      const rc = libbpf().bpf_map_get_next_key(this.fd, prev, next);
      if (rc === -ENOENT) return out;
      if (rc < 0) throw new BpfError(`bpf_map_get_next_key(${this.name})`, -rc);
      out.push(next);
      prev = next;
    }
  }
}
