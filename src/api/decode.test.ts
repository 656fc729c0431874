import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../util/field.js';
import { decodeManifests, formatDecodeError, parseFieldPath, withPositions } from './decode.js';

const NP = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: 80
    - port: "80"
    - port: http
      protocol: ICMP
`;

describe('decodeManifests', () => {
  it('decodes one document with positions of fields', () => {
    const { objects, errors } = decodeManifests(NP, 'np.yaml');
    expect(errors).toEqual([]);
    expect(objects).toHaveLength(1);
    const [d] = objects;
    expect(d.object.kind).toBe('NetworkPolicy');
    expect(d.pos).toEqual({ file: 'np.yaml', line: 1, col: 1 });
    expect(d.doc).toBe(0);
    expect(d.positionOf(['spec', 'ingress', 0, 'ports', 2, 'protocol'])).toEqual({ file: 'np.yaml', line: 12, col: 7 });
    expect(d.positionOf(['spec', 'ingress', 0, 'ports', 1])).toEqual({ file: 'np.yaml', line: 10, col: 7 });
    // missing field → nearest existing ancestor
    expect(d.positionOf(['spec', 'egress', 0])).toEqual({ file: 'np.yaml', line: 5, col: 1 });
  });

  it('keeps scalars as YAML typed them (kubectl YAML 1.1 rules)', () => {
    const { objects } = decodeManifests(
      `${NP}  egress:\n  - {}\nx:\n  on: yes\n  t: 2024-01-01T00:00:00Z\n  s: 12:30\n  o: 010\n`,
      'f',
    );
    const o = objects[0].object as unknown as {
      spec: { ingress: { ports: { port: unknown }[] }[] };
      x: Record<string, unknown>;
    };
    expect(o.spec.ingress[0].ports.map((p) => p.port)).toEqual([80, '80', 'http']);
    expect(o.x).toEqual({ true: true, t: '2024-01-01T00:00:00Z', s: '12:30', o: 8 });
  });

  it('maps validation errors to file:line:col', () => {
    const { objects } = decodeManifests(NP, 'np.yaml');
    const errs = withPositions(
      [{ type: 'NotSupported', field: 'spec.ingress[0].ports[2].protocol', value: 'ICMP', supported: ['TCP'] }],
      objects[0],
    );
    expect(errs[0].pos).toEqual({ file: 'np.yaml', line: 12, col: 7 });
    expect(formatFieldError(errs[0])).toBe(
      'spec.ingress[0].ports[2].protocol: Unsupported value: "ICMP": supported values: "TCP"',
    );
  });

  it('decodes several documents, skipping empty ones', () => {
    const text = `---\n${NP}---\n---\n# only a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n`;
    const { objects, errors } = decodeManifests(text, 'm.yaml');
    expect(errors).toEqual([]);
    expect(objects.map((o) => [o.object.kind, o.doc, o.pos.line])).toEqual([
      ['NetworkPolicy', 0, 2],
      ['Namespace', 3, 18],
    ]);
  });

  it('expands List objects with item positions', () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: a}
- apiVersion: cilium.io/v2
  kind: CiliumNetworkPolicy
  metadata:
    name: p
  spec:
    endpointSelector: {}
- kind: Pod
`;
    const { objects, errors } = decodeManifests(text, 'list.yaml');
    expect(objects.map((o) => [o.object.kind, o.pos.line, o.pos.col])).toEqual([
      ['Namespace', 4, 3],
      ['CiliumNetworkPolicy', 7, 3],
    ]);
    expect(objects[1].positionOf(['spec', 'endpointSelector'])).toEqual({ file: 'list.yaml', line: 12, col: 5 });
    expect(errors.map(formatDecodeError)).toEqual([
      'list.yaml:13:3: items[2]: error validating data: [apiVersion not set]',
    ]);
  });

  it('expands typed lists (NetworkPolicyList)', () => {
    const text = JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicyList',
      items: [{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'a' } }],
    });
    const { objects, errors } = decodeManifests(text, 'l.json');
    expect(errors).toEqual([]);
    expect(objects.map((o) => o.object.metadata.name)).toEqual(['a']);
  });

  it('reads JSON with positions', () => {
    const text =
      '{\n  "apiVersion": "v1",\n  "kind": "Pod",\n  "metadata": {"name": "p"},\n  "spec": {"containers": [{"name": "a"}]}\n}\n';
    const { objects, errors } = decodeManifests(text, 'p.json');
    expect(errors).toEqual([]);
    expect(objects[0].positionOf(['spec', 'containers', 0, 'name'])).toEqual({ file: 'p.json', line: 5, col: 28 });
  });

  it.each<[string, string, string[]]>([
    [
      'malformed YAML, other documents still decoded',
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nfoo: [1, 2\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n',
      ['bad.yaml:6:1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ],
    ['duplicate keys', 'apiVersion: v1\nkind: Namespace\nkind: Pod\n', ['bad.yaml:3:1: Map keys must be unique']],
    [
      'a sequence is not an object',
      '- a\n- b\n',
      ['bad.yaml:1:1: expected a Kubernetes object (a mapping with apiVersion and kind), got a sequence'],
    ],
    [
      'a scalar is not an object',
      'hello\n',
      ['bad.yaml:1:1: expected a Kubernetes object (a mapping with apiVersion and kind), got a string'],
    ],
    [
      'missing apiVersion and kind',
      'metadata:\n  name: x\n',
      ['bad.yaml:1:1: error validating data: [apiVersion not set, kind not set]'],
    ],
    ['kind of the wrong type', 'apiVersion: v1\nkind: 3\n', ['bad.yaml:2:1: kind must be a string, got a number']],
    [
      'List items not a sequence',
      'apiVersion: v1\nkind: List\nitems: {}\n',
      ['bad.yaml:3:1: items of List must be a sequence, got a mapping'],
    ],
  ])('%s', (_name, text, want) => {
    const { errors } = decodeManifests(text, 'bad.yaml');
    expect(errors.map(formatDecodeError)).toEqual(want);
  });

  it('keeps decoding around a malformed document', () => {
    const text =
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nfoo: [1, 2\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n';
    const { objects } = decodeManifests(text, 'bad.yaml');
    expect(objects.map((o) => [o.object.metadata.name, o.doc])).toEqual([
      ['a', 0],
      ['b', 2],
    ]);
  });

  it('empty input yields nothing', () => {
    expect(decodeManifests('', 'e.yaml')).toEqual({ objects: [], errors: [] });
    expect(decodeManifests('---\n', 'e.yaml')).toEqual({ objects: [], errors: [] });
  });

  it('refuses alias bombs without hanging', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefghij'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${'abcdefghij'[i]}`).join(', ')}]`),
    ].join('\n');
    const { objects, errors } = decodeManifests(`apiVersion: v1\nkind: ConfigMap\n${bomb}\n`, 'bomb.yaml');
    expect(objects).toEqual([]);
    expect(errors).toHaveLength(1);
  });
});

describe('parseFieldPath', () => {
  it.each<[string, (string | number)[]]>([
    ['spec.ingress[0].ports[1].port', ['spec', 'ingress', 0, 'ports', 1, 'port']],
    ['metadata.labels[app.kubernetes.io/name]', ['metadata', 'labels', 'app.kubernetes.io/name']],
    ['specs[2]', ['specs', 2]],
    ['', []],
  ])('%s', (field, want) => {
    expect(parseFieldPath(field)).toEqual(want);
  });
});
