import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../api/types.js';
import { SqliteStore } from './storage.js';
import { WatchHub } from './watch.js';

const pod = (name: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  ...extra,
});

describe('SqliteStore', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'pw-store-'));
    dirs.push(d);
    return join(d, 'state.db');
  };

  it('assigns monotonic resourceVersions and enforces preconditions', () => {
    const s = new SqliteStore({ path: ':memory:' });
    const a = s.put('pods', pod('a'), 'ADDED', 0);
    const b = s.put('pods', pod('b'), 'ADDED', 0);
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    expect(Number(b.object.metadata.resourceVersion)).toBe(Number(a.object.metadata.resourceVersion) + 1);
    expect(s.put('pods', pod('a'), 'ADDED', 0)).toEqual({ ok: false, reason: 'exists' });
    expect(s.put('pods', pod('a', { x: 1 }), 'MODIFIED', 999)).toEqual({ ok: false, reason: 'conflict' });
    const upd = s.put('pods', pod('a', { x: 1 }), 'MODIFIED', Number(a.object.metadata.resourceVersion));
    expect(upd.ok && upd.event.type).toBe('MODIFIED');
    const del = s.remove('pods', 'default', 'b');
    expect(del.ok && del.event.type).toBe('DELETED');
    expect(s.list('pods').map((o) => o.metadata.name)).toEqual(['a']);
    expect(s.eventsSince(0)?.map((e) => `${e.type} ${e.name}`)).toEqual([
      'ADDED a',
      'ADDED b',
      'MODIFIED a',
      'DELETED b',
    ]);
    s.close();
  });

  it('keeps resourceVersions increasing across reopen and compacts history', () => {
    const path = tmp();
    let s = new SqliteStore({ path, historyLimit: 10 });
    for (let i = 0; i < 600; i++) s.put('pods', pod(`p${i}`), 'ADDED', 0);
    const rv = s.currentRV();
    expect(s.eventsSince(1)).toBeUndefined();
    expect(s.eventsSince(rv - 5)).toHaveLength(5);
    s.close();
    s = new SqliteStore({ path, historyLimit: 10 });
    expect(s.currentRV()).toBe(rv);
    for (let i = 0; i < 600; i++) s.remove('pods', 'default', `p${i}`);
    expect(s.currentRV()).toBe(rv + 600);
    expect(s.list('pods')).toEqual([]);
    s.close();
    s = new SqliteStore({ path });
    const r = s.put('pods', pod('again'), 'ADDED', 0);
    expect(r.ok && Number(r.object.metadata.resourceVersion)).toBe(rv + 601);
    s.close();
  });

  it('watch hub replays history after a resourceVersion and then streams live events', () => {
    const s = new SqliteStore({ path: ':memory:' });
    const hub = new WatchHub(s);
    s.put('pods', pod('a'), 'ADDED', 0);
    const seen: string[] = [];
    const sub = hub.subscribe(0, (e) => seen.push(e.name));
    expect(sub?.replay.map((e) => e.name)).toEqual(['a']);
    const r = s.put('pods', pod('b'), 'ADDED', 0);
    if (r.ok) hub.publish(r.event);
    expect(seen).toEqual(['b']);
    sub?.cancel();
    s.close();
  });
});
