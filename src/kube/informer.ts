/**
 * `Informer<T>`: a local cache of one resource kept current with list + watch, like client-go's
 * SharedIndexInformer. It lists (paged), then watches from the list's resourceVersion with bookmarks; when the
 * watch ends it re-watches from the last seen resourceVersion, and when that is too old (410 Gone) it relists and
 * replays the difference as add/update/delete events. `hasSynced()` turns true after the first complete list.
 */
import type { KubeObject } from '../api/types.js';
import { isGone, KubeApiError, type KubeClient, type ResourceRef, type WatchEvent } from './client.js';

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  /** Only this namespace (namespaced resources); all namespaces when unset. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout per request; the informer re-watches after it. Default 300 s. */
  watchTimeoutSeconds?: number;
  /** Delay before retrying after a connection error; doubles up to 30 s. Default 200 ms. */
  retryDelayMs?: number;
  /** Called for connection errors that will be retried (default: ignored). */
  onError?(err: unknown): void;
}

export function objectKey(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? '');
}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private synced = false;
  private stopped = true;
  private lastRV = '';
  private current?: { abort(): void };
  private syncWaiters: (() => void)[] = [];
  private loop?: Promise<void>;
  /** How many times the informer relisted (first list included). */
  relists = 0;

  constructor(
    private readonly client: KubeClient,
    readonly resource: ResourceRef,
    private readonly opts: InformerOptions = {},
  ) {}

  addEventHandler(h: InformerHandlers<T>): void {
    this.handlers.push(h);
    // Late handlers see the current state as adds, like client-go.
    if (this.synced) for (const o of this.cache.values()) h.onAdd?.(o);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been applied. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  /** The resourceVersion the cache reflects. */
  get resourceVersion(): string {
    return this.lastRV;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    await this.loop;
  }

  private emit(fn: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        fn(h);
      } catch {
        // handler errors must not stop the informer
      }
    }
  }

  private async relist(): Promise<void> {
    const list = await this.client.listAll<T>(this.resource, {
      namespace: this.opts.namespace,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    });
    this.relists++;
    const seen = new Set<string>();
    for (const o of list.items) {
      const k = objectKey(o);
      seen.add(k);
      const old = this.cache.get(k);
      this.cache.set(k, o);
      if (!old) this.emit((h) => h.onAdd?.(o));
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit((h) => h.onUpdate?.(old, o));
    }
    for (const [k, o] of [...this.cache]) {
      if (!seen.has(k)) {
        this.cache.delete(k);
        this.emit((h) => h.onDelete?.(o));
      }
    }
    this.lastRV = list.metadata.resourceVersion ?? '';
    if (!this.synced) {
      this.synced = true;
      const w = this.syncWaiters;
      this.syncWaiters = [];
      for (const f of w) f();
    }
  }

  private apply(ev: WatchEvent<T>): 'gone' | undefined {
    if (ev.type === 'ERROR') {
      const s = ev.object as unknown as { code?: number; reason?: string; message?: string };
      if (s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone') return 'gone';
      throw new KubeApiError(s.code ?? 500, s.reason ?? '', s.message ?? 'watch error');
    }
    const o = ev.object;
    const rv = o.metadata?.resourceVersion;
    if (rv) this.lastRV = rv;
    if (ev.type === 'BOOKMARK') return undefined;
    const k = objectKey(o);
    const old = this.cache.get(k);
    if (ev.type === 'DELETED') {
      this.cache.delete(k);
      this.emit((h) => h.onDelete?.(o));
    } else {
      this.cache.set(k, o);
      if (old) this.emit((h) => h.onUpdate?.(old, o));
      else this.emit((h) => h.onAdd?.(o));
    }
    return undefined;
  }

  private async run(): Promise<void> {
    let needList = true;
    let delay = this.opts.retryDelayMs ?? 200;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        let gone = false;
        const handle = this.client.watch<T>(
          this.resource,
          {
            namespace: this.opts.namespace,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
            resourceVersion: this.lastRV,
            allowWatchBookmarks: true,
            timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300,
          },
          (ev) => {
            if (gone) return;
            if (this.apply(ev) === 'gone') {
              gone = true;
              handle.abort();
            }
          },
        );
        this.current = handle;
        await handle.done;
        if (gone) needList = true;
        delay = this.opts.retryDelayMs ?? 200;
      } catch (e) {
        if (this.stopped) break;
        if (isGone(e)) needList = true;
        this.opts.onError?.(e);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }
}
