/**
 * The offline commands as a user runs them: exit codes, what they print, errors without stack traces.
 * Runs the built CLI (dist/), building it first when it is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedPath } from '../testing/shared.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = `${ROOT}dist/src/cli/main.js`;
const SEED = sharedPath('seed');

function podwall(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: ROOT, input, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  if (!existsSync(MAIN)) spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
}, 120_000);

const BAD_NP = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: 30000
      endPort: 20000
      protocol: ICMP
`;

describe('podwall validate', () => {
  it('accepts the walkthrough manifests', () => {
    const r = podwall(['validate', '-f', SEED]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('7 object(s) valid');
  });
  it('reports every error with file:line:col and the apiserver wording', () => {
    const r = podwall(['validate', '-f', '-'], BAD_NP);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      '<stdin>:10:7: error: NetworkPolicy/default/bad: spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
    );
    expect(r.out).toContain(
      '<stdin>:9:7: error: NetworkPolicy/default/bad: spec.ingress[0].ports[0].endPort: Invalid value: 20000: must be greater than or equal to `port`',
    );
    expect(r.out).toContain('2 error(s) in 1 object(s)');
  });
  it('reports Cilium rejections with Cilium text', () => {
    const cnp = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: r, namespace: default}
spec:
  endpointSelector: {}
  ingress:
  - toPorts:
    - ports: [{port: "6581-6586"}]
`;
    const r = podwall(['validate', '-f', '-', '-o', 'json'], cnp);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc.valid).toBe(false);
    expect(doc.findings[0].message).toContain(
      'unable to parse port: strconv.ParseUint: parsing "6581-6586": invalid syntax',
    );
    expect(doc.findings[0].line).toBe(8);
  });
  it('points at malformed YAML and keeps reading the other documents', () => {
    const r = podwall(
      ['validate', '-f', '-'],
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\nkind: [unclosed\n`,
    );
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^<stdin>:[56]:\d+: Flow sequence/m);
    expect(r.err).not.toMatch(/at .*\.js:\d+/);
  });
  it('names unknown kinds like kubectl', () => {
    const r = podwall(['validate', '-f', '-'], 'apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n');
    expect(r.code).toBe(1);
    expect(r.out).toContain('no matches for kind "Widget" in version "v1"');
  });
  it.each([
    [['validate', '-f', '/nonexistent/x.yaml'], 'error: the path "/nonexistent/x.yaml" does not exist'],
    [['validate', '-f', SEED, '-o', 'xml'], 'error: unable to match a printer suitable for the output format "xml"'],
    [['validate', '--bogus'], "error: unknown option '--bogus'"],
    [
      ['policy', 'trace', '-f', SEED, '--from', 'nobody', '--to', 'deathstar'],
      'error: --from: no pod "nobody" in namespace "default"',
    ],
    [
      ['policy', 'trace', '-f', SEED, '--from', 'xwing', '--to', 'deathstar', '--port', '99999'],
      'error: invalid port "99999"',
    ],
  ])('user error %j gets a message and no stack', (args, message) => {
    const r = podwall(args);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(message);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('podwall policy trace', () => {
  it('L7: tiefighter PUT exhaust-port gets 403, naming the policy and the HTTP rule', () => {
    const r = podwall([
      'policy',
      'trace',
      '-f',
      `${SEED}/app.yaml`,
      '-f',
      `${SEED}/cilium/networkpolicy-L7.yaml`,
      '--from',
      'default/tiefighter',
      '--to',
      'default/deathstar',
      '--port',
      '80/TCP',
      '--http-method',
      'PUT',
      '--http-path',
      '/v1/exhaust-port',
    ]);
    expect(r.code).toBe(2);
    expect(r.out).toContain('Verdict: DENIED (L7: HTTP 403 "Access denied")');
    expect(r.out).toContain('L3/L4 allowed by CiliumNetworkPolicy default/rule1 spec.ingress[0]');
    expect(r.out).toContain('{method=POST path=/v1/request-landing}');
  });
  it('L3/L4: xwing is dropped by default deny, with the isolating policy and the nearest rule', () => {
    const r = podwall([
      'policy',
      'trace',
      '-f',
      `${SEED}/app.yaml`,
      '-f',
      `${SEED}/native/networkpolicy.yaml`,
      '--from',
      'xwing',
      '--to',
      'deathstar',
    ]);
    expect(r.code).toBe(2);
    expect(r.out).toContain('DROPPED (POLICY_DENIED): isolated for ingress by NetworkPolicy default/policy');
    expect(r.out).toContain('nearest: NetworkPolicy default/policy spec.ingress[0]');
    expect(r.out).toContain('Verdict: DENIED (L3/L4: packets dropped)');
  });
  it('allowed flows exit 0 and -o json is one object', () => {
    const r = podwall([
      'policy',
      'trace',
      '-f',
      `${SEED}/app.yaml`,
      '-f',
      `${SEED}/cilium/networkpolicy-L4.yaml`,
      '--from',
      'tiefighter',
      '--to',
      'deathstar',
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out);
    expect(t.verdict).toBe('allowed');
    expect(t.hops).toHaveLength(2);
    expect(t.hops[0].verdict.ingress.rules[0]).toMatchObject({
      kind: 'CiliumNetworkPolicy',
      name: 'rule1',
      path: 'spec.ingress[0]',
    });
  });
});

describe('podwall policy matrix', () => {
  it('prints the truth table', () => {
    const r = podwall([
      'policy',
      'matrix',
      '-f',
      `${SEED}/app.yaml`,
      '-f',
      `${SEED}/native/networkpolicy.yaml`,
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.out);
    const xwing = m.pods.indexOf('default/xwing');
    expect(m.matrix[xwing]).toMatch(/^XX\.\.$/);
    expect(m.denied).toBe(2);
  });
});

describe('podwall conformance run', () => {
  it('passes the shared suites and prints exactly one JSON object', () => {
    const r = podwall([
      'conformance',
      'run',
      sharedPath('conformance/k8s-netpol'),
      sharedPath('conformance/cilium/cases.yaml'),
      '-o',
      'json',
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.cases).toMatchObject({ total: 95, failed: 0 });
    expect(doc.checks.failed).toBe(0);
    expect(doc.failures).toEqual([]);
  });
  it('fails with the trace of why when an expectation is wrong', () => {
    const file = `${ROOT}testdata/conformance/wrong.yaml`;
    const r = podwall(['conformance', 'run', file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      'FAIL wrong-expectation (80/TCP a -> b): expected allowed, got denied-l3l4 (POLICY_DENIED)',
    );
    expect(r.out).toContain('isolated for ingress by CiliumNetworkPolicy default/p');
  });
});

describe('podwall lint', () => {
  it('finds what is valid but probably wrong', () => {
    const r = podwall(['lint', '-f', `${ROOT}testdata/lint/findings.yaml`, '-o', 'json']);
    expect(r.code).toBe(0);
    const codes = JSON.parse(r.out)
      .findings.map((f: { code: string }) => f.code)
      .sort();
    expect(codes).toEqual([
      'cidr-contains-pods',
      'deny-only-default-deny',
      'egress-blocks-dns',
      'empty-endpoints',
      'l7-shadowed',
      'selects-nothing',
    ]);
  });
});

describe('podwall observe', () => {
  it('rejects a filter it cannot apply before looking for a node, naming every bad value', () => {
    const r = podwall(['observe', '--drop-reason-desc', 'NOT_A_REASON', '--verdict', 'NOPE', '--home', '/nonexistent']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/^error: invalid --verdict "NOPE": want one of FORWARDED, DROPPED/m);
    expect(r.err).toMatch(/^invalid --drop-reason-desc "NOT_A_REASON": want one of INVALID_SOURCE_IP, POLICY_DENIED,/m);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('podwall up', () => {
  it('rejects an unknown --host-routing before starting anything', () => {
    const r = podwall(['up', '--host-routing', 'off', '--home', '/nonexistent/pw-home']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/^error: invalid --host-routing "off": expected bpf or legacy$/m);
  });
});
