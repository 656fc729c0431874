/**
 * Informers shared by the components of one daemon: every component that watches pods (kubelet, ReplicaSet
 * controller, endpoints controller) reads the same cache and the API serves one watch instead of three. Keyed
 * by client and resource; started on first use, stopped when the last user releases it.
 */
import type { KubeObject } from '../../api/types.js';
import type { KubeClient, ResourceRef } from '../../kube/client.js';
import { Informer, type InformerHandlers } from '../../kube/informer.js';

interface Entry {
  informer: Informer<KubeObject>;
  users: number;
}

const shared = new WeakMap<KubeClient, Map<string, Entry>>();

export interface SharedInformer<T extends KubeObject> {
  readonly informer: Informer<T>;
  /** Adds handlers (they see the current cache as adds); removed again by `release`. */
  on(h: InformerHandlers<T>): void;
  /** Drops this user's handlers; the last user stops the informer. */
  release(): Promise<void>;
}

/** A started informer for `ref` on `client`, shared with the daemon's other components. */
export function sharedInformer<T extends KubeObject>(
  client: KubeClient,
  ref: ResourceRef,
  onError?: (err: unknown) => void,
): SharedInformer<T> {
  let byKey = shared.get(client);
  if (!byKey) {
    byKey = new Map();
    shared.set(client, byKey);
  }
  const key = `${ref.group}/${ref.version}/${ref.resource}`;
  let entry = byKey.get(key);
  if (!entry) {
    const informer = new Informer<KubeObject>(client, ref, { onError, watchTimeoutSeconds: 300 });
    entry = { informer, users: 0 };
    byKey.set(key, entry);
    informer.start();
  }
  entry.users++;
  const e = entry;
  const mine: InformerHandlers<T>[] = [];
  let released = false;
  return {
    informer: e.informer as unknown as Informer<T>,
    on(h) {
      // Handlers stay registered on the informer; a released user's handlers become no-ops.
      const guarded: InformerHandlers<T> = {
        onAdd: (o) => !released && h.onAdd?.(o),
        onUpdate: (a, b) => !released && h.onUpdate?.(a, b),
        onDelete: (o) => !released && h.onDelete?.(o),
      };
      mine.push(guarded);
      (e.informer as unknown as Informer<T>).addEventHandler(guarded);
    },
    async release() {
      if (released) return;
      released = true;
      e.users--;
      if (e.users === 0) {
        byKey.delete(key);
        await e.informer.stop();
      }
    },
  };
}
