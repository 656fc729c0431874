import { describe, expect, it } from 'vitest';
import { syntheticCluster } from '../../bench/synthetic.js';
import { cluster, cnp, pod } from '../testing/builders.js';
import { evaluateFlow } from './evaluate.js';
import { compile } from './resolve/compile.js';
import { computeMatrix, parsePortProto, policiesForPods, resolveEndpoint } from './trace.js';

describe('computeMatrix', () => {
  it.each([1, 2, 3])('agrees cell by cell with evaluateFlow (synthetic cluster, seed %i)', (seed) => {
    const input = syntheticCluster({ pods: 120, policies: 120, seed });
    const compiled = compile(input);
    const m = computeMatrix(compiled, { port: 80, protocol: 'TCP' });
    let checked = 0;
    m.pods.forEach((from, i) => {
      m.pods.forEach((to, j) => {
        const src = compiled.pods.get(from)!;
        const dst = compiled.pods.get(to)!;
        const v = evaluateFlow(compiled, { srcIp: src.ip, dstIp: dst.ip, protocol: 'TCP', dport: 80 }).verdict;
        expect(m.rows[i]![j], `${from} -> ${to}`).toBe(v === 'allowed' ? '.' : 'X');
        checked++;
      });
    });
    expect(checked).toBe(m.pods.length ** 2);
    expect(m.denied).toBeGreaterThan(0);
  });

  it('marks L7 denials with L when a request is given', () => {
    const ds = pod('default/ds', '10.244.0.10', { app: 'ds' });
    const c = pod('default/c', '10.244.0.11', { app: 'c' });
    const p = cnp('l7', {
      endpointSelector: { matchLabels: { app: 'ds' } },
      ingress: [{ toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'GET' }] } }] }],
    });
    const compiled = compile(cluster([ds, c], [p]));
    const m = computeMatrix(compiled, { port: 80, protocol: 'TCP' }, { http: { method: 'PUT', path: '/' } });
    expect(m.pods).toEqual(['default/c', 'default/ds']);
    expect(m.rows).toEqual([
      ['.', 'L'],
      ['.', 'L'],
    ]);
    expect(computeMatrix(compiled, { port: 80, protocol: 'TCP' }, { http: { method: 'GET', path: '/' } }).rows).toEqual(
      [
        ['.', '.'],
        ['.', '.'],
      ],
    );
  });
});

describe('trace argument parsing', () => {
  it.each([
    ['80/TCP', { port: 80, protocol: 'TCP' }],
    ['53/udp', { port: 53, protocol: 'UDP' }],
    ['8080', { port: 8080, protocol: 'TCP' }],
    ['80/XTP', 'invalid port "80/XTP": want PORT[/PROTOCOL], e.g. 80/TCP'],
    ['0/TCP', 'invalid port "0/TCP": must be between 1 and 65535'],
  ])('%s', (input, want) => {
    expect(parsePortProto(input)).toEqual(want);
  });

  it('resolves pods, services, deployment prefixes and IPs', () => {
    const cl = cluster([pod('default/deathstar-abc-1', '10.244.0.10'), pod('other/x', '10.244.0.11')], []);
    cl.services.push({ namespace: 'default', name: 'deathstar', ports: [], selector: {} });
    expect(resolveEndpoint(cl, 'other/x', false)).toMatchObject({ kind: 'pod' });
    expect(resolveEndpoint(cl, 'deathstar', true)).toMatchObject({ kind: 'service' });
    expect(resolveEndpoint(cl, 'deathstar', false)).toMatchObject({ kind: 'pod' });
    expect(resolveEndpoint(cl, '192.0.2.1', false)).toEqual({ kind: 'ip', ip: '192.0.2.1' });
    expect(resolveEndpoint(cl, 'nope', false)).toBe('no pod "nope" in namespace "default"');
  });
});

describe('policiesForPods (what a one-shot trace compiles)', () => {
  it('gives the same verdict and attribution as compiling every policy', () => {
    const input = syntheticCluster({ pods: 600, policies: 300, seed: 11 });
    let narrowedSome = false;
    const full = compile(input);
    for (let i = 0; i < 60; i++) {
      const a = input.pods[(i * 37) % input.pods.length]!;
      const b = input.pods[(i * 53 + 7) % input.pods.length]!;
      const only = [`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`];
      const narrowed = policiesForPods(input, only);
      if (narrowed.policies.length < input.policies.length) narrowedSome = true;
      const part = compile(narrowed, { only });
      for (const port of [80, 443, 8080, 5432]) {
        const f = { srcIp: a.ip, dstIp: b.ip, protocol: 'TCP' as const, dport: port };
        const want = evaluateFlow(full, f);
        const got = evaluateFlow(part, f);
        expect({ v: got.verdict, r: got.dropReason, eg: got.egress.rules, ing: got.ingress.rules }).toEqual({
          v: want.verdict,
          r: want.dropReason,
          eg: want.egress.rules,
          ing: want.ingress.rules,
        });
      }
    }
    expect(narrowedSome).toBe(true);
  });
});
