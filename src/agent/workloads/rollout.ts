/**
 * The Deployment controller's arithmetic, pure (pkg/controller/deployment: rolling.go, sync.go, util): how far
 * the new ReplicaSet may grow (maxSurge), how far old ones may shrink (maxUnavailable), proportional scaling of
 * several active ReplicaSets, and the Deployment status counts. Strategy: RollingUpdate with the Deployment's
 * maxSurge/maxUnavailable (25%/25% by default, percentages rounded up for surge and down for unavailable, and
 * unavailable 1 when both come to 0), or Recreate.
 */

/** The parts of a ReplicaSet the arithmetic needs. */
export interface RsView {
  name: string;
  /** creationTimestamp (RFC 3339), for oldest-first ordering. */
  created: string;
  replicas: number;
  /** status.replicas / readyReplicas / availableReplicas. */
  current: number;
  ready: number;
  available: number;
  /** deployment.kubernetes.io/max-replicas, when annotated. */
  maxReplicas?: number;
  /** deployment.kubernetes.io/desired-replicas, when annotated. */
  desiredReplicas?: number;
}

export type IntOrString = number | string | undefined;

/** An int, or a percentage of `total` rounded up or down (intstr.GetScaledValueFromIntOrPercent). */
export function scaledValue(v: IntOrString, total: number, roundUp: boolean): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v.trim());
  if (!m) {
    const n = Number(v);
    if (Number.isInteger(n)) return n;
    throw new Error(`invalid value for IntOrString: "${v}"`);
  }
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/** maxSurge and maxUnavailable as pod counts (ResolveFenceposts). */
export function resolveFenceposts(
  maxSurge: IntOrString,
  maxUnavailable: IntOrString,
  desired: number,
): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge ?? '25%', desired, true);
  let unavailable = scaledValue(maxUnavailable ?? '25%', desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable: Math.min(unavailable, desired) };
}

const sum = (rs: readonly RsView[], f: (r: RsView) => number) => rs.reduce((a, r) => a + f(r), 0);
const oldestFirst = (a: RsView, b: RsView) =>
  a.created < b.created ? -1 : a.created > b.created ? 1 : a.name < b.name ? -1 : 1;

/** Replicas the new ReplicaSet should have now (NewRSNewReplicas, rolling update); `all` includes the new one. */
export function newRsReplicas(
  desired: number,
  fence: { surge: number },
  newRs: RsView | undefined,
  all: readonly RsView[],
): number {
  const cur = newRs?.replicas ?? 0;
  if (cur >= desired) return desired;
  const current = sum(all, (r) => r.replicas);
  const maxTotal = desired + fence.surge;
  if (current >= maxTotal) return cur;
  return cur + Math.min(maxTotal - current, desired - cur);
}

/**
 * New sizes for old ReplicaSets during a rolling update (reconcileOldReplicaSets): first unhealthy old replicas
 * are removed as far as the budget allows, then old replicas are scaled down while enough stay available.
 * Returns only the ReplicaSets whose size changes.
 */
export function scaleDownOld(
  desired: number,
  fence: { unavailable: number },
  newRs: RsView,
  old: readonly RsView[],
): Map<string, number> {
  const out = new Map<string, number>();
  if (sum(old, (r) => r.replicas) === 0) return out;
  const all = [...old, newRs];
  const minAvailable = desired - fence.unavailable;
  const newUnavailable = Math.max(0, newRs.replicas - newRs.available);
  const maxScaledDown = sum(all, (r) => r.replicas) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return out;
  const sizes = new Map(old.map((r) => [r.name, r.replicas]));
  // Clean up unhealthy replicas first (they do not count as available anyway).
  let cleaned = 0;
  for (const r of [...old].sort(oldestFirst)) {
    if (cleaned >= maxScaledDown) break;
    const size = sizes.get(r.name)!;
    const unhealthy = size - Math.min(r.available, size);
    if (size === 0 || unhealthy <= 0) continue;
    const n = Math.min(maxScaledDown - cleaned, size, unhealthy);
    sizes.set(r.name, size - n);
    cleaned += n;
  }
  // Then scale down while keeping minAvailable.
  const available = sum(all, (r) => r.available);
  if (available > minAvailable) {
    const total = available - minAvailable;
    let scaled = 0;
    for (const r of [...old].sort(oldestFirst)) {
      if (scaled >= total) break;
      const size = sizes.get(r.name)!;
      if (size === 0) continue;
      const n = Math.min(size, total - scaled);
      sizes.set(r.name, size - n);
      scaled += n;
    }
  }
  for (const r of old) if (sizes.get(r.name) !== r.replicas) out.set(r.name, sizes.get(r.name)!);
  return out;
}

/** True when an active ReplicaSet was sized for another replica count (a scaling event, not a rollout). */
export function isScalingEvent(desired: number, active: readonly RsView[]): boolean {
  return active.some((r) => r.desiredReplicas !== undefined && r.desiredReplicas !== desired);
}

/**
 * Proportional scaling of several active ReplicaSets to a new Deployment size (scale() in sync.go): the
 * difference to `desired + surge` is shared in proportion to each ReplicaSet's size, leftovers go to the
 * largest (newest on ties). Returns new sizes for every active ReplicaSet.
 */
export function proportionalScale(
  desired: number,
  fence: { surge: number },
  active: readonly RsView[],
  statusReplicas: number,
): Map<string, number> {
  const out = new Map(active.map((r) => [r.name, r.replicas]));
  if (active.length === 0) return out;
  const allowed = desired + fence.surge;
  const toAdd = allowed - sum(active, (r) => r.replicas);
  if (toAdd === 0) return out;
  const bySize = [...active].sort((a, b) =>
    toAdd > 0
      ? b.replicas - a.replicas || (a.created > b.created ? -1 : 1)
      : a.replicas - b.replicas || (a.created < b.created ? -1 : 1),
  );
  let added = 0;
  for (const r of bySize) {
    if (desired === 0) {
      out.set(r.name, 0);
      continue;
    }
    const annotated = r.maxReplicas ?? statusReplicas;
    let frac = annotated > 0 ? Math.round((r.replicas * allowed) / annotated) - r.replicas : 0;
    const left = toAdd - added;
    frac = toAdd > 0 ? Math.min(frac, left) : Math.max(frac, left);
    out.set(r.name, r.replicas + frac);
    added += frac;
  }
  if (desired > 0 && added !== toAdd) {
    const first = bySize[0]!;
    out.set(first.name, Math.max(0, out.get(first.name)! + (toAdd - added)));
  }
  return out;
}

export interface DeploymentCounts {
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  unavailableReplicas: number;
}

/** Deployment status counts (calculateStatus). */
export function deploymentCounts(newRs: RsView | undefined, all: readonly RsView[]): DeploymentCounts {
  const available = sum(all, (r) => r.available);
  return {
    replicas: sum(all, (r) => r.current),
    updatedReplicas: newRs?.current ?? 0,
    readyReplicas: sum(all, (r) => r.ready),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, sum(all, (r) => r.replicas) - available),
  };
}

/** DeploymentComplete: every replica updated and available, no old ones left. */
export function deploymentComplete(desired: number, c: DeploymentCounts): boolean {
  return c.updatedReplicas === desired && c.replicas === desired && c.availableReplicas === desired;
}
