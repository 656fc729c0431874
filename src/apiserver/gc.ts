/**
 * The two controllers that live inside the apiserver process: the garbage collector (cascading delete through
 * ownerReferences: an object whose owners are all gone is deleted; Foreground owners wait for their dependents)
 * and the namespace controller (a Terminating namespace has its contents deleted, then itself). Both react to
 * watch events and also sweep once at start, so work interrupted by a crash is finished after restart.
 */
import type { KubeObject } from '../api/types.js';
import { ApiError } from './errors.js';
import type { Registry } from './registry.js';
import { findByKey, RESOURCES, type ResourceInfo, resourceKey } from './resources.js';
import type { StoredEvent } from './storage.js';

// biome-ignore lint/suspicious/noExplicitAny: controllers edit loosely-typed wire objects
type Any = any;

const NAMESPACES = RESOURCES.find((r) => r.resource === 'namespaces')!;

export interface Controllers {
  /** Resolves when no controller work is queued (tests). */
  idle(): Promise<void>;
  stop(): void;
}

export function startControllers(reg: Registry, log: (msg: string) => void = () => {}): Controllers {
  const queue: (() => void)[] = [];
  let scheduled = false;
  let stopped = false;
  let waiters: (() => void)[] = [];

  const run = () => {
    scheduled = false;
    let n = 0;
    while (queue.length && !stopped && n++ < 200) {
      const job = queue.shift()!;
      try {
        job();
      } catch (e) {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) log(`controller error: ${String(e)}`);
      }
    }
    if (queue.length && !stopped) schedule();
    else {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };
  const schedule = () => {
    if (!scheduled && !stopped) {
      scheduled = true;
      setImmediate(run);
    }
  };
  const enqueue = (job: () => void) => {
    queue.push(job);
    schedule();
  };

  const ownerExists = (dep: KubeObject, uid: string): boolean => {
    const ref = dep.metadata.ownerReferences?.find((r) => r.uid === uid);
    if (!ref) return false;
    const info = RESOURCES.find(
      (r) => r.kind === ref.kind && (r.group === '' ? r.version : `${r.group}/${r.version}`) === ref.apiVersion,
    );
    if (!info) return false;
    const owner = reg.tryGet(info, dep.metadata.namespace ?? '', ref.name);
    return owner !== undefined && owner.metadata.uid === uid;
  };

  /** Deletes dependents whose owners are all gone; drops dangling references from the others. */
  const collectDependentsOf = (owner: KubeObject) => {
    for (const d of reg.dependentsOf(owner)) {
      const refs = d.object.metadata.ownerReferences ?? [];
      const alive = refs.filter((r) => r.uid !== owner.metadata.uid && ownerExists(d.object, r.uid));
      if (alive.length === 0) {
        reg.delete(d.info, d.object.metadata.namespace ?? '', d.object.metadata.name ?? '', {
          propagationPolicy: 'Background',
        });
      } else if (alive.length !== refs.length) {
        const next: Any = structuredClone(d.object);
        next.metadata.ownerReferences = alive;
        reg.update(d.info, d.object.metadata.namespace ?? '', d.object.metadata.name ?? '', next, { requireRV: false });
      }
    }
  };

  /** An owner in foreground deletion: delete its dependents; once none remain, drop the finalizer. */
  const foreground = (info: ResourceInfo, owner: KubeObject) => {
    const deps = reg.dependentsOf(owner);
    for (const d of deps) {
      if (!d.object.metadata.deletionTimestamp)
        reg.delete(d.info, d.object.metadata.namespace ?? '', d.object.metadata.name ?? '', {
          propagationPolicy: 'Foreground',
        });
    }
    if (reg.dependentsOf(owner).length === 0) {
      const cur = reg.tryGet(info, owner.metadata.namespace ?? '', owner.metadata.name ?? '');
      if (!cur || !(cur.metadata.finalizers ?? []).includes('foregroundDeletion')) return;
      const next: Any = structuredClone(cur);
      next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f: string) => f !== 'foregroundDeletion');
      reg.update(info, cur.metadata.namespace ?? '', cur.metadata.name ?? '', next, { requireRV: false });
    }
  };

  /** Owners waiting in foreground deletion for `dep` to go. */
  const ownersWaitingFor = (dep: KubeObject) => {
    for (const ref of dep.metadata.ownerReferences ?? []) {
      const info = RESOURCES.find((r) => r.kind === ref.kind);
      if (!info) continue;
      const owner = reg.tryGet(info, dep.metadata.namespace ?? '', ref.name);
      if (owner?.metadata.deletionTimestamp && (owner.metadata.finalizers ?? []).includes('foregroundDeletion'))
        enqueue(() => foreground(info, owner));
    }
  };

  /** Deletes everything in a Terminating namespace, then finalizes and removes it. */
  const drainNamespace = (name: string) => {
    const ns = reg.tryGet(NAMESPACES, '', name);
    if (!ns?.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const info of RESOURCES) {
      if (!info.namespaced) continue;
      for (const o of reg.store.list(resourceKey(info), name)) {
        remaining++;
        if (!o.metadata.deletionTimestamp)
          reg.delete(info, name, o.metadata.name ?? '', { propagationPolicy: 'Background', gracePeriodSeconds: 0 });
        else if (info.kind === 'Pod' && (o.metadata.finalizers ?? []).length === 0)
          reg.delete(info, name, o.metadata.name ?? '', { gracePeriodSeconds: 0 });
      }
    }
    if (remaining > 0) {
      // Objects held by finalizers keep the namespace; look again shortly.
      const stillThere = RESOURCES.some((i) => i.namespaced && reg.store.list(resourceKey(i), name).length > 0);
      if (stillThere) {
        setTimeout(() => enqueue(() => drainNamespace(name)), 200).unref();
        return;
      }
    }
    const cur = reg.tryGet(NAMESPACES, '', name);
    if (!cur) return;
    if (((cur as Any).spec?.finalizers ?? []).length > 0) {
      const next: Any = structuredClone(cur);
      next.spec = { ...(next.spec ?? {}), finalizers: [] };
      reg.update(NAMESPACES, '', name, next, { subresource: 'finalize', requireRV: false });
    }
    const last = reg.tryGet(NAMESPACES, '', name);
    if (last?.metadata.deletionTimestamp && (last.metadata.finalizers ?? []).length === 0) {
      const res = reg.store.remove(resourceKey(NAMESPACES), '', name);
      if (res.ok) reg.hub.publish(res.event);
    }
  };

  const onEvent = (ev: StoredEvent) => {
    const info = findByKey(ev.resource);
    if (!info) return;
    const obj = ev.object;
    if (ev.type === 'DELETED') {
      enqueue(() => collectDependentsOf(obj));
      if (obj.metadata.ownerReferences?.length) enqueue(() => ownersWaitingFor(obj));
      return;
    }
    if (obj.metadata.deletionTimestamp) {
      if (info.kind === 'Namespace') enqueue(() => drainNamespace(obj.metadata.name ?? ''));
      else if ((obj.metadata.finalizers ?? []).includes('foregroundDeletion')) enqueue(() => foreground(info, obj));
    }
  };

  const cancel = reg.hub.onEvent(onEvent);

  // Start-up sweep: finish what a crash interrupted.
  enqueue(() => {
    const uids = new Set<string>();
    for (const info of RESOURCES)
      for (const o of reg.store.list(resourceKey(info))) if (o.metadata.uid) uids.add(o.metadata.uid);
    for (const info of RESOURCES) {
      for (const o of reg.store.list(resourceKey(info))) {
        if (info.kind === 'Namespace' && o.metadata.deletionTimestamp)
          enqueue(() => drainNamespace(o.metadata.name ?? ''));
        else if (o.metadata.deletionTimestamp && (o.metadata.finalizers ?? []).includes('foregroundDeletion'))
          enqueue(() => foreground(info, o));
        const refs = o.metadata.ownerReferences ?? [];
        if (refs.length && refs.every((r) => !uids.has(r.uid)))
          enqueue(() => {
            try {
              reg.delete(info, o.metadata.namespace ?? '', o.metadata.name ?? '', { propagationPolicy: 'Background' });
            } catch {
              // already gone
            }
          });
      }
    }
  });

  return {
    idle: () =>
      new Promise<void>((resolve) => {
        if (!scheduled && queue.length === 0) resolve();
        else waiters.push(resolve);
      }),
    stop: () => {
      stopped = true;
      cancel();
    },
  };
}
