/**
 * The map operations that turn one lowering into the next (PURE). Only changed entries: a key whose value bytes
 * are the same is skipped (by reference first: the Lowerer reuses Entry objects of unchanged endpoints), a key
 * with other bytes is one `update` (BPF_ANY), a key that disappeared one `delete`.
 *
 * `prev` must be what is installed (the last lowering whose operations were all written); `undefined` = empty
 * maps (first apply, or after a teardown).
 *
 * Order. The programs see the maps change one element at a time, so the batch is ordered to keep every
 * intermediate state consistent:
 *
 *   1. ipcache    updates    new identities exist before anything can select them
 *   2. policy     updates    entries exist before an endpoint's direction is switched to enforced
 *   3. endpoints  updates    (new endpoints, identity/ifindex/flag changes)
 *   4. backends   updates    new slots are written before a service's `count` is raised to cover them
 *   5. services   updates    (new services, count raised or lowered, svc_id changes)
 *   6. services   deletes
 *   7. backends   deletes    slots are deleted only after `count` was lowered (or the service deleted)
 *   8. policy     deletes    after endpoint flags stopped enforcing a direction; a removed endpoint loses its
 *                            entries while still present and enforced (fail closed), then
 *   9. endpoints  deletes
 *  10. ipcache    deletes
 *
 * Within a step, operations follow the order of the lowering (updates) or of `prev` (deletes); for `policy`, when
 * `next` comes from the same Lowerer right after `prev`, the order of the endpoints it lowered anew (the other
 * endpoints' entries are the same objects and are not scanned at all).
 *
 * During steps 2-8 a policy lookup in the union of old and new entries returns, per level, either the old or the
 * new entry for that port (each state's blocks of one level are disjoint), so a packet judged mid-batch gets, per
 * level, the old or the new answer; the driver moves the generation after the batch, which judges every such
 * connection again.
 *
 * svc_id reuse: the Lowerer hands a freed svc_id to another service only in a later lower() call than the one that
 * dropped it, so one batch never both deletes a service and reuses its slots for another — provided `prev` is the
 * lowering just before `next` (a skipped, unwritten lowering would merge two calls into one batch).
 */
import type { MapName } from './layout.js';
import { type Entry, type EntryMap, type Lowered, type PolicyDelta, policyDeltaOf } from './lower.js';

export type MapOp = { map: MapName; kind: 'update' | 'delete'; key: Buffer; value?: Buffer };

type LoweredMap = keyof Lowered;

function updates(out: MapOp[], map: LoweredMap, prev: EntryMap | undefined, next: EntryMap): void {
  if (prev === next) return;
  for (const [hex, e] of next) {
    const p: Entry | undefined = prev?.get(hex);
    if (p === e || p?.value.equals(e.value)) continue;
    out.push({ map, kind: 'update', key: e.key, value: e.value });
  }
}

function deletes(out: MapOp[], map: LoweredMap, prev: EntryMap | undefined, next: EntryMap): void {
  if (!prev || prev === next) return;
  for (const [hex, e] of prev) if (!next.has(hex)) out.push({ map, kind: 'delete', key: e.key });
}

/** Policy updates of the groups the Lowerer lowered anew (every other group is the same Entry objects). */
function policyUpdates(out: MapOp[], prev: EntryMap, delta: PolicyDelta): void {
  for (const g of delta.added) {
    for (let i = 0; i < g.hex.length; i++) {
      const e = g.entries[i]!;
      const p = prev.get(g.hex[i]!);
      if (p === e || p?.value.equals(e.value)) continue;
      out.push({ map: 'policy', kind: 'update', key: e.key, value: e.value });
    }
  }
}

function policyDeletes(out: MapOp[], next: EntryMap, delta: PolicyDelta): void {
  for (const g of delta.removed)
    for (let i = 0; i < g.hex.length; i++)
      if (!next.has(g.hex[i]!)) out.push({ map: 'policy', kind: 'delete', key: g.entries[i]!.key });
}

export function diffLowered(prev: Lowered | undefined, next: Lowered): MapOp[] {
  const out: MapOp[] = [];
  // `next` lowered right after `prev` by one Lowerer: only the endpoints lowered anew can differ.
  const delta = prev && prev.policy !== next.policy ? policyDeltaOf(prev, next) : undefined;
  updates(out, 'ipcache', prev?.ipcache, next.ipcache);
  if (prev && delta) policyUpdates(out, prev.policy, delta);
  else updates(out, 'policy', prev?.policy, next.policy);
  updates(out, 'endpoints', prev?.endpoints, next.endpoints);
  updates(out, 'backends', prev?.backends, next.backends);
  updates(out, 'services', prev?.services, next.services);
  deletes(out, 'services', prev?.services, next.services);
  deletes(out, 'backends', prev?.backends, next.backends);
  if (delta) policyDeletes(out, next.policy, delta);
  else deletes(out, 'policy', prev?.policy, next.policy);
  deletes(out, 'endpoints', prev?.endpoints, next.endpoints);
  deletes(out, 'ipcache', prev?.ipcache, next.ipcache);
  return out;
}
