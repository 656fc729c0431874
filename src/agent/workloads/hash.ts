/**
 * `pod-template-hash`: a stable hash of a Deployment's pod template, written as the ReplicaSet name suffix and
 * label. Like the Deployment controller's ComputeHash: FNV-1a 32 over the template (here its canonical JSON, so
 * it is the same in every process and across restarts), the collision count appended, and the decimal value
 * spelled with apimachinery's SafeEncodeString alphabet (no vowels, no 0/1/3), e.g. `7c6bd9f8b5`.
 */
import { canonicalJson } from './objects.js';

export const POD_TEMPLATE_HASH = 'pod-template-hash';
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function fnv1a32(s: string, h = 0x811c9dc5): number {
  const bytes = Buffer.from(s, 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** rand.SafeEncodeString: each character replaced by `alphabet[charCode % len]`. */
export function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/** The hash of a pod template, ignoring any `pod-template-hash` label already on it. */
export function podTemplateHash(template: unknown, collisionCount = 0): string {
  let h = fnv1a32(canonicalJson(stripHashLabel(template)));
  if (collisionCount > 0) h = fnv1a32(String(collisionCount), h);
  return safeEncode(String(h));
}

/** A copy of the template without the `pod-template-hash` label (EqualIgnoreHash). */
export function stripHashLabel<T>(template: T): T {
  const t = structuredClone(template) as { metadata?: { labels?: Record<string, string> } };
  if (t?.metadata?.labels) {
    delete t.metadata.labels[POD_TEMPLATE_HASH];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t as T;
}

/** Templates equal up to the hash label. */
export function templatesEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(stripHashLabel(a)) === canonicalJson(stripHashLabel(b));
}
