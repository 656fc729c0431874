/**
 * Deterministic numeric identities for label sets and CIDR prefixes.
 * A label set's number is a hash of its canonical text into the cluster-local range, with linear probing on
 * collision; allocating in sorted order makes the whole assignment a pure function of the input, so the same
 * cluster compiles to the same numbers on every run. An allocator keeps what it handed out, so a live agent
 * never renumbers an existing identity when others come and go.
 */
import type { LabelSet } from '../labels/labels.js';
import { CIDR_IDENTITY_BASE, FIRST_CLUSTER_IDENTITY, LAST_CLUSTER_IDENTITY } from './reserved.js';

const CLUSTER_SPAN = LAST_CLUSTER_IDENTITY - FIRST_CLUSTER_IDENTITY + 1;
const CIDR_SPAN = 1 << 24;

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class IdentityAllocator {
  private readonly byKey = new Map<string, number>();
  private readonly used = new Set<number>();

  /** Number for a label set; the same set always gets the same number from this allocator. */
  allocate(labels: LabelSet): number {
    return this.take(labels.canonical, FIRST_CLUSTER_IDENTITY, CLUSTER_SPAN);
  }

  /** Number for a CIDR prefix in the node-local range (bit 24 set). */
  allocateCidr(prefix: string): number {
    return this.take(`cidr:${prefix}`, CIDR_IDENTITY_BASE, CIDR_SPAN);
  }

  release(key: string): void {
    const id = this.byKey.get(key);
    if (id !== undefined) {
      this.byKey.delete(key);
      this.used.delete(id);
    }
  }

  private take(key: string, base: number, span: number): number {
    const known = this.byKey.get(key);
    if (known !== undefined) return known;
    let slot = fnv1a(key) % span;
    for (let i = 0; i < span; i++) {
      const id = base + ((slot + i) % span);
      if (!this.used.has(id)) {
        this.used.add(id);
        this.byKey.set(key, id);
        return id;
      }
    }
    slot = -1;
    throw new Error('identity space exhausted');
  }
}
