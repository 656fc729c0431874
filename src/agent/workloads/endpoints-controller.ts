/**
 * The endpoints controllers: for every Service with a selector, the legacy `Endpoints` object and the
 * `discovery.k8s.io/v1` EndpointSlices (label `kubernetes.io/service-name`, managed-by
 * `endpointslice-controller.k8s.io`, owned by the Service) from the pods it selects (see endpoints.ts); for a
 * Service without a selector, user-written Endpoints mirrored into slices (endpointslicemirroring); and, in the
 * standalone node, the `kubernetes` Service's Endpoints and EndpointSlice pointing at the API server address that
 * pods reach (the datapath DNATs ClusterIPs to endpoints generically). Writes go through the API only, and only
 * when the content changed.
 */
import type { KubeObject, Pod, Service } from '../../api/types.js';
import { isConflict, isNotFound, KubeApiError, type KubeClient } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import {
  buildEndpointSubsets,
  buildSliceContents,
  type EndpointSubset,
  MANAGED_BY_LABEL,
  MIRROR_CONTROLLER,
  mirrorSliceContents,
  SERVICE_NAME_LABEL,
  SLICE_CONTROLLER,
  type SliceContent,
  sliceContentKey,
  slicePortsKey,
} from './endpoints.js';
import { type SharedInformer, sharedInformer } from './informers.js';
import { canonicalJson, isTerminating, key, makeControllerRef, mapSelectorMatches, now, splitKey } from './objects.js';
import type { WorkloadComponent, WorkloadContext } from './types.js';
import { type SyncResult, WorkQueue } from './workqueue.js';

export interface EndpointsObject extends KubeObject {
  subsets?: EndpointSubset[];
}

export interface EndpointSliceObject extends KubeObject {
  addressType?: string;
  endpoints?: SliceContent['endpoints'];
  ports?: SliceContent['ports'];
}

export interface EndpointsControllerOptions {
  /**
   * The API server address pods reach, for the `kubernetes` Service in `default` (standalone only; on a real
   * cluster the API server maintains it). Called at each sync.
   */
  apiserverEndpoint?: (server: URL) => { ip: string; port: number } | undefined;
  workers?: number;
}

const LAST_CHANGE = 'endpoints.kubernetes.io/last-change-trigger-time';
const HEADLESS_LABEL = 'service.kubernetes.io/headless';

function newer<T extends KubeObject>(a: T, b: T): T {
  const ra = Number(a.metadata.resourceVersion);
  const rb = Number(b.metadata.resourceVersion);
  return Number.isFinite(ra) && Number.isFinite(rb) && rb > ra ? b : a;
}

export class EndpointsController implements WorkloadComponent {
  readonly name = 'endpoints-controller';
  private client!: KubeClient;
  private log: (l: string) => void = () => {};
  private services!: SharedInformer<Service>;
  private pods!: SharedInformer<Pod>;
  private endpoints!: SharedInformer<EndpointsObject>;
  private slices!: SharedInformer<EndpointSliceObject>;
  private queue!: WorkQueue;
  /** Slices written (or deleted: null) by this controller and not yet seen by the informer, by name per namespace. */
  private readonly writtenSlices = new Map<string, EndpointSliceObject | null>();
  private readonly writtenEndpoints = new Map<string, EndpointsObject | null>();

  constructor(private readonly opts: EndpointsControllerOptions = {}) {}

  async start(ctx: WorkloadContext): Promise<void> {
    this.client = ctx.client;
    this.log = (l) => ctx.log(`${this.name}: ${l}`);
    const onError = (e: unknown) => this.log(`watch: ${(e as Error).message}`);
    this.services = sharedInformer<Service>(ctx.client, RESOURCE_REFS.services, onError);
    this.pods = sharedInformer<Pod>(ctx.client, RESOURCE_REFS.pods, onError);
    this.endpoints = sharedInformer<EndpointsObject>(ctx.client, RESOURCE_REFS.endpoints, onError);
    this.slices = sharedInformer<EndpointSliceObject>(ctx.client, RESOURCE_REFS.endpointslices, onError);
    this.queue = new WorkQueue((k) => this.sync(k), {
      concurrency: this.opts.workers ?? 2,
      onError: (k, e) => this.log(`sync ${k}: ${(e as Error).message}`),
    });
    this.services.on({
      onAdd: (s) => this.queue.add(key(s)),
      onUpdate: (_, s) => this.queue.add(key(s)),
      onDelete: (s) => this.queue.add(key(s)),
    });
    this.pods.on({
      onAdd: (p) => this.enqueueForPod(p),
      onUpdate: (a, b) => {
        this.enqueueForPod(b);
        if (canonicalJson(a.metadata.labels) !== canonicalJson(b.metadata.labels)) this.enqueueForPod(a);
      },
      onDelete: (p) => this.enqueueForPod(p),
    });
    const bySlice = (s: EndpointSliceObject) => {
      const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
      if (svc) this.queue.add(`${s.metadata.namespace}/${svc}`);
    };
    this.slices.on({ onAdd: bySlice, onUpdate: (_, s) => bySlice(s), onDelete: bySlice });
    this.endpoints.on({
      onAdd: (e) => this.queue.add(key(e)),
      onUpdate: (_, e) => this.queue.add(key(e)),
      onDelete: (e) => this.queue.add(key(e)),
    });
    await Promise.all([
      this.services.informer.waitForSync(),
      this.pods.informer.waitForSync(),
      this.endpoints.informer.waitForSync(),
      this.slices.informer.waitForSync(),
    ]);
  }

  async stop(): Promise<void> {
    await this.queue?.stop();
    await Promise.all([this.services, this.pods, this.endpoints, this.slices].map((i) => i?.release()));
  }

  status() {
    return { ok: true, message: `${this.services?.informer.list().length ?? 0} services` };
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  private enqueueForPod(p: Pod): void {
    for (const s of this.services.informer.list()) {
      if (s.metadata.namespace === p.metadata.namespace && mapSelectorMatches(s.spec.selector, p.metadata.labels))
        this.queue.add(key(s));
    }
  }

  private async sync(k: string): Promise<SyncResult> {
    const { namespace, name } = splitKey(k);
    const svc = this.services.informer.get(namespace, name);
    if (!svc || isTerminating(svc)) {
      // The Service is gone: its Endpoints go too (slices are owned by the Service: garbage collected).
      const ep = this.currentEndpoints(namespace, name);
      if (ep && !svc) await this.deleteEndpoints(ep);
      return;
    }
    if (svc.spec.type === 'ExternalName') return;
    if (namespace === 'default' && name === 'kubernetes' && this.opts.apiserverEndpoint) {
      await this.syncKubernetes(svc);
      return;
    }
    const selector = svc.spec.selector;
    if (!selector || Object.keys(selector).length === 0) {
      // User-managed Endpoints: mirror them into slices.
      const ep = this.currentEndpoints(namespace, name);
      const desired = ep ? mirrorSliceContents(ep.subsets ?? []) : [];
      await this.reconcileSlices(svc, desired, MIRROR_CONTROLLER);
      return;
    }
    const pods = this.pods.informer
      .list()
      .filter((p) => p.metadata.namespace === namespace && mapSelectorMatches(selector, p.metadata.labels));
    await this.writeEndpoints(svc, buildEndpointSubsets(svc, pods));
    await this.reconcileSlices(svc, buildSliceContents(svc, pods), SLICE_CONTROLLER);
    return undefined;
  }

  private async syncKubernetes(svc: Service): Promise<void> {
    const ep = this.opts.apiserverEndpoint?.(new URL(this.client.config.server));
    if (!ep) return;
    const port = { name: 'https', port: ep.port, protocol: 'TCP' };
    await this.writeEndpoints(svc, [{ addresses: [{ ip: ep.ip }], ports: [port] }], false);
    const content: SliceContent = {
      addressType: 'IPv4',
      endpoints: [{ addresses: [ep.ip], conditions: { ready: true, serving: true, terminating: false } }],
      ports: [port],
    };
    const cur = this.currentSlices(svc).find((s) => s.metadata.name === 'kubernetes');
    if (cur && sliceContentKey(cur) === sliceContentKey(content)) return;
    const obj: EndpointSliceObject = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'kubernetes',
        namespace: 'default',
        labels: { [SERVICE_NAME_LABEL]: 'kubernetes' },
        ...(cur ? { resourceVersion: cur.metadata.resourceVersion } : {}),
      },
      ...content,
    };
    await this.putSlice(obj, cur !== undefined);
  }

  // ---- Endpoints ----

  private currentEndpoints(namespace: string, name: string): EndpointsObject | undefined {
    const k = `${namespace}/${name}`;
    const inf = this.endpoints.informer.get(namespace, name);
    const w = this.writtenEndpoints.get(k);
    if (w === undefined) return inf;
    if (w === null) {
      // Deleted by us: the informer may still show the old object.
      if (inf && inf.metadata.resourceVersion === this.deletedAt.get(k)) return undefined;
      this.writtenEndpoints.delete(k);
      this.deletedAt.delete(k);
      return inf;
    }
    if (!inf) return w;
    const n = newer(inf, w);
    if (n === inf) this.writtenEndpoints.delete(k);
    return n;
  }

  private readonly deletedAt = new Map<string, string>();

  private async writeEndpoints(svc: Service, subsets: EndpointSubset[], headlessLabel = true): Promise<void> {
    const ns = svc.metadata.namespace ?? 'default';
    const name = svc.metadata.name ?? '';
    const cur = this.currentEndpoints(ns, name);
    const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
    if (headlessLabel && svc.spec.clusterIP === 'None') labels[HEADLESS_LABEL] = '';
    if (
      cur &&
      canonicalJson(cur.subsets ?? []) === canonicalJson(subsets) &&
      canonicalJson(cur.metadata.labels ?? {}) === canonicalJson(labels)
    )
      return;
    const obj: EndpointsObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: {
        name,
        namespace: ns,
        labels,
        annotations: { ...(cur?.metadata.annotations ?? {}), [LAST_CHANGE]: now() },
        ...(cur ? { resourceVersion: cur.metadata.resourceVersion } : {}),
      },
      ...(subsets.length ? { subsets } : {}),
    };
    try {
      const out = cur
        ? await this.client.update<EndpointsObject>(RESOURCE_REFS.endpoints, obj)
        : await this.client.create<EndpointsObject>(RESOURCE_REFS.endpoints, obj);
      this.writtenEndpoints.set(`${ns}/${name}`, out);
    } catch (e) {
      if (isNotFound(e)) this.writtenEndpoints.delete(`${ns}/${name}`);
      if (e instanceof KubeApiError && e.code === 409) {
        // Stale cache: look at the live object next time.
        const live = await this.client.get<EndpointsObject>(RESOURCE_REFS.endpoints, ns, name).catch(() => undefined);
        if (live) this.writtenEndpoints.set(`${ns}/${name}`, live);
      }
      throw e;
    }
  }

  private async deleteEndpoints(ep: EndpointsObject): Promise<void> {
    const k = key(ep);
    try {
      await this.client.delete(RESOURCE_REFS.endpoints, ep.metadata.namespace, ep.metadata.name ?? '');
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.writtenEndpoints.set(k, null);
    this.deletedAt.set(k, ep.metadata.resourceVersion ?? '0');
  }

  // ---- EndpointSlices ----

  private currentSlices(svc: Service): EndpointSliceObject[] {
    const ns = svc.metadata.namespace;
    const name = svc.metadata.name;
    const byName = new Map<string, EndpointSliceObject>();
    for (const s of this.slices.informer.list()) {
      if (s.metadata.namespace !== ns || s.metadata.labels?.[SERVICE_NAME_LABEL] !== name) continue;
      byName.set(s.metadata.name ?? '', s);
    }
    for (const [k, w] of this.writtenSlices) {
      const { namespace: wns, name: wname } = splitKey(k);
      if (wns !== ns) continue;
      const inf = byName.get(wname);
      if (w === null) {
        if (!inf) this.writtenSlices.delete(k);
        else byName.delete(wname);
        continue;
      }
      if (w.metadata.labels?.[SERVICE_NAME_LABEL] !== name) continue;
      if (!inf) byName.set(wname, w);
      else {
        const n = newer(inf, w);
        if (n === inf) this.writtenSlices.delete(k);
        byName.set(wname, n);
      }
    }
    return [...byName.values()];
  }

  /**
   * Makes the Service's slices managed by `managedBy` equal `desired`: slices with the same port list are
   * updated in place, missing ones created, surplus ones deleted.
   */
  private async reconcileSlices(svc: Service, desired: SliceContent[], managedBy: string): Promise<void> {
    const existing = this.currentSlices(svc).filter(
      (s) => s.metadata.labels?.[MANAGED_BY_LABEL] === managedBy && !isTerminating(s),
    );
    const labels: Record<string, string> = {
      ...(svc.metadata.labels ?? {}),
      [SERVICE_NAME_LABEL]: svc.metadata.name ?? '',
      [MANAGED_BY_LABEL]: managedBy,
    };
    if (svc.spec.clusterIP === 'None') labels[HEADLESS_LABEL] = '';
    const unused = [...existing];
    const todo: { content: SliceContent; cur?: EndpointSliceObject }[] = [];
    // Exact matches first (nothing to write), then slices with the same ports (update), then any (update).
    const pending: SliceContent[] = [];
    for (const c of desired) {
      const i = unused.findIndex(
        (s) => sliceContentKey(s) === sliceContentKey(c) && canonicalJson(s.metadata.labels) === canonicalJson(labels),
      );
      if (i >= 0) unused.splice(i, 1);
      else pending.push(c);
    }
    for (const c of pending) {
      let i = unused.findIndex((s) => slicePortsKey(s) === slicePortsKey(c));
      if (i < 0 && unused.length > 0) i = 0;
      todo.push({ content: c, cur: i >= 0 ? unused.splice(i, 1)[0] : undefined });
    }
    for (const { content, cur } of todo) {
      const obj: EndpointSliceObject = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: cur
          ? { ...cur.metadata, labels, annotations: { ...(cur.metadata.annotations ?? {}), [LAST_CHANGE]: now() } }
          : {
              generateName: `${svc.metadata.name}-`,
              namespace: svc.metadata.namespace,
              labels,
              annotations: { [LAST_CHANGE]: now() },
              ownerReferences: [makeControllerRef(svc)],
            },
        ...content,
      };
      await this.putSlice(obj, cur !== undefined);
    }
    for (const s of unused) {
      try {
        await this.client.delete(RESOURCE_REFS.endpointslices, s.metadata.namespace, s.metadata.name ?? '');
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      this.writtenSlices.set(key(s), null);
    }
  }

  private async putSlice(obj: EndpointSliceObject, exists: boolean): Promise<void> {
    try {
      const out = exists
        ? await this.client.update<EndpointSliceObject>(RESOURCE_REFS.endpointslices, obj)
        : await this.client.create<EndpointSliceObject>(RESOURCE_REFS.endpointslices, obj);
      this.writtenSlices.set(key(out), out);
    } catch (e) {
      if (isNotFound(e)) this.writtenSlices.delete(key(obj));
      if (isConflict(e) && exists) {
        const live = await this.client
          .get<EndpointSliceObject>(RESOURCE_REFS.endpointslices, obj.metadata.namespace, obj.metadata.name ?? '')
          .catch(() => undefined);
        if (live) this.writtenSlices.set(key(live), live);
      }
      throw e;
    }
  }
}
