/**
 * The ReplicaSet controller: keeps `spec.replicas` active pods per ReplicaSet. Pods are created from the
 * template with `generateName: <rs>-` (the API server appends 5 random characters), the template's labels and a
 * controller ownerReference; surplus pods are deleted in the upstream order (unscheduled, pending, not ready,
 * most recently ready, most restarts, newest first). Orphan pods matching the selector are adopted, owned pods
 * that stop matching are released. Creations and deletions are counted as *expectations* until the informer
 * has seen them, so a slow watch never causes double creations. Status: replicas, fullyLabeledReplicas,
 * readyReplicas, availableReplicas (minReadySeconds), observedGeneration, ReplicaFailure condition.
 */
import type { KubeObject, Pod } from '../../api/types.js';
import { isConflict, isNotFound, type KubeClient } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import type { ReplicaSet } from './deployment-controller.js';
import { type EventRecorder, eventRecorder } from './events.js';
import { type SharedInformer, sharedInformer } from './informers.js';
import {
  type Condition,
  canonicalJson,
  controllerRef,
  isPodActive,
  isPodAvailable,
  isPodReady,
  isTerminating,
  key,
  makeControllerRef,
  now,
  podReadyCondition,
  selectorMatchesLabels,
  splitKey,
} from './objects.js';
import type { WorkloadComponent, WorkloadContext } from './types.js';
import { type SyncResult, WorkQueue } from './workqueue.js';

/** Pods created at most per sync (the upstream burstReplicas). */
const BURST = 500;
/** Expectations older than this are considered fulfilled (a lost watch event must not block forever). */
const EXPECTATION_TTL_MS = 60_000;

interface Expectation {
  adds: number;
  dels: Set<string>;
  at: number;
}

/** The kubelet-independent ranking of pods to delete first (controller.ActivePodsWithRanks, simplified). */
export function deletionOrder(pods: readonly Pod[]): Pod[] {
  const phaseRank = (p: Pod) => ({ Pending: 0, Unknown: 1, Running: 2 })[p.status?.phase ?? 'Pending'] ?? 1;
  const restarts = (p: Pod) =>
    ((p.status?.containerStatuses ?? []) as { restartCount?: number }[]).reduce((a, c) => a + (c.restartCount ?? 0), 0);
  const readySince = (p: Pod) => Date.parse(podReadyCondition(p)?.lastTransitionTime ?? '') || 0;
  return [...pods].sort((a, b) => {
    const sa = a.spec.nodeName ? 1 : 0;
    const sb = b.spec.nodeName ? 1 : 0;
    if (sa !== sb) return sa - sb;
    if (phaseRank(a) !== phaseRank(b)) return phaseRank(a) - phaseRank(b);
    const ra = isPodReady(a) ? 1 : 0;
    const rb = isPodReady(b) ? 1 : 0;
    if (ra !== rb) return ra - rb;
    if (ra && readySince(a) !== readySince(b)) return readySince(b) - readySince(a);
    if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
    const ca = a.metadata.creationTimestamp ?? '';
    const cb = b.metadata.creationTimestamp ?? '';
    return ca === cb ? 0 : ca > cb ? -1 : 1;
  });
}

export interface ReplicaSetControllerOptions {
  workers?: number;
}

export class ReplicaSetController implements WorkloadComponent {
  readonly name = 'replicaset-controller';
  private client!: KubeClient;
  private log: (l: string) => void = () => {};
  private events!: EventRecorder;
  private replicasets!: SharedInformer<ReplicaSet>;
  private pods!: SharedInformer<Pod>;
  private queue!: WorkQueue;
  private readonly expectations = new Map<string, Expectation>();
  /** Last status written per ReplicaSet uid: the informer may not show it yet. */
  private readonly lastStatus = new Map<string, string>();

  constructor(private readonly opts: ReplicaSetControllerOptions = {}) {}

  async start(ctx: WorkloadContext): Promise<void> {
    this.client = ctx.client;
    this.log = (l) => ctx.log(`${this.name}: ${l}`);
    this.events = eventRecorder(ctx.client, 'replicaset-controller');
    const onError = (e: unknown) => this.log(`watch: ${(e as Error).message}`);
    this.replicasets = sharedInformer<ReplicaSet>(ctx.client, RESOURCE_REFS.replicasets, onError);
    this.pods = sharedInformer<Pod>(ctx.client, RESOURCE_REFS.pods, onError);
    this.queue = new WorkQueue((k) => this.sync(k), {
      concurrency: this.opts.workers ?? 4,
      onError: (k, e) => this.log(`sync ${k}: ${(e as Error).message}`),
    });
    this.replicasets.on({
      onAdd: (rs) => this.queue.add(key(rs)),
      onUpdate: (_, rs) => this.queue.add(key(rs)),
      onDelete: (rs) => {
        this.expectations.delete(key(rs));
        this.lastStatus.delete(rs.metadata.uid ?? '');
        this.queue.add(key(rs));
      },
    });
    this.pods.on({
      onAdd: (p) => {
        const rsKey = this.ownerKey(p);
        if (rsKey) {
          const e = this.expectations.get(rsKey);
          if (e && e.adds > 0) e.adds--;
        }
        if (isTerminating(p)) this.observeDeletion(p);
        this.enqueueForPod(p);
      },
      onUpdate: (a, b) => {
        if (isTerminating(b)) this.observeDeletion(b);
        this.enqueueForPod(b);
        if (
          controllerRef(a)?.uid !== controllerRef(b)?.uid ||
          canonicalJson(a.metadata.labels) !== canonicalJson(b.metadata.labels)
        )
          this.enqueueForPod(a);
      },
      onDelete: (p) => {
        this.observeDeletion(p);
        this.enqueueForPod(p);
      },
    });
    await Promise.all([this.replicasets.informer.waitForSync(), this.pods.informer.waitForSync()]);
  }

  async stop(): Promise<void> {
    await this.queue?.stop();
    await Promise.all([this.replicasets?.release(), this.pods?.release()]);
  }

  status() {
    return { ok: true, message: `${this.replicasets?.informer.list().length ?? 0} replicasets` };
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  private ownerKey(p: KubeObject): string | undefined {
    const ref = controllerRef(p);
    return ref?.kind === 'ReplicaSet' ? `${p.metadata.namespace}/${ref.name}` : undefined;
  }

  private observeDeletion(p: KubeObject): void {
    const rsKey = this.ownerKey(p);
    if (rsKey) this.expectations.get(rsKey)?.dels.delete(p.metadata.uid ?? '');
  }

  private enqueueForPod(p: KubeObject): void {
    const rsKey = this.ownerKey(p);
    if (rsKey) {
      this.queue.add(rsKey);
      return;
    }
    if (controllerRef(p)) return;
    for (const rs of this.replicasets.informer.list())
      if (rs.metadata.namespace === p.metadata.namespace && selectorMatchesLabels(rs.spec.selector, p.metadata.labels))
        this.queue.add(key(rs));
  }

  private satisfied(k: string): boolean {
    const e = this.expectations.get(k);
    if (!e) return true;
    if ((e.adds <= 0 && e.dels.size === 0) || Date.now() - e.at > EXPECTATION_TTL_MS) {
      this.expectations.delete(k);
      return true;
    }
    return false;
  }

  private async sync(k: string): Promise<SyncResult> {
    const { namespace, name } = splitKey(k);
    const rs = this.replicasets.informer.get(namespace, name);
    if (!rs) {
      this.expectations.delete(k);
      return;
    }
    const needsSync = this.satisfied(k);
    const pods = await this.claimPods(rs);
    const active = pods.filter(isPodActive);
    let failure: string | undefined;
    if (needsSync && !isTerminating(rs)) failure = await this.manageReplicas(k, rs, active);
    const minReady = rs.spec.minReadySeconds ?? 0;
    const t = Date.now();
    const sel = rs.spec.template.metadata?.labels ?? {};
    const ready = active.filter(isPodReady).length;
    const available = active.filter((p) => isPodAvailable(p, minReady, t)).length;
    let conditions = (rs.status?.conditions ?? []).filter((c) => c.type !== 'ReplicaFailure');
    if (failure)
      conditions = [
        ...conditions,
        { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: failure, lastTransitionTime: now() },
      ];
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) =>
        Object.entries(sel).every(([lk, lv]) => p.metadata.labels?.[lk] === lv),
      ).length,
      readyReplicas: ready,
      availableReplicas: available,
      observedGeneration: rs.metadata.generation,
      conditions: conditions.length ? conditions : undefined,
    };
    await this.writeStatus(rs, status);
    if (minReady > 0 && ready !== available) return { requeueAfterMs: minReady * 1000 + 100 };
    if (!needsSync) return { requeueAfterMs: 1000 };
    return undefined;
  }

  /** Pods the ReplicaSet controls, after adopting matching orphans and releasing owned pods that no longer match. */
  private async claimPods(rs: ReplicaSet): Promise<Pod[]> {
    const out: Pod[] = [];
    for (const p of this.pods.informer.list()) {
      if (p.metadata.namespace !== rs.metadata.namespace) continue;
      const ref = controllerRef(p);
      const matches = selectorMatchesLabels(rs.spec.selector, p.metadata.labels);
      if (ref?.uid === rs.metadata.uid) {
        if (matches || isTerminating(p)) out.push(p);
        else await this.release(p, rs);
        continue;
      }
      if (ref || !matches || isTerminating(rs) || isTerminating(p)) continue;
      try {
        const adopted = await this.client.patch<Pod>(RESOURCE_REFS.pods, p.metadata.namespace, p.metadata.name ?? '', {
          metadata: {
            resourceVersion: p.metadata.resourceVersion,
            ownerReferences: [...(p.metadata.ownerReferences ?? []), makeControllerRef(rs)],
          },
        });
        out.push(adopted);
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
    }
    return out;
  }

  private async release(p: Pod, rs: ReplicaSet): Promise<void> {
    try {
      await this.client.patch(RESOURCE_REFS.pods, p.metadata.namespace, p.metadata.name ?? '', {
        metadata: {
          resourceVersion: p.metadata.resourceVersion,
          ownerReferences: (p.metadata.ownerReferences ?? []).filter((r) => r.uid !== rs.metadata.uid),
        },
      });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e;
    }
  }

  /** Creates or deletes pods to reach spec.replicas; returns a failure message when creations failed. */
  private async manageReplicas(k: string, rs: ReplicaSet, active: Pod[]): Promise<string | undefined> {
    const want = rs.spec.replicas ?? 1;
    const diff = active.length - want;
    if (diff < 0) {
      const n = Math.min(-diff, BURST);
      const exp: Expectation = { adds: n, dels: new Set(), at: Date.now() };
      this.expectations.set(k, exp);
      let failure: string | undefined;
      // Slow start (1, 2, 4, ...): a template the API rejects fails once, not n times.
      let created = 0;
      let batch = 1;
      while (created < n && failure === undefined) {
        const size = Math.min(batch, n - created);
        const results = await Promise.allSettled(Array.from({ length: size }, () => this.createPod(rs)));
        for (const r of results) {
          if (r.status === 'rejected') {
            failure = (r.reason as Error).message;
            exp.adds--;
          }
        }
        created += size;
        batch *= 2;
      }
      if (failure !== undefined) {
        exp.adds -= n - created;
        this.log(`creating pods for ${k}: ${failure}`);
        this.events.event(rs, 'Warning', 'FailedCreate', `Error creating: ${failure}`);
      }
      return failure;
    }
    if (diff > 0) {
      const victims = deletionOrder(active).slice(0, Math.min(diff, BURST));
      this.expectations.set(k, { adds: 0, dels: new Set(victims.map((p) => p.metadata.uid ?? '')), at: Date.now() });
      await Promise.all(
        victims.map(async (p) => {
          try {
            await this.client.delete(RESOURCE_REFS.pods, p.metadata.namespace, p.metadata.name ?? '');
            this.events.event(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
          } catch (e) {
            this.expectations.get(k)?.dels.delete(p.metadata.uid ?? '');
            if (!isNotFound(e)) this.log(`deleting pod ${key(p)}: ${(e as Error).message}`);
          }
        }),
      );
    }
    return undefined;
  }

  private async createPod(rs: ReplicaSet): Promise<void> {
    const tmpl = rs.spec.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${rs.metadata.name}-`,
        namespace: rs.metadata.namespace,
        labels: { ...(tmpl.metadata?.labels ?? {}) },
        ...(tmpl.metadata?.annotations ? { annotations: { ...tmpl.metadata.annotations } } : {}),
        ownerReferences: [makeControllerRef(rs)],
      },
      spec: structuredClone(tmpl.spec),
    };
    const created = await this.client.create<Pod>(RESOURCE_REFS.pods, pod as unknown as Pod);
    this.events.event(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
  }

  private async writeStatus(rs: ReplicaSet, next: Record<string, unknown>): Promise<void> {
    const cur = (rs.status ?? {}) as Record<string, unknown>;
    const keys = [
      'replicas',
      'fullyLabeledReplicas',
      'readyReplicas',
      'availableReplicas',
      'observedGeneration',
      'conditions',
    ];
    const norm = (s: Record<string, unknown>) =>
      canonicalJson(Object.fromEntries(keys.map((kk) => [kk, s[kk] === 0 && kk !== 'replicas' ? undefined : s[kk]])));
    const uid = rs.metadata.uid ?? '';
    if (norm(cur) === norm(next) || this.lastStatus.get(uid) === `${rs.metadata.generation}:${norm(next)}`) return;
    const patch: Record<string, unknown> = {};
    for (const kk of keys) {
      const v = next[kk];
      patch[kk] = v === undefined || (v === 0 && kk !== 'replicas') ? null : v;
    }
    try {
      await this.client.patch(
        RESOURCE_REFS.replicasets,
        rs.metadata.namespace,
        rs.metadata.name ?? '',
        { status: patch },
        'merge',
        'status',
      );
      this.lastStatus.set(uid, `${rs.metadata.generation}:${norm(next)}`);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
}

export type { Condition };
