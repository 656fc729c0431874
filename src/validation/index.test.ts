import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatFieldError } from '../util/field.js';
import { findUnknownFields, hasErrors, validateObject } from './index.js';

describe('validateObject dispatch', () => {
  it.each<[string, unknown, string[]]>([
    [
      'not an object',
      42,
      ['Invalid value: "integer": expected a Kubernetes object (a mapping with apiVersion and kind)'],
    ],
    ['no apiVersion/kind', {}, ['apiVersion: Required value', 'kind: Required value']],
    [
      'unknown kind',
      { apiVersion: 'v1', kind: 'Foo' },
      ['kind: Invalid value: "Foo": no matches for kind "Foo" in version "v1"'],
    ],
    [
      'known kind in the wrong version',
      { apiVersion: 'networking.k8s.io/v1beta1', kind: 'NetworkPolicy' },
      [
        'kind: Invalid value: "NetworkPolicy": no matches for kind "NetworkPolicy" in version "networking.k8s.io/v1beta1"',
      ],
    ],
    [
      'ConfigMap: metadata only',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'x' }, data: {} },
      [],
    ],
    [
      'Namespace is cluster-scoped with a DNS label name',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team.a' } },
      ['metadata.name: Invalid value: "team.a": must not contain dots'],
    ],
    [
      'ReplicaSet uses the workload checks',
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'r', namespace: 'x' }, spec: {} },
      ['spec.selector: Required value', 'spec.template: Required value'],
    ],
  ])('%s', (_name, obj, want) => {
    expect(validateObject(obj).map(formatFieldError)).toEqual(want);
  });
});

describe('never throws', () => {
  const kinds = [
    ['networking.k8s.io/v1', 'NetworkPolicy'],
    ['cilium.io/v2', 'CiliumNetworkPolicy'],
    ['cilium.io/v2', 'CiliumClusterwideNetworkPolicy'],
    ['v1', 'Pod'],
    ['v1', 'Service'],
    ['apps/v1', 'Deployment'],
    ['apps/v1', 'ReplicaSet'],
    ['v1', 'Namespace'],
  ] as const;
  const keys = fc.constantFrom(
    'spec',
    'specs',
    'metadata',
    'name',
    'ingress',
    'egress',
    'ingressDeny',
    'from',
    'to',
    'ports',
    'port',
    'endPort',
    'protocol',
    'toPorts',
    'rules',
    'http',
    'dns',
    'endpointSelector',
    'nodeSelector',
    'matchLabels',
    'matchExpressions',
    'podSelector',
    'ipBlock',
    'cidr',
    'except',
    'toCIDRSet',
    'toFQDNs',
    'icmps',
    'fields',
    'type',
    'containers',
    'selector',
    'template',
    'labels',
    'policyTypes',
    'key',
    'operator',
    'values',
  );
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.integer({ min: -5, max: 70000 }),
      fc.double(),
      fc.string(),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(keys, tie('value'), { maxKeys: 5 }),
    ),
  })).value;

  it('on arbitrary JSON shaped like known kinds', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), json, json, json, ([apiVersion, kind], metadata, spec, specs) => {
        const obj = { apiVersion, kind, metadata, spec, specs };
        const errs = validateObject(obj);
        expect(errs.every((e) => e.type !== 'Internal')).toBe(true);
        for (const e of errs) expect(typeof formatFieldError(e)).toBe('string');
        findUnknownFields(obj);
      }),
      { numRuns: 400 },
    );
  });

  it.each([null, undefined, 'x', [], [1], { apiVersion: 1, kind: [] }])('on %j', (v) => {
    expect(() => validateObject(v)).not.toThrow();
    expect(() => findUnknownFields(v)).not.toThrow();
  });
});

describe('findUnknownFields', () => {
  it.each<[string, unknown, string[]]>([
    [
      'typo in a NetworkPolicy',
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'p', labels: { anything: 'goes' } },
        spec: { podSelector: {}, ingres: [], ingress: [{ form: [{ podSelector: {} }], ports: [{ prot: 'TCP' }] }] },
      },
      [
        'spec.ingres: Forbidden: unknown field "spec.ingres"',
        'spec.ingress[0].form: Forbidden: unknown field "spec.ingress[0].form"',
        'spec.ingress[0].ports[0].prot: Forbidden: unknown field "spec.ingress[0].ports[0].prot"',
      ],
    ],
    [
      'top-level description in a CNP (old star-wars example)',
      {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        description: 'L7 policy',
        metadata: { name: 'rule1' },
        spec: {
          endpointSelector: {},
          ingress: [{ fromEndpoint: [{}], toPorts: [{ ports: [{ port: '80' }], rules: { http: [{ paths: '/' }] } }] }],
        },
      },
      [
        'description: Forbidden: unknown field "description"',
        'spec.ingress[0].fromEndpoint: Forbidden: unknown field "spec.ingress[0].fromEndpoint"',
        'spec.ingress[0].toPorts[0].rules.http[0].paths: Forbidden: unknown field "spec.ingress[0].toPorts[0].rules.http[0].paths"',
      ],
    ],
    [
      'Deployment template',
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: {
          selector: {},
          template: { metadata: { label: {} }, spec: { containers: [{ name: 'a', imgae: 'x' }] } },
        },
      },
      [
        'spec.template.metadata.label: Forbidden: unknown field "spec.template.metadata.label"',
        'spec.template.spec.containers[0].imgae: Forbidden: unknown field "spec.template.spec.containers[0].imgae"',
      ],
    ],
    ['kinds without a schema', { apiVersion: 'v1', kind: 'ConfigMap', whatever: 1 }, []],
  ])('%s', (_name, obj, want) => {
    const found = findUnknownFields(obj);
    expect(found.every((e) => e.severity === 'warning')).toBe(true);
    expect(found.map(formatFieldError)).toEqual(want);
  });
});

describe('no false positives on the shared NetworkPolicy conformance corpus', () => {
  const dir = new URL('../../../shared/conformance/k8s-netpol/cases/', import.meta.url);
  const objects: [string, unknown][] = [];
  const collect = (file: string, v: unknown) => {
    if (Array.isArray(v)) for (const x of v) collect(file, x);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.apiVersion === 'string' && typeof o.kind === 'string')
        objects.push([`${file} ${String((o.metadata as { name?: string })?.name)}`, o]);
      else for (const x of Object.values(o)) collect(file, x);
    }
  };
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.startsWith('090'))) {
    collect(f, parse(readFileSync(new URL(f, dir), 'utf8')));
  }
  // Templated values (`{{cidr4 x/b}}`) are filled in by the runner; skip those objects.
  const concrete = objects.filter(([, o]) => !JSON.stringify(o).includes('{{'));

  it('finds objects', () => {
    expect(concrete.length).toBeGreaterThan(30);
  });
  it.each(concrete)('%s', (_name, o) => {
    const errs = [...validateObject(o, { defaultNamespace: 'default' }), ...findUnknownFields(o)];
    expect(hasErrors(errs)).toBe(false);
    expect(errs.map(formatFieldError)).toEqual([]);
  });
});
