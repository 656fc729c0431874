/**
 * An inverted index over labelled items (identities): `key=value` → ids, so that a selector with an `In`
 * requirement only tests the few items carrying one of its values instead of scanning everything.
 * Results are exactly those of `selectorMatches` on every item.
 */
import type { LabelSet } from './labels.js';
import { SOURCE_ANY } from './labels.js';
import { type Selector, selectorMatches } from './selector.js';

export class LabelIndex {
  private readonly items: { id: number; labels: LabelSet }[] = [];
  /** `source:key=value` and `any:key=value` → ids, in insertion order. */
  private readonly byPair = new Map<string, number[]>();
  private readonly labelsById = new Map<number, LabelSet>();

  add(id: number, labels: LabelSet): void {
    this.items.push({ id, labels });
    this.labelsById.set(id, labels);
    for (const l of labels.labels) {
      for (const k of [`${l.source}:${l.key}=${l.value}`, `${SOURCE_ANY}:${l.key}=${l.value}`]) {
        const list = this.byPair.get(k);
        if (list) {
          if (list[list.length - 1] !== id) list.push(id);
        } else this.byPair.set(k, [id]);
      }
    }
  }

  /** Ids of the items the selector matches, in insertion order. */
  matching(sel: Selector): number[] {
    if (sel.none) return [];
    let best: number[] | undefined;
    for (const r of sel.requirements) {
      if (r.op !== 'In') continue;
      const cand: number[] = [];
      for (const v of r.values) cand.push(...(this.byPair.get(`${r.source}:${r.key}=${v}`) ?? []));
      if (!best || cand.length < best.length)
        best = r.values.length > 1 ? [...new Set(cand)].sort((a, b) => this.order(a) - this.order(b)) : cand;
      if (best.length === 0) return [];
    }
    if (!best) return this.items.filter((i) => selectorMatches(sel, i.labels)).map((i) => i.id);
    return best.filter((id) => selectorMatches(sel, this.labelsById.get(id)!));
  }

  private orderOf?: Map<number, number>;
  private order(id: number): number {
    if (!this.orderOf || this.orderOf.size !== this.items.length)
      this.orderOf = new Map(this.items.map((i, n) => [i.id, n]));
    return this.orderOf.get(id)!;
  }
}
