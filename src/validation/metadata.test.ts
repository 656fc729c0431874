import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../util/field.js';
import { nameIsDNSLabel, nameIsDNSSubdomain } from './labels.js';
import { validateObjectMeta } from './metadata.js';

const fmt = (errs: { field: string }[]) => errs.map((e) => formatFieldError(e as never));

describe('metadata', () => {
  it.each<[string, unknown, boolean, string[]]>([
    [
      'name required',
      {},
      true,
      ['metadata.name: Required value: name or generateName is required', 'metadata.namespace: Required value'],
    ],
    ['generateName is enough', { generateName: 'web-', namespace: 'x' }, true, []],
    [
      'bad generateName',
      { generateName: 'Web-', namespace: 'x' },
      true,
      [
        "metadata.generateName: Invalid value: \"Web-\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ],
    ],
    [
      'bad namespace',
      { name: 'a', namespace: 'my.ns' },
      true,
      ['metadata.namespace: Invalid value: "my.ns": must not contain dots'],
    ],
    [
      'namespace on a cluster-scoped kind is a warning',
      { name: 'a', namespace: 'x' },
      false,
      ['metadata.namespace: Forbidden: not allowed on this type: Thing is cluster-scoped, the namespace is ignored'],
    ],
    [
      'metadata not an object',
      'x',
      true,
      ['metadata: Invalid value: "string": metadata in body must be of type object: "string"'],
    ],
    [
      'annotations keys',
      { name: 'a', namespace: 'x', annotations: { 'Example.com/OK': 'v', 'a/b/c': 'v' } },
      true,
      [
        "metadata.annotations: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
      ],
    ],
  ])('%s', (_name, meta, namespaced, want) => {
    expect(fmt(validateObjectMeta(meta, { namespaced, nameFn: nameIsDNSSubdomain, kind: 'Thing' }))).toEqual(want);
  });

  it('Namespace names are DNS-1123 labels', () => {
    expect(fmt(validateObjectMeta({ name: 'a.b' }, { namespaced: false, nameFn: nameIsDNSLabel }))).toEqual([
      'metadata.name: Invalid value: "a.b": must not contain dots',
    ]);
  });
});
