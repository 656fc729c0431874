/**
 * The agent's contract with the API: KubeClient + Informer against the podwall control plane over HTTPS
 * (client certificate from the kubeconfig): list then watch, add/update/delete handlers, hasSynced, selectors,
 * resume after an apiserver restart, and relist on 410 Gone when the history is compacted.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../api/types.js';
import { removeHome, startTestCluster, type TestCluster, waitFor } from '../apiserver/e2e/harness.js';
import { RESOURCES } from '../apiserver/resources.js';
import { KubeClient, loadKubeconfig } from './client.js';
import { Informer } from './informer.js';
import { RESOURCE_REFS } from './resources.js';

const PODS = RESOURCE_REFS.pods;

function pod(name: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  };
}

describe('KubeClient and Informer against the control plane', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.reverse()) await f();
    cleanup.length = 0;
  });

  async function cluster(opts: { historyLimit?: number; port?: number; home?: string } = {}): Promise<TestCluster> {
    const c = await startTestCluster(opts);
    return c;
  }

  it('lists, watches and reports add/update/delete with hasSynced', async () => {
    const c = await cluster();
    cleanup.push(() => removeHome(c.home));
    cleanup.push(() => c.stop());
    const client = new KubeClient(loadKubeconfig({ path: c.kubeconfig }));
    cleanup.push(() => client.close());
    await client.create(RESOURCE_REFS.pods, pod('before'));

    const inf = new Informer(client, PODS, { labelSelector: 'app!=ignored' });
    const events: string[] = [];
    inf.addEventHandler({
      onAdd: (o) => events.push(`add ${o.metadata.name}`),
      onUpdate: (_o, n) => events.push(`update ${n.metadata.name} ${n.metadata.labels?.v ?? ''}`),
      onDelete: (o) => events.push(`delete ${o.metadata.name}`),
    });
    expect(inf.hasSynced()).toBe(false);
    inf.start();
    cleanup.push(() => inf.stop());
    await inf.waitForSync();
    expect(inf.hasSynced()).toBe(true);
    expect(events).toEqual(['add before']);

    await client.create(PODS, pod('after'));
    await client.create(PODS, pod('hidden', { app: 'ignored' }));
    await client.patch(PODS, 'default', 'after', { metadata: { labels: { v: '2' } } });
    await client.delete(PODS, 'default', 'before');
    await waitFor(() => events.length >= 4, 5000, 'events');
    expect(events).toEqual(['add before', 'add after', 'update after 2', 'delete before']);
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['after']);
    // A label change that leaves the selector shows up as a delete.
    await client.patch(PODS, 'default', 'after', { metadata: { labels: { app: 'ignored' } } });
    await waitFor(() => events.length >= 5, 5000, 'delete by selector');
    expect(events[4]).toBe('delete after');
    expect(inf.relists).toBe(1);
  });

  it('turns API errors into KubeApiError with the Status reason', async () => {
    const c = await cluster();
    cleanup.push(() => removeHome(c.home));
    cleanup.push(() => c.stop());
    const client = new KubeClient(loadKubeconfig({ path: c.kubeconfig }));
    cleanup.push(() => client.close());
    await expect(client.get(PODS, 'default', 'missing')).rejects.toMatchObject({ code: 404, reason: 'NotFound' });
    await client.create(PODS, pod('x'));
    await expect(client.create(PODS, pod('x'))).rejects.toMatchObject({ code: 409, reason: 'AlreadyExists' });
    const cur = await client.get(PODS, 'default', 'x');
    await client.patch(PODS, 'default', 'x', { metadata: { labels: { a: 'b' } } });
    await expect(client.update(PODS, cur)).rejects.toMatchObject({ code: 409, reason: 'Conflict' });
  });

  it('resumes its watch after an apiserver restart without relisting', async () => {
    const c = await cluster();
    cleanup.push(() => removeHome(c.home));
    const port = c.server.port;
    const client = new KubeClient({ ...loadKubeconfig({ path: c.kubeconfig }) });
    cleanup.push(() => client.close());
    const inf = new Informer(client, PODS, { retryDelayMs: 50 });
    inf.start();
    cleanup.push(() => inf.stop());
    await inf.waitForSync();
    await c.stop();
    // Writes while the server is down (directly through the store), then the same port again.
    const c2 = await cluster({ home: c.home, port });
    cleanup.push(() => c2.stop());
    const podsInfo = RESOURCES.find((r) => r.resource === 'pods')!;
    c2.server.registry.create(podsInfo, 'default', pod('while-down'));
    await waitFor(() => inf.get('default', 'while-down') !== undefined, 10_000, 'resumed watch');
    expect(inf.relists).toBe(1);
  });

  it('relists on 410 Gone when the history it would resume from was compacted', async () => {
    const c = await cluster({ historyLimit: 10 });
    cleanup.push(() => removeHome(c.home));
    const port = c.server.port;
    const client = new KubeClient(loadKubeconfig({ path: c.kubeconfig }));
    cleanup.push(() => client.close());
    await client.create(PODS, pod('old'));
    const inf = new Informer(client, PODS, { retryDelayMs: 50 });
    const deleted: string[] = [];
    inf.addEventHandler({ onDelete: (o) => deleted.push(o.metadata.name ?? '') });
    inf.start();
    cleanup.push(() => inf.stop());
    await inf.waitForSync();
    const staleRV = inf.resourceVersion;
    await c.stop();
    const c2 = await cluster({ home: c.home, port, historyLimit: 10 });
    cleanup.push(() => c2.stop());
    const podsInfo = RESOURCES.find((r) => r.resource === 'pods')!;
    // 600 writes compact the event history well past the informer's resourceVersion.
    for (let i = 0; i < 300; i++) {
      c2.server.registry.create(podsInfo, 'default', pod(`p${i}`));
      c2.server.registry.delete(podsInfo, 'default', `p${i}`);
    }
    c2.server.registry.delete(podsInfo, 'default', 'old');
    c2.server.registry.create(podsInfo, 'default', pod('new'));
    expect(c2.store.eventsSince(Number(staleRV))).toBeUndefined();
    await waitFor(
      () => inf.get('default', 'new') !== undefined && inf.get('default', 'old') === undefined,
      10_000,
      'relist',
    );
    expect(inf.relists).toBe(2);
    expect(deleted).toEqual(['old']);
    // A raw watch from the stale resourceVersion gets the ERROR event with 410.
    const events: { type: string; object: { code?: number } }[] = [];
    const h = client.watch(PODS, { resourceVersion: staleRV }, (ev) => events.push(ev as (typeof events)[number]));
    await h.done;
    expect(events).toEqual([
      expect.objectContaining({ type: 'ERROR', object: expect.objectContaining({ code: 410 }) }),
    ]);
    void join;
  });
});
