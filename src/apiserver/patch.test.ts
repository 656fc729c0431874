import { describe, expect, it } from 'vitest';

// biome-ignore lint/suspicious/noExplicitAny: assertions walk patched JSON
type Any = any;

import { type Json, jsonMergePatch, jsonPatch, PATCH_META, PatchError, strategicMergePatch } from './patch.js';

const deployment = {
  metadata: { name: 'd', labels: { a: '1' }, finalizers: ['x'] },
  spec: {
    replicas: 2,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%' } },
    template: {
      spec: {
        containers: [
          {
            name: 'web',
            image: 'web:1',
            ports: [{ containerPort: 80 }, { containerPort: 443 }],
            env: [{ name: 'A', value: '1' }],
          },
          { name: 'side', image: 'side:1' },
        ],
      },
    },
  },
} as unknown as Json;

describe('strategic merge patch', () => {
  const meta = PATCH_META.Deployment;
  const cases: { name: string; patch: Json; check: (out: Any) => void }[] = [
    {
      name: 'merges containers by name and keeps the others',
      patch: { spec: { template: { spec: { containers: [{ name: 'web', image: 'web:2' }] } } } },
      check: (o) => {
        expect(o.spec.template.spec.containers.map((c: Any) => [c.name, c.image])).toEqual([
          ['web', 'web:2'],
          ['side', 'side:1'],
        ]);
        expect(o.spec.template.spec.containers[0].ports).toHaveLength(2);
      },
    },
    {
      name: 'deletes a container with $patch: delete and a port by containerPort',
      patch: {
        spec: {
          template: {
            spec: {
              containers: [
                { name: 'side', $patch: 'delete' },
                { name: 'web', ports: [{ containerPort: 443, $patch: 'delete' }] },
              ],
            },
          },
        },
      },
      check: (o) => {
        expect(o.spec.template.spec.containers.map((c: Any) => c.name)).toEqual(['web']);
        expect(o.spec.template.spec.containers[0].ports).toEqual([{ containerPort: 80 }]);
      },
    },
    {
      name: 'null deletes a map key; labels merge',
      patch: { metadata: { labels: { a: null, b: '2' } } },
      check: (o) => expect(o.metadata.labels).toEqual({ b: '2' }),
    },
    {
      name: 'applies $retainKeys as kubectl sends it for a strategy change',
      patch: { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } },
      check: (o) => expect(o.spec.strategy).toEqual({ type: 'Recreate' }),
    },
    {
      name: 'reorders by $setElementOrder/containers',
      patch: { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'web' }] } } } },
      check: (o) => expect(o.spec.template.spec.containers.map((c: Any) => c.name)).toEqual(['side', 'web']),
    },
    {
      name: 'primitive merge lists union, $deleteFromPrimitiveList removes',
      patch: { metadata: { finalizers: ['y'], '$deleteFromPrimitiveList/finalizers': ['x'] } },
      check: (o) => expect(o.metadata.finalizers).toEqual(['y']),
    },
    {
      name: 'lists without a strategy are replaced',
      patch: { spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'B', value: '2' }] }] } } } },
      check: (o) =>
        expect(o.spec.template.spec.containers[0].env).toEqual([
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ]),
    },
  ];
  for (const c of cases) it(c.name, () => c.check(strategicMergePatch(deployment, c.patch, meta)));

  it('replaces atomic lists (NetworkPolicy ingress)', () => {
    const np = { spec: { ingress: [{ from: [{ podSelector: {} }] }, { ports: [{ port: 80 }] }] } } as unknown as Json;
    const out = strategicMergePatch(
      np,
      { spec: { ingress: [{ ports: [{ port: 81 }] }] } },
      PATCH_META.NetworkPolicy,
    ) as Any;
    expect(out.spec.ingress).toEqual([{ ports: [{ port: 81 }] }]);
  });
});

describe('JSON merge patch and JSON patch', () => {
  it('merge patch: maps merge, null deletes, lists replace', () => {
    expect(jsonMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
  it('json patch: add, replace, remove, test, move, copy, append with -', () => {
    const doc = { a: [1, 2], b: { c: 'x' } } as Json;
    const out = jsonPatch(doc, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'replace', path: '/b/c', value: 'y' },
      { op: 'test', path: '/b/c', value: 'y' },
      { op: 'copy', from: '/b/c', path: '/d' },
      { op: 'move', from: '/d', path: '/e' },
      { op: 'remove', path: '/a/0' },
      { op: 'add', path: '/b/k~1v', value: true },
    ]);
    expect(out).toEqual({ a: [2, 3], b: { c: 'y', 'k/v': true }, e: 'y' });
    expect(doc).toEqual({ a: [1, 2], b: { c: 'x' } });
  });
  it('json patch errors are PatchErrors', () => {
    expect(() => jsonPatch({}, [{ op: 'remove', path: '/x' }])).toThrow(PatchError);
    expect(() => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(PatchError);
  });
});
