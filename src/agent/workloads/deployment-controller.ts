/**
 * The Deployment controller (kube-controller-manager's, reduced to what a single node needs): each Deployment
 * owns ReplicaSets named `<deployment>-<pod-template-hash>`; the one whose template equals the Deployment's is
 * the new one, the rest are old. Scaling resizes the active ReplicaSets (proportionally when a rollout is in
 * flight); a template change rolls pods over with RollingUpdate (maxSurge / maxUnavailable, see rollout.ts) or
 * Recreate. It writes the Deployment status (replicas, updated/ready/available/unavailable, observedGeneration,
 * collisionCount, conditions Available and Progressing with the upstream reasons), so `kubectl rollout status`
 * and `kubectl get deploy` behave as against a real cluster. Everything goes through the API (src/kube).
 */
import type { Deployment, KubeObject, LabelSelector, PodSpec } from '../../api/types.js';
import { isConflict, isNotFound, KubeApiError, type KubeClient } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { type EventRecorder, eventRecorder } from './events.js';
import { POD_TEMPLATE_HASH, podTemplateHash, templatesEqual } from './hash.js';
import { type SharedInformer, sharedInformer } from './informers.js';
import {
  type Condition,
  canonicalJson,
  controllerRef,
  isPodActive,
  isTerminating,
  key,
  makeControllerRef,
  now,
  selectorMatchesLabels,
  setCondition,
  splitKey,
} from './objects.js';
import {
  deploymentComplete,
  deploymentCounts,
  isScalingEvent,
  newRsReplicas,
  proportionalScale,
  type RsView,
  resolveFenceposts,
  scaleDownOld,
} from './rollout.js';
import type { WorkloadComponent, WorkloadContext } from './types.js';
import { type SyncResult, WorkQueue } from './workqueue.js';

export const REVISION = 'deployment.kubernetes.io/revision';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
/** Deployment annotations that are not copied to its ReplicaSets. */
const NOT_COPIED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  'deployment.kubernetes.io/revision-history',
  DESIRED_REPLICAS,
  MAX_REPLICAS,
  'deprecated.deployment.rollback.to',
]);

export interface ReplicaSet extends KubeObject {
  spec: {
    replicas?: number;
    minReadySeconds?: number;
    selector: LabelSelector;
    template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
  status?: {
    replicas?: number;
    fullyLabeledReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    observedGeneration?: number;
    conditions?: Condition[];
  };
}

interface DeploymentSpec {
  replicas?: number;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  progressDeadlineSeconds?: number;
  paused?: boolean;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
}

interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  collisionCount?: number;
  conditions?: Condition[];
}

function num(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** A resourceVersion comparison that is only trusted when both are numbers (podwall's are). */
function newer(a: KubeObject, b: KubeObject): KubeObject {
  const ra = Number(a.metadata.resourceVersion);
  const rb = Number(b.metadata.resourceVersion);
  if (Number.isFinite(ra) && Number.isFinite(rb)) return rb > ra ? b : a;
  return a;
}

export function rsView(rs: ReplicaSet): RsView {
  const ann = rs.metadata.annotations ?? {};
  return {
    name: rs.metadata.name ?? '',
    created: rs.metadata.creationTimestamp ?? '',
    replicas: rs.spec.replicas ?? 1,
    current: rs.status?.replicas ?? 0,
    ready: rs.status?.readyReplicas ?? 0,
    available: rs.status?.availableReplicas ?? 0,
    maxReplicas: num(ann[MAX_REPLICAS]),
    desiredReplicas: num(ann[DESIRED_REPLICAS]),
  };
}

/**
 * The view the rollout arithmetic uses: a ReplicaSet's available pods never count above its (possibly just
 * lowered) size. Its status lags a scale-down, and counting pods that are about to go as available would let a
 * second scale-down breach maxUnavailable.
 */
function planView(rs: ReplicaSet): RsView {
  const v = rsView(rs);
  return { ...v, available: Math.min(v.available, v.replicas), ready: Math.min(v.ready, v.replicas) };
}

function revisionOf(o: KubeObject): number {
  return num(o.metadata.annotations?.[REVISION]) ?? 0;
}

export interface DeploymentControllerOptions {
  /** Deployments synced at once. Default 2. */
  workers?: number;
}

export class DeploymentController implements WorkloadComponent {
  readonly name = 'deployment-controller';
  private client!: KubeClient;
  private log: (l: string) => void = () => {};
  private events!: EventRecorder;
  private deployments!: SharedInformer<Deployment>;
  private replicasets!: SharedInformer<ReplicaSet>;
  private pods!: SharedInformer<KubeObject>;
  private queue!: WorkQueue;
  /** Objects this controller wrote, used until the informer catches up with them. */
  private readonly written = new Map<string, KubeObject>();
  private syncs = 0;

  constructor(private readonly opts: DeploymentControllerOptions = {}) {}

  async start(ctx: WorkloadContext): Promise<void> {
    this.client = ctx.client;
    this.log = (l) => ctx.log(`${this.name}: ${l}`);
    this.events = eventRecorder(ctx.client, 'deployment-controller');
    const onError = (e: unknown) => this.log(`watch: ${(e as Error).message}`);
    this.deployments = sharedInformer<Deployment>(ctx.client, RESOURCE_REFS.deployments, onError);
    this.replicasets = sharedInformer<ReplicaSet>(ctx.client, RESOURCE_REFS.replicasets, onError);
    this.pods = sharedInformer<KubeObject>(ctx.client, RESOURCE_REFS.pods, onError);
    this.queue = new WorkQueue((k) => this.sync(k), {
      concurrency: this.opts.workers ?? 2,
      onError: (k, e) => this.log(`sync ${k}: ${(e as Error).message}`),
    });
    this.deployments.on({
      onAdd: (d) => this.queue.add(key(d)),
      onUpdate: (_, d) => this.queue.add(key(d)),
      onDelete: (d) => this.queue.add(key(d)),
    });
    const onRs = (rs: ReplicaSet) => this.enqueueForRs(rs);
    this.replicasets.on({
      onAdd: onRs,
      onUpdate: (a, b) => {
        onRs(a);
        onRs(b);
      },
      onDelete: onRs,
    });
    this.pods.on({ onDelete: (p) => this.enqueueForPod(p) });
    await Promise.all([
      this.deployments.informer.waitForSync(),
      this.replicasets.informer.waitForSync(),
      this.pods.informer.waitForSync(),
    ]);
  }

  async stop(): Promise<void> {
    await this.queue?.stop();
    await Promise.all([this.deployments?.release(), this.replicasets?.release(), this.pods?.release()]);
  }

  status() {
    return { ok: true, message: `${this.deployments?.informer.list().length ?? 0} deployments, ${this.syncs} syncs` };
  }

  /** Resolves when no Deployment is queued or being synced (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private enqueueForRs(rs: ReplicaSet): void {
    const ref = controllerRef(rs);
    if (ref) {
      if (ref.kind === 'Deployment') this.queue.add(`${rs.metadata.namespace}/${ref.name}`);
      return;
    }
    // An orphan: every Deployment that could adopt it.
    for (const d of this.deployments.informer.list()) {
      if (d.metadata.namespace === rs.metadata.namespace && selectorMatchesLabels(d.spec.selector, rs.metadata.labels))
        this.queue.add(key(d));
    }
  }

  /** A Recreate rollout waits for the old pods to go: their deletion re-syncs the Deployment. */
  private enqueueForPod(p: KubeObject): void {
    const ref = controllerRef(p);
    if (ref?.kind !== 'ReplicaSet') return;
    const rs = this.replicasets.informer.get(p.metadata.namespace, ref.name);
    if (rs) this.enqueueForRs(rs);
  }

  private fresh<T extends KubeObject>(o: T): T {
    const w = this.written.get(o.metadata.uid ?? '');
    if (!w) return o;
    const n = newer(o, w);
    if (n === o) this.written.delete(o.metadata.uid ?? '');
    return n as T;
  }

  private remember(o: KubeObject): void {
    if (o.metadata.uid) this.written.set(o.metadata.uid, o);
  }

  private async sync(k: string): Promise<SyncResult> {
    this.syncs++;
    const { namespace, name } = splitKey(k);
    const cached = this.deployments.informer.get(namespace, name);
    if (!cached) return;
    const d = this.fresh(cached);
    if (isTerminating(d)) return;
    const spec = d.spec as Deployment['spec'] & DeploymentSpec;
    const rsList = await this.claimReplicaSets(d);
    const desired = spec.replicas ?? 1;
    const rolling = (spec.strategy?.type ?? 'RollingUpdate') !== 'Recreate';
    const fence = rolling
      ? resolveFenceposts(spec.strategy?.rollingUpdate?.maxSurge, spec.strategy?.rollingUpdate?.maxUnavailable, desired)
      : { surge: 0, unavailable: desired };
    const status: DeploymentStatus = (d.status as DeploymentStatus | undefined) ?? {};
    let conditions = status.conditions ?? [];
    const t = now();

    let newRs = rsList
      .filter((rs) => templatesEqual(rs.spec.template, d.spec.template))
      .sort((a, b) => ((a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? -1 : 1))[0];
    let oldRs = rsList.filter((rs) => rs !== newRs);
    const maxOldRevision = Math.max(0, ...oldRs.map(revisionOf));

    if (!newRs && !spec.paused) {
      const made = await this.createNewRs(
        d,
        desired,
        fence,
        rolling,
        oldRs,
        maxOldRevision + 1,
        status.collisionCount ?? 0,
      );
      if ('collision' in made) {
        await this.writeStatus(d, { ...status, collisionCount: made.collision });
        return { requeueAfterMs: 0 };
      }
      newRs = made.rs;
      if (made.created)
        conditions = setCondition(
          conditions,
          {
            type: 'Progressing',
            status: 'True',
            reason: 'NewReplicaSetCreated',
            message: `Created new replica set "${newRs.metadata.name}"`,
          },
          t,
        );
    } else if (newRs) {
      // A rollback makes an old ReplicaSet new again: it gets the next revision.
      if (revisionOf(newRs) <= maxOldRevision)
        newRs = await this.patchRs(newRs, { [REVISION]: String(maxOldRevision + 1) });
      if (!conditions.some((c) => c.type === 'Progressing'))
        conditions = setCondition(
          conditions,
          {
            type: 'Progressing',
            status: 'True',
            reason: 'FoundNewReplicaSet',
            message: `Found new replica set "${newRs.metadata.name}"`,
          },
          t,
        );
    }
    oldRs = rsList.filter((rs) => rs.metadata.uid !== newRs?.metadata.uid);
    if (newRs && revisionOf(d) !== revisionOf(newRs)) await this.setDeploymentRevision(d, revisionOf(newRs));

    const all = newRs ? [...oldRs, newRs] : oldRs;
    const active = all.filter((rs) => (rs.spec.replicas ?? 1) > 0);
    if (isScalingEvent(desired, active.map(rsView))) {
      await this.scale(d, desired, fence, rolling, newRs, oldRs, status.replicas ?? 0);
    } else if (!spec.paused && newRs) {
      if (rolling) await this.rolloutRolling(d, desired, fence, newRs, oldRs);
      else await this.rolloutRecreate(d, desired, newRs, oldRs);
    }
    const after = await this.claimReplicaSets(d, false);
    const newAfter = newRs ? after.find((rs) => rs.metadata.uid === newRs?.metadata.uid) : undefined;
    const counts = deploymentCounts(newAfter ? rsView(newAfter) : undefined, after.map(rsView));
    const complete = deploymentComplete(desired, counts);
    if (complete)
      await this.cleanupHistory(
        d,
        after.filter((rs) => rs !== newAfter),
      );

    conditions = setCondition(
      conditions,
      counts.availableReplicas >= desired - fence.unavailable
        ? {
            type: 'Available',
            status: 'True',
            reason: 'MinimumReplicasAvailable',
            message: 'Deployment has minimum availability.',
          }
        : {
            type: 'Available',
            status: 'False',
            reason: 'MinimumReplicasUnavailable',
            message: 'Deployment does not have minimum availability.',
          },
      t,
    );
    const deadline = spec.progressDeadlineSeconds ?? 600;
    let requeueAfterMs: number | undefined;
    const rsName = newAfter?.metadata.name ?? '';
    if (spec.paused) {
      conditions = setCondition(
        conditions,
        { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused' },
        t,
      );
    } else if (newAfter && complete) {
      conditions = setCondition(
        conditions,
        {
          type: 'Progressing',
          status: 'True',
          reason: 'NewReplicaSetAvailable',
          message: `ReplicaSet "${rsName}" has successfully progressed.`,
        },
        t,
      );
    } else if (newAfter && progressed(status, counts)) {
      const cur = conditions.find((c) => c.type === 'Progressing');
      conditions = [
        ...conditions.filter((c) => c.type !== 'Progressing'),
        {
          type: 'Progressing',
          status: 'True',
          reason: 'ReplicaSetUpdated',
          message: `ReplicaSet "${rsName}" is progressing.`,
          lastUpdateTime: t,
          lastTransitionTime: cur?.status === 'True' ? cur.lastTransitionTime : t,
        },
      ];
      requeueAfterMs = deadline * 1000;
    } else if (newAfter) {
      const cur = conditions.find((c) => c.type === 'Progressing');
      const since = Date.parse(cur?.lastUpdateTime ?? t);
      if (cur && cur.reason !== 'NewReplicaSetAvailable' && since + deadline * 1000 <= Date.now()) {
        conditions = setCondition(
          conditions,
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: `ReplicaSet "${rsName}" has timed out progressing.`,
          },
          t,
        );
      } else if (cur?.reason !== 'NewReplicaSetAvailable') {
        requeueAfterMs = Math.max(1000, since + deadline * 1000 - Date.now());
      }
    }
    const next: DeploymentStatus = {
      observedGeneration: d.metadata.generation,
      replicas: counts.replicas,
      updatedReplicas: counts.updatedReplicas,
      readyReplicas: counts.readyReplicas,
      availableReplicas: counts.availableReplicas,
      unavailableReplicas: counts.unavailableReplicas,
      collisionCount: status.collisionCount,
      conditions: sortConditions(conditions),
    };
    await this.writeStatus(d, next);
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }

  /** The Deployment's ReplicaSets: those it controls, plus orphans its selector matches (adopted). */
  private async claimReplicaSets(d: Deployment, adopt = true): Promise<ReplicaSet[]> {
    const out: ReplicaSet[] = [];
    for (const cached of this.replicasets.informer.list()) {
      if (cached.metadata.namespace !== d.metadata.namespace) continue;
      const rs = this.fresh(cached);
      const ref = controllerRef(rs);
      if (ref?.uid === d.metadata.uid) {
        out.push(rs);
        continue;
      }
      if (ref || !adopt || isTerminating(rs) || !selectorMatchesLabels(d.spec.selector, rs.metadata.labels)) continue;
      try {
        const adopted = await this.client.patch<ReplicaSet>(
          RESOURCE_REFS.replicasets,
          rs.metadata.namespace,
          rs.metadata.name ?? '',
          {
            metadata: {
              resourceVersion: rs.metadata.resourceVersion,
              ownerReferences: [...(rs.metadata.ownerReferences ?? []), makeControllerRef(d)],
            },
          },
        );
        this.remember(adopted);
        out.push(adopted);
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
    }
    return out;
  }

  private async createNewRs(
    d: Deployment,
    desired: number,
    fence: { surge: number },
    rolling: boolean,
    oldRs: ReplicaSet[],
    revision: number,
    collisionCount: number,
  ): Promise<{ rs: ReplicaSet; created: boolean } | { collision: number }> {
    const spec = d.spec as Deployment['spec'] & DeploymentSpec;
    const hash = podTemplateHash(d.spec.template, collisionCount);
    const name = `${d.metadata.name}-${hash}`;
    const all = oldRs.map(rsView);
    const replicas = rolling
      ? newRsReplicas(desired, fence, undefined, all)
      : oldRs.some((rs) => (rs.spec.replicas ?? 1) > 0)
        ? 0
        : desired;
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (!NOT_COPIED.has(k)) annotations[k] = v;
    annotations[REVISION] = String(revision);
    annotations[DESIRED_REPLICAS] = String(desired);
    annotations[MAX_REPLICAS] = String(desired + fence.surge);
    const template = structuredClone(d.spec.template);
    template.metadata = {
      ...(template.metadata ?? {}),
      labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash },
    };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: d.metadata.namespace,
        labels: { ...(d.spec.template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash },
        annotations,
        ownerReferences: [makeControllerRef(d)],
      },
      spec: {
        replicas,
        minReadySeconds: spec.minReadySeconds ?? 0,
        selector: {
          ...d.spec.selector,
          matchLabels: { ...(d.spec.selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash },
        },
        template: template as ReplicaSet['spec']['template'],
      },
    };
    try {
      const created = await this.client.create<ReplicaSet>(RESOURCE_REFS.replicasets, rs);
      this.remember(created);
      this.log(`created ReplicaSet ${key(created)} (${replicas} replicas)`);
      if (replicas > 0)
        this.events.event(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${name} from 0 to ${replicas}`);
      return { rs: created, created: true };
    } catch (e) {
      if (!(e instanceof KubeApiError && e.code === 409 && e.reason === 'AlreadyExists')) throw e;
      const existing = await this.client.get<ReplicaSet>(RESOURCE_REFS.replicasets, d.metadata.namespace, name);
      if (controllerRef(existing)?.uid === d.metadata.uid && templatesEqual(existing.spec.template, d.spec.template))
        return { rs: existing, created: false };
      return { collision: collisionCount + 1 };
    }
  }

  /** Resizes a ReplicaSet and stamps the replica annotations (scaleReplicaSet). */
  private async scaleRs(d: Deployment, rs: ReplicaSet, replicas: number, surge: number): Promise<ReplicaSet> {
    const desired = d.spec.replicas ?? 1;
    const ann = rs.metadata.annotations ?? {};
    const from = rs.spec.replicas ?? 1;
    if (from === replicas && ann[DESIRED_REPLICAS] === String(desired) && ann[MAX_REPLICAS] === String(desired + surge))
      return rs;
    const out = await this.client.patch<ReplicaSet>(
      RESOURCE_REFS.replicasets,
      rs.metadata.namespace,
      rs.metadata.name ?? '',
      {
        metadata: { annotations: { [DESIRED_REPLICAS]: String(desired), [MAX_REPLICAS]: String(desired + surge) } },
        spec: { replicas },
      },
    );
    this.remember(out);
    if (from !== replicas) {
      const verb = replicas > from ? 'up' : 'down';
      this.log(`scaled ${key(rs)} ${verb} from ${from} to ${replicas}`);
      this.events.event(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${verb} replica set ${rs.metadata.name} from ${from} to ${replicas}`,
      );
    }
    return out;
  }

  private async patchRs(rs: ReplicaSet, annotations: Record<string, string>): Promise<ReplicaSet> {
    const out = await this.client.patch<ReplicaSet>(
      RESOURCE_REFS.replicasets,
      rs.metadata.namespace,
      rs.metadata.name ?? '',
      {
        metadata: { annotations },
      },
    );
    this.remember(out);
    return out;
  }

  private async setDeploymentRevision(d: Deployment, revision: number): Promise<void> {
    try {
      const out = await this.client.patch<Deployment>(
        RESOURCE_REFS.deployments,
        d.metadata.namespace,
        d.metadata.name ?? '',
        {
          metadata: { annotations: { [REVISION]: String(revision) } },
        },
      );
      this.remember(out);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  private async scale(
    d: Deployment,
    desired: number,
    fence: { surge: number },
    rolling: boolean,
    newRs: ReplicaSet | undefined,
    oldRs: ReplicaSet[],
    statusReplicas: number,
  ): Promise<void> {
    const all = newRs ? [...oldRs, newRs] : oldRs;
    const active = all.filter((rs) => (rs.spec.replicas ?? 1) > 0);
    const only =
      active.length === 1
        ? active[0]
        : active.length === 0
          ? (newRs ??
            [...oldRs].sort((a, b) =>
              (a.metadata.creationTimestamp ?? '') > (b.metadata.creationTimestamp ?? '') ? -1 : 1,
            )[0])
          : undefined;
    if (only) {
      await this.scaleRs(d, only, desired, fence.surge);
      return;
    }
    if (newRs && (newRs.spec.replicas ?? 1) === desired && (newRs.status?.availableReplicas ?? 0) === desired) {
      for (const rs of oldRs) await this.scaleRs(d, rs, 0, fence.surge);
      return;
    }
    if (!rolling) return;
    const sizes = proportionalScale(desired, fence, active.map(rsView), statusReplicas);
    for (const rs of active) await this.scaleRs(d, rs, sizes.get(rs.metadata.name ?? '') ?? 0, fence.surge);
  }

  private async rolloutRolling(
    d: Deployment,
    desired: number,
    fence: { surge: number; unavailable: number },
    newRs: ReplicaSet,
    oldRs: ReplicaSet[],
  ): Promise<void> {
    const all = [...oldRs, newRs].map(planView);
    const size = newRsReplicas(desired, fence, planView(newRs), all);
    if (size !== (newRs.spec.replicas ?? 1)) {
      await this.scaleRs(d, newRs, size, fence.surge);
      return;
    }
    const changes = scaleDownOld(desired, fence, planView(newRs), oldRs.map(planView));
    for (const rs of oldRs) {
      const n = changes.get(rs.metadata.name ?? '');
      if (n !== undefined) await this.scaleRs(d, rs, n, fence.surge);
    }
  }

  private async rolloutRecreate(d: Deployment, desired: number, newRs: ReplicaSet, oldRs: ReplicaSet[]): Promise<void> {
    let scaledDown = false;
    for (const rs of oldRs) {
      if ((rs.spec.replicas ?? 1) > 0) {
        await this.scaleRs(d, rs, 0, 0);
        scaledDown = true;
      }
    }
    if (scaledDown) return;
    const oldUids = new Set(oldRs.map((rs) => rs.metadata.uid));
    const oldPodsLeft = this.pods.informer
      .list()
      .some(
        (p) =>
          p.metadata.namespace === d.metadata.namespace &&
          oldUids.has(controllerRef(p)?.uid) &&
          (isPodActive(p as never) || isTerminating(p)),
      );
    if (oldPodsLeft) return;
    await this.scaleRs(d, newRs, desired, 0);
  }

  /** Deletes old, empty ReplicaSets beyond revisionHistoryLimit (oldest first). */
  private async cleanupHistory(d: Deployment, oldRs: ReplicaSet[]): Promise<void> {
    const limit = (d.spec as DeploymentSpec).revisionHistoryLimit ?? 10;
    const empty = oldRs
      .filter((rs) => (rs.spec.replicas ?? 1) === 0 && (rs.status?.replicas ?? 0) === 0 && !isTerminating(rs))
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of empty.slice(0, Math.max(0, empty.length - limit))) {
      try {
        await this.client.delete(RESOURCE_REFS.replicasets, rs.metadata.namespace, rs.metadata.name ?? '');
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
  }

  private async writeStatus(d: Deployment, next: DeploymentStatus): Promise<void> {
    const cur = (d.status as DeploymentStatus | undefined) ?? {};
    const norm = (s: DeploymentStatus) => canonicalJson(omitZero(s));
    if (norm(cur) === norm(next)) return;
    const patch: Record<string, unknown> = {};
    for (const k of [
      'observedGeneration',
      'replicas',
      'updatedReplicas',
      'readyReplicas',
      'availableReplicas',
      'unavailableReplicas',
      'collisionCount',
      'conditions',
    ] as const) {
      const v = next[k];
      patch[k] = v === undefined || v === 0 ? null : v;
    }
    try {
      const out = await this.client.patch<Deployment>(
        RESOURCE_REFS.deployments,
        d.metadata.namespace,
        d.metadata.name ?? '',
        { status: patch },
        'merge',
        'status',
      );
      this.remember(out);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

/** Status fields are `omitempty` upstream: a zero count is the same as none. */
function omitZero(s: DeploymentStatus): DeploymentStatus {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (v !== undefined && v !== 0 && v !== null) out[k] = v;
  return out as DeploymentStatus;
}

function sortConditions(c: Condition[]): Condition[] {
  const order = (t: string) => (t === 'Available' ? 0 : t === 'Progressing' ? 1 : 2);
  return [...c].sort((a, b) => order(a.type) - order(b.type));
}

/** DeploymentProgressing: more updated/ready/available replicas than the last status, or fewer old ones. */
function progressed(
  prev: DeploymentStatus,
  c: { updatedReplicas: number; readyReplicas: number; availableReplicas: number; replicas: number },
): boolean {
  const prevOld = (prev.replicas ?? 0) - (prev.updatedReplicas ?? 0);
  const nowOld = c.replicas - c.updatedReplicas;
  return (
    c.updatedReplicas > (prev.updatedReplicas ?? 0) ||
    nowOld < prevOld ||
    c.readyReplicas > (prev.readyReplicas ?? 0) ||
    c.availableReplicas > (prev.availableReplicas ?? 0)
  );
}
