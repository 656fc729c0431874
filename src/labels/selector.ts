/**
 * Label selectors with apimachinery semantics over source-qualified labels:
 * every requirement must hold (AND); `NotIn` and `DoesNotExist` hold when the key is absent;
 * a selector with no requirements matches everything. A `none` selector matches nothing
 * (Cilium's `fromEndpoints: []`).
 */

import { type LabelSet, parseLabelKey, SOURCE_ANY } from './labels.js';
import type { LabelSelector } from './wire.js';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  source: string;
  key: string;
  op: Operator;
  /** Sorted, unique. */
  values: string[];
}

export interface Selector {
  /** Sorted by source, key, op; the selector's canonical text is derived from it. */
  requirements: Requirement[];
  /** True for a selector that matches nothing at all. */
  none?: boolean;
}

export const MATCH_ALL: Selector = { requirements: [] };
export const MATCH_NONE: Selector = { requirements: [], none: true };

export function requirementMatches(r: Requirement, labels: LabelSet): boolean {
  const vals = labels.values(r.source, r.key);
  switch (r.op) {
    case 'In':
      return vals.some((v) => r.values.includes(v));
    case 'NotIn':
      return !vals.some((v) => r.values.includes(v));
    case 'Exists':
      return vals.length > 0;
    case 'DoesNotExist':
      return vals.length === 0;
  }
}

export function selectorMatches(sel: Selector, labels: LabelSet): boolean {
  if (sel.none) return false;
  for (const r of sel.requirements) if (!requirementMatches(r, labels)) return false;
  return true;
}

/** Builds a normalised selector: requirements sorted, values sorted and unique. */
export function makeSelector(reqs: Requirement[]): Selector {
  const norm = reqs.map((r) => ({ ...r, values: [...new Set(r.values)].sort() }));
  norm.sort(
    (a, b) =>
      cmpStr(a.source, b.source) ||
      cmpStr(a.key, b.key) ||
      cmpStr(a.op, b.op) ||
      cmpStr(a.values.join(','), b.values.join(',')),
  );
  return { requirements: norm };
}

export function andSelectors(...sels: Selector[]): Selector {
  if (sels.some((s) => s.none)) return MATCH_NONE;
  return makeSelector(sels.flatMap((s) => s.requirements));
}

/**
 * Converts a Kubernetes LabelSelector (already validated) into a Selector.
 * `defaultSource` applies to keys without a source prefix: `k8s` for NetworkPolicy (plain pod labels),
 * `any` for Cilium policies (Cilium's bare keys match any source).
 * Cilium keys carry their source (`k8s:app`, `reserved:host`); NetworkPolicy keys never contain ':'.
 */
export function fromLabelSelector(
  sel: LabelSelector | undefined | null,
  defaultSource: string,
  ciliumKeys: boolean,
): Selector {
  if (!sel) return MATCH_ALL;
  const reqs: Requirement[] = [];
  const key = (raw: string) => (ciliumKeys ? parseLabelKey(raw, defaultSource) : { source: defaultSource, key: raw });
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    reqs.push({ ...key(k), op: 'In', values: [String(v)] });
  }
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator as Operator;
    reqs.push({ ...key(e.key), op, values: op === 'In' || op === 'NotIn' ? (e.values ?? []).map(String) : [] });
  }
  return makeSelector(reqs);
}

/** Canonical text: `k8s:app in (a,b), !any:foo` — stable, used as a cache key and in explanations. */
export function selectorString(sel: Selector): string {
  if (sel.none) return '<none>';
  if (sel.requirements.length === 0) return '<all>';
  return sel.requirements.map(requirementString).join(', ');
}

export function requirementString(r: Requirement): string {
  const k = r.source === SOURCE_ANY ? `any:${r.key}` : `${r.source}:${r.key}`;
  switch (r.op) {
    case 'In':
      return r.values.length === 1 ? `${k}=${r.values[0]}` : `${k} in (${r.values.join(',')})`;
    case 'NotIn':
      return r.values.length === 1 ? `${k}!=${r.values[0]}` : `${k} notin (${r.values.join(',')})`;
    case 'Exists':
      return k;
    case 'DoesNotExist':
      return `!${k}`;
  }
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
