import { describe, expect, it } from 'vitest';
import { FieldPath, formatFieldError } from '../util/field.js';
import {
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  nameIsDNSSubdomain,
  validateLabels,
} from './labels.js';

const NAME_PART =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

describe('isQualifiedName', () => {
  it.each([
    ['simple', 'app', []],
    ['prefixed', 'app.kubernetes.io/name', []],
    ['bad start', '-bad', [NAME_PART]],
    ['empty prefix', '/name', ['prefix part must be non-empty']],
    ['uppercase prefix', 'Example.com/x', [`prefix part ${SUBDOMAIN}`]],
    ['empty name', 'example.com/', ['name part must be non-empty', NAME_PART]],
    ['too long', 'a'.repeat(64), ['name part must be no more than 63 characters']],
    [
      'two slashes',
      'a/b/c',
      [
        "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
      ],
    ],
  ])('%s', (_name, key, want) => {
    expect(isQualifiedName(key)).toEqual(want);
  });
});

describe('label values, DNS names, ports', () => {
  it.each([
    ['empty label value is valid', isValidLabelValue(''), []],
    ['label value with space', isValidLabelValue('a b'), [LABEL_VALUE]],
    ['label value too long', isValidLabelValue('a'.repeat(64)), ['must be no more than 63 characters']],
    ['dns label with dots', isDNS1123Label('a.b'), ['must not contain dots']],
    [
      'dns label uppercase',
      isDNS1123Label('Web'),
      [
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ],
    ],
    ['subdomain ok', isDNS1123Subdomain('a.b-c.d'), []],
    ['subdomain underscore', isDNS1123Subdomain('a_b'), [SUBDOMAIN]],
    [
      'dns-1035 starts with digit',
      isDNS1035Label('1web'),
      [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
      ],
    ],
    ['port 0', isValidPortNum(0), ['must be between 1 and 65535, inclusive']],
    ['port 65536', isValidPortNum(65536), ['must be between 1 and 65535, inclusive']],
    ['port name ok', isValidPortName('http-alt'), []],
    ['port name digits only', isValidPortName('80'), ['must contain at least one letter (a-z)']],
    [
      'port name bad',
      isValidPortName('-Http--x-this-is-long'),
      [
        'must be no more than 15 characters',
        'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        'must not contain consecutive hyphens',
        'must not begin or end with a hyphen',
      ],
    ],
    ['generateName may end with a dash', nameIsDNSSubdomain('web-', true), []],
  ])('%s', (_name, got, want) => {
    expect(got).toEqual(want);
  });
});

describe('validateLabels', () => {
  it('reports keys and values on the map path, like apimachinery', () => {
    const errs = validateLabels({ '-bad': 'x', good: '-bad', num: 1 }, FieldPath.root('metadata', 'labels'));
    expect(errs.map(formatFieldError)).toEqual([
      `metadata.labels: Invalid value: "-bad": ${NAME_PART}`,
      `metadata.labels: Invalid value: "-bad": ${LABEL_VALUE}`,
      'metadata.labels.num: Invalid value: "integer": metadata.labels.num in body must be of type string: "integer"',
    ]);
  });
});
