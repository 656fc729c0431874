/**
 * Watch fan-out. Every committed change is published once; each watcher filters it (resource, namespace,
 * selectors). Resume from a resourceVersion replays the store's bounded event history (compacted after
 * `historyLimit` writes); a resourceVersion older than that history is answered with 410 Gone, exactly the
 * contract informers rely on to relist.
 */
import type { Store, StoredEvent } from './storage.js';

export type WatchListener = (ev: StoredEvent) => void;

export class WatchHub {
  private readonly listeners = new Set<WatchListener>();

  constructor(private readonly store: Store) {}

  publish(ev: StoredEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(ev);
      } catch {
        // a failing watcher must not break the writer or other watchers
      }
    }
  }

  /**
   * Subscribes to live events after `fromRV`, first replaying retained history with rv > fromRV.
   * Returns undefined when `fromRV` is too old to resume (the caller answers 410 Gone).
   */
  subscribe(fromRV: number, listener: WatchListener): { replay: StoredEvent[]; cancel: () => void } | undefined {
    const replay = fromRV >= this.store.currentRV() ? [] : this.store.eventsSince(fromRV);
    if (replay === undefined) return undefined;
    this.listeners.add(listener);
    return { replay, cancel: () => this.listeners.delete(listener) };
  }

  /** Adds a listener for every future event (controllers inside the apiserver: garbage collection). */
  onEvent(listener: WatchListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get size(): number {
    return this.listeners.size;
  }
}
