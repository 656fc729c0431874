import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatFieldError } from '../util/field.js';
import { validateObject } from './index.js';
import { defaultNetworkPolicy, validateNetworkPolicy } from './network-policy.js';

const np = (spec: unknown, metadata: unknown = { name: 'p', namespace: 'x' }) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata,
  spec,
});
const egressPorts = (...ports: unknown[]) => np({ podSelector: {}, policyTypes: ['Egress'], egress: [{ ports }] });
const fmt = (o: unknown) => validateNetworkPolicy(o).map(formatFieldError);

describe('validateNetworkPolicy', () => {
  it.each<[string, unknown, string[]]>([
    ['minimal deny-all is valid', np({ podSelector: {} }), []],
    [
      'full valid policy',
      np({
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [
              { podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: ['fe'] }] } },
              { namespaceSelector: {}, podSelector: {} },
              { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
            ],
            ports: [{ port: 80 }, { protocol: 'UDP', port: 'dns' }, { protocol: 'SCTP', port: 1000, endPort: 2000 }],
          },
        ],
        egress: [{}],
      }),
      [],
    ],
    [
      'unsupported protocol',
      egressPorts({ protocol: 'ICMP', port: 80 }),
      ['spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'],
    ],
    [
      'port out of range',
      egressPorts({ port: 70000 }),
      ['spec.egress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive'],
    ],
    [
      'quoted number is a (bad) port name',
      egressPorts({ port: '80' }),
      ['spec.egress[0].ports[0].port: Invalid value: "80": must contain at least one letter (a-z)'],
    ],
    [
      'endPort without port',
      egressPorts({ endPort: 20000 }),
      ['spec.egress[0].ports[0].endPort: Invalid value: 20000: may not be specified when `port` is not specified'],
    ],
    [
      'endPort with named port',
      egressPorts({ port: 'serve-80', endPort: 20000 }),
      ['spec.egress[0].ports[0].endPort: Invalid value: 20000: may not be specified when `port` is non-numeric'],
    ],
    [
      'endPort below port',
      egressPorts({ port: 30000, endPort: 20000 }),
      ['spec.egress[0].ports[0].endPort: Invalid value: 20000: must be greater than or equal to `port`'],
    ],
    [
      'endPort out of range',
      egressPorts({ port: 1, endPort: 65536 }),
      ['spec.egress[0].ports[0].endPort: Invalid value: 65536: must be between 1 and 65535, inclusive'],
    ],
    [
      'port of the wrong type',
      egressPorts({ port: true }),
      [
        'spec.egress[0].ports[0].port: Invalid value: "boolean": spec.egress[0].ports[0].port in body must be of type integer or string: "boolean"',
      ],
    ],
    [
      'empty peer',
      np({ podSelector: {}, ingress: [{ from: [{}] }] }),
      ['spec.ingress[0].from[0]: Required value: must specify a peer'],
    ],
    [
      'ipBlock with a selector',
      np({ podSelector: {}, ingress: [{ from: [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }] }] }),
      ['spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer'],
    ],
    [
      'ipBlock without cidr',
      np({ podSelector: {}, egress: [{ to: [{ ipBlock: {} }] }] }),
      ['spec.egress[0].to[0].ipBlock.cidr: Required value'],
    ],
    [
      'ipBlock bad cidr',
      np({ podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] }),
      [
        'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
      ],
    ],
    [
      'except outside / equal to / other family than cidr',
      np({
        podSelector: {},
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['192.168.0.0/16', '10.0.0.0/8', '::/0', 'x'] } }] }],
      }),
      [
        'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "192.168.0.0/16": must be a strict subset of `cidr`',
        'spec.egress[0].to[0].ipBlock.except[1]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`',
        'spec.egress[0].to[0].ipBlock.except[2]: Invalid value: "::/0": must be a strict subset of `cidr`',
        'spec.egress[0].to[0].ipBlock.except[3]: Invalid value: "x": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
      ],
    ],
    [
      'policyTypes unsupported value',
      np({ podSelector: {}, policyTypes: ['ingress'] }),
      ['spec.policyTypes[0]: Unsupported value: "ingress": supported values: "Ingress", "Egress"'],
    ],
    [
      'too many policyTypes',
      np({ podSelector: {}, policyTypes: ['Ingress', 'Egress', 'Ingress'] }),
      ['spec.policyTypes: Invalid value: ["Ingress","Egress","Ingress"]: may not specify more than two policyTypes'],
    ],
    [
      'selector operator and values',
      np({
        podSelector: {
          matchExpressions: [
            { key: 'a', operator: 'Equals', values: ['x'] },
            { key: 'b', operator: 'In' },
            { key: 'c', operator: 'Exists', values: ['x'] },
            { key: 'd', operator: 'NotIn', values: ['-x'] },
          ],
        },
      }),
      [
        'spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator',
        "spec.podSelector.matchExpressions[1].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        "spec.podSelector.matchExpressions[2].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        "spec.podSelector.matchExpressions[3].values[0]: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      ],
    ],
    [
      'all errors at once, metadata included',
      np(
        { podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP' }], from: [{}] }], egress: 'all' },
        { name: 'Bad_Name' },
      ),
      [
        "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        'metadata.namespace: Required value',
        'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'spec.ingress[0].from[0]: Required value: must specify a peer',
        'spec.egress: Invalid value: "string": spec.egress in body must be of type array: "string"',
      ],
    ],
  ])('%s', (_name, obj, want) => {
    expect(fmt(obj)).toEqual(want);
  });

  it('uses the default namespace when metadata.namespace is absent', () => {
    expect(validateObject(np({ podSelector: {} }, { name: 'p' }), { defaultNamespace: 'default' })).toEqual([]);
  });
});

describe('conformance case 090 (endPort API validation)', () => {
  const file = new URL('../../../shared/conformance/k8s-netpol/cases/090-api-endport-validation.yaml', import.meta.url);
  const doc = parse(readFileSync(file, 'utf8')) as {
    checks: { description: string; policy: { metadata: { labels: Record<string, string> } }; expect: string }[];
  };
  it('has the five checks', () => {
    expect(doc.checks).toHaveLength(5);
  });
  it.each(doc.checks.map((c, i) => [c.description, c, i] as const))('%s', (_d, check, i) => {
    // `<unique>` is a placeholder the runner replaces with a per-run value; substitute one here.
    const policy = structuredClone(check.policy);
    policy.metadata.labels = { 'special-label': `run-090-${i}` };
    const errs = validateObject(policy).filter((e) => e.severity !== 'warning');
    if (check.expect === 'accept') expect(errs.map(formatFieldError)).toEqual([]);
    else expect(errs.length).toBeGreaterThan(0);
  });
});

describe('defaultNetworkPolicy', () => {
  it.each<[string, unknown, unknown]>([
    ['no rules → Ingress only', { podSelector: {} }, { podSelector: {}, policyTypes: ['Ingress'] }],
    [
      'egress rules → Ingress and Egress, protocol TCP',
      { podSelector: {}, egress: [{ ports: [{ port: 53 }, { protocol: 'UDP', port: 53 }] }] },
      {
        podSelector: {},
        egress: [
          {
            ports: [
              { port: 53, protocol: 'TCP' },
              { protocol: 'UDP', port: 53 },
            ],
          },
        ],
        policyTypes: ['Ingress', 'Egress'],
      },
    ],
    [
      'explicit policyTypes kept',
      { podSelector: {}, policyTypes: ['Egress'], ingress: [{ ports: [{}] }] },
      { podSelector: {}, policyTypes: ['Egress'], ingress: [{ ports: [{ protocol: 'TCP' }] }] },
    ],
  ])('%s', (_name, spec, want) => {
    const input = np(spec);
    const before = JSON.stringify(input);
    expect(defaultNetworkPolicy(input).spec).toEqual(want);
    expect(JSON.stringify(input)).toBe(before);
  });

  it('copies garbage unchanged', () => {
    expect(defaultNetworkPolicy('x')).toBe('x');
    expect(defaultNetworkPolicy({ spec: 3 })).toEqual({ spec: 3 });
  });
});
