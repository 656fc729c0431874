/**
 * Small helpers over Kubernetes objects shared by the controllers: label selectors on plain labels
 * (apimachinery semantics, via src/labels), controller references, pod readiness/availability, condition lists.
 */
import type { KubeObject, LabelSelector, OwnerReference, Pod } from '../../api/types.js';
import { fromLabelSelector, LabelSet, selectorMatches } from '../../labels/index.js';

/** RFC 3339 with seconds, as the API server writes timestamps. */
export function now(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** True when `sel` (a LabelSelector) matches `labels`. An empty selector matches everything; a missing one nothing. */
export function selectorMatchesLabels(
  sel: LabelSelector | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!sel) return false;
  return selectorMatches(fromLabelSelector(sel, 'k8s', false), LabelSet.fromRecord('k8s', labels ?? {}));
}

/** A Service selector (map form): matches when every pair is present. An empty or missing one matches nothing. */
export function mapSelectorMatches(
  sel: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!sel || Object.keys(sel).length === 0) return false;
  const l = labels ?? {};
  return Object.entries(sel).every(([k, v]) => l[k] === v);
}

export function controllerRef(o: KubeObject): OwnerReference | undefined {
  return (o.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

export function ownedBy(o: KubeObject, owner: KubeObject): boolean {
  return controllerRef(o)?.uid === owner.metadata.uid;
}

export function makeControllerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function key(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

export function splitKey(k: string): { namespace: string; name: string } {
  const i = k.indexOf('/');
  return { namespace: k.slice(0, i), name: k.slice(i + 1) };
}

export function isTerminating(o: KubeObject): boolean {
  return o.metadata.deletionTimestamp !== undefined && o.metadata.deletionTimestamp !== null;
}

export function podPhase(p: Pod): string {
  return p.status?.phase ?? 'Pending';
}

/** Active as the ReplicaSet controller counts: not terminating and not Succeeded/Failed. */
export function isPodActive(p: Pod): boolean {
  const phase = podPhase(p);
  return !isTerminating(p) && phase !== 'Succeeded' && phase !== 'Failed';
}

export function podReadyCondition(p: Pod) {
  return (p.status?.conditions ?? []).find((c) => c.type === 'Ready');
}

export function isPodReady(p: Pod): boolean {
  return podReadyCondition(p)?.status === 'True';
}

/** Ready for at least `minReadySeconds` (podutil.IsPodAvailable). */
export function isPodAvailable(p: Pod, minReadySeconds: number, nowMs = Date.now()): boolean {
  const c = podReadyCondition(p);
  if (c?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const t = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : Number.NaN;
  return !Number.isNaN(t) && t + minReadySeconds * 1000 <= nowMs;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

/**
 * Sets a condition as the Deployment controller's SetDeploymentCondition: no change when status and reason
 * are the same; a status flip moves lastTransitionTime, otherwise it is kept.
 */
export function setCondition(
  conds: Condition[],
  c: Omit<Condition, 'lastUpdateTime' | 'lastTransitionTime'>,
  t: string,
): Condition[] {
  const cur = conds.find((x) => x.type === c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return conds;
  const next: Condition = {
    ...c,
    lastUpdateTime: t,
    lastTransitionTime: cur && cur.status === c.status ? cur.lastTransitionTime : t,
  };
  return [...conds.filter((x) => x.type !== c.type), next];
}

/** Deterministic JSON (object keys sorted): the basis of template hashes and change detection. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}
