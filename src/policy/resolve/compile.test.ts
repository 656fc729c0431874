import { describe, expect, it } from 'vitest';
import { ccnp, cluster, cnp, flow, HOST_IP, np, pod } from '../../testing/builders.js';
import { evaluateFlow } from '../evaluate.js';
import { compile } from './compile.js';

const ds = pod('default/deathstar', '10.244.0.10', { org: 'empire', class: 'deathstar' }, [
  { name: 'http', port: 80, protocol: 'TCP' },
]);
const tie = pod('default/tiefighter', '10.244.0.11', { org: 'empire', class: 'tiefighter' });
const xw = pod('default/xwing', '10.244.0.12', { org: 'alliance', class: 'xwing' });
const other = pod('other/client', '10.244.1.10', { org: 'empire' });
const pods = [ds, tie, xw, other];

const l4 = cnp('rule1', {
  endpointSelector: { matchLabels: { org: 'empire', class: 'deathstar' } },
  ingress: [
    { fromEndpoints: [{ matchLabels: { org: 'empire' } }], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] },
  ],
});
const l7 = cnp('rule1', {
  endpointSelector: { matchLabels: { org: 'empire', class: 'deathstar' } },
  ingress: [
    {
      fromEndpoints: [{ matchLabels: { org: 'empire' } }],
      toPorts: [
        {
          ports: [{ port: '80', protocol: 'TCP' }],
          rules: { http: [{ method: 'POST', path: '/v1/request-landing' }] },
        },
      ],
    },
  ],
});

function verdict(policies: unknown[], f: ReturnType<typeof flow>, extraPods = pods) {
  const v = evaluateFlow(compile(cluster(extraPods, policies)), f);
  return v.dropReason ? `${v.verdict}/${v.dropReason}` : v.verdict;
}

describe('resolver semantics (named cases)', () => {
  it.each<[string, unknown[], ReturnType<typeof flow>, string]>([
    ['no policy: everything allowed', [], flow(xw.ip, ds.ip), 'allowed'],
    ['L4 CNP: empire ship allowed', [l4], flow(tie.ip, ds.ip), 'allowed'],
    ['L4 CNP: xwing dropped by default deny', [l4], flow(xw.ip, ds.ip), 'denied-l3l4/POLICY_DENIED'],
    ['L4 CNP: other port dropped', [l4], flow(tie.ip, ds.ip, 8080), 'denied-l3l4/POLICY_DENIED'],
    ['CNP peers are scoped to the policy namespace', [l4], flow(other.ip, ds.ip), 'denied-l3l4/POLICY_DENIED'],
    [
      'L7: allowed request',
      [l7],
      flow(tie.ip, ds.ip, 80, 'TCP', { method: 'POST', path: '/v1/request-landing' }),
      'allowed',
    ],
    [
      'L7: other request gets 403',
      [l7],
      flow(tie.ip, ds.ip, 80, 'TCP', { method: 'PUT', path: '/v1/exhaust-port' }),
      'denied-l7',
    ],
    [
      'L7 paths are full-string matches',
      [l7],
      flow(tie.ip, ds.ip, 80, 'TCP', { method: 'POST', path: '/v1/request-landing/x' }),
      'denied-l7',
    ],
    [
      'L4 allow from a NetworkPolicy cancels the CNP L7 rules',
      [
        l7,
        np('allow80', { podSelector: { matchLabels: { class: 'deathstar' } }, ingress: [{ ports: [{ port: 80 }] }] }),
      ],
      flow(tie.ip, ds.ip, 80, 'TCP', { method: 'PUT', path: '/v1/exhaust-port' }),
      'allowed',
    ],
    [
      'deny beats allow, whatever the specificity',
      [
        l4,
        cnp('deny', {
          endpointSelector: { matchLabels: { class: 'deathstar' } },
          ingressDeny: [{ fromEndpoints: [{ matchLabels: { class: 'tiefighter' } }] }],
        }),
      ],
      flow(tie.ip, ds.ip),
      'denied-l3l4/POLICY_DENY',
    ],
    [
      'deny port range covers an allowed port',
      [
        l4,
        cnp('deny', {
          endpointSelector: {},
          ingressDeny: [{ toPorts: [{ ports: [{ port: '1', endPort: 1024, protocol: 'TCP' }] }] }],
        }),
      ],
      flow(tie.ip, ds.ip),
      'denied-l3l4/POLICY_DENY',
    ],
    [
      'deny-only section turns on default deny',
      [
        cnp('deny', {
          endpointSelector: { matchLabels: { class: 'deathstar' } },
          ingressDeny: [{ fromEndpoints: [{ matchLabels: { class: 'xwing' } }] }],
        }),
      ],
      flow(tie.ip, ds.ip),
      'denied-l3l4/POLICY_DENIED',
    ],
    [
      'enableDefaultDeny false: only explicit denies drop',
      [
        cnp('deny', {
          endpointSelector: { matchLabels: { class: 'deathstar' } },
          enableDefaultDeny: { ingress: false },
          ingressDeny: [{ fromEndpoints: [{ matchLabels: { class: 'xwing' } }] }],
        }),
      ],
      flow(tie.ip, ds.ip),
      'allowed',
    ],
    [
      'L7 rules in a default-allow direction only give visibility',
      [
        cnp('vis', {
          endpointSelector: { matchLabels: { class: 'deathstar' } },
          enableDefaultDeny: { ingress: false },
          ingress: l7Ingress(),
        }),
      ],
      flow(tie.ip, ds.ip, 80, 'TCP', { method: 'PUT', path: '/v1/exhaust-port' }),
      'allowed',
    ],
    [
      'host reaches a pod under default deny (allow-localhost)',
      [l7],
      flow(HOST_IP, ds.ip, 80, 'TCP', { method: 'PUT', path: '/x' }),
      'allowed',
    ],
    [
      'a CCNP {} peer matches pods in every namespace',
      [ccnp('all', { endpointSelector: { matchLabels: { class: 'deathstar' } }, ingress: [{ fromEndpoints: [{}] }] })],
      flow(other.ip, ds.ip),
      'allowed',
    ],
    [
      'fromEndpoints: [] selects nothing',
      [cnp('empty', { endpointSelector: { matchLabels: { class: 'deathstar' } }, ingress: [{ fromEndpoints: [] }] })],
      flow(tie.ip, ds.ip),
      'denied-l3l4/POLICY_DENIED',
    ],
    [
      'a Cilium CIDR rule never matches a pod IP',
      [
        cnp('cidr', {
          endpointSelector: { matchLabels: { class: 'deathstar' } },
          ingress: [{ fromCIDR: ['10.244.0.0/16'] }],
        }),
      ],
      flow(tie.ip, ds.ip),
      'denied-l3l4/POLICY_DENIED',
    ],
    [
      'a Kubernetes ipBlock matches pod IPs',
      [
        np('ipb', {
          podSelector: { matchLabels: { class: 'deathstar' } },
          ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.0.12/32'] } }] }],
        }),
      ],
      flow(tie.ip, ds.ip),
      'allowed',
    ],
    [
      'ipBlock except carves the pod out',
      [
        np('ipb', {
          podSelector: { matchLabels: { class: 'deathstar' } },
          ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.0.12/32'] } }] }],
        }),
      ],
      flow(xw.ip, ds.ip),
      'denied-l3l4/POLICY_DENIED',
    ],
    [
      'named port resolves against the destination',
      [np('named', { podSelector: { matchLabels: { class: 'deathstar' } }, ingress: [{ ports: [{ port: 'http' }] }] })],
      flow(xw.ip, ds.ip, 80),
      'allowed',
    ],
    [
      'egress world CIDR with except',
      [
        cnp('eg', {
          endpointSelector: { matchLabels: { class: 'xwing' } },
          egress: [{ toCIDRSet: [{ cidr: '0.0.0.0/0', except: ['192.0.2.0/24'] }] }],
        }),
      ],
      flow(xw.ip, '192.0.2.7', 443),
      'denied-l3l4/POLICY_DENIED',
    ],
    [
      'egress world CIDR reaches an outside IP',
      [
        cnp('eg', {
          endpointSelector: { matchLabels: { class: 'xwing' } },
          egress: [{ toCIDRSet: [{ cidr: '0.0.0.0/0', except: ['192.0.2.0/24'] }] }],
        }),
      ],
      flow(xw.ip, '198.51.100.7', 443),
      'allowed',
    ],
  ])('%s', (_name, policies, f, want) => {
    expect(verdict(policies, f)).toBe(want);
  });
});

function l7Ingress() {
  return [
    {
      fromEndpoints: [{ matchLabels: { org: 'empire' } }],
      toPorts: [
        {
          ports: [{ port: '80', protocol: 'TCP' }],
          rules: { http: [{ method: 'POST', path: '/v1/request-landing' }] },
        },
      ],
    },
  ];
}

describe('compiled output', () => {
  it('is byte-identical across runs', () => {
    const a = JSON.stringify([...compile(cluster(pods, [l4, l7])).endpoints]);
    const b = JSON.stringify([...compile(cluster(pods, [l4, l7])).endpoints]);
    expect(a).toBe(b);
  });
  it('gives pods with the same labels one identity', () => {
    const r1 = pod('default/ds-1', '10.244.0.20', { org: 'empire', class: 'deathstar', 'pod-template-hash': 'abc' });
    const r2 = pod('default/ds-2', '10.244.0.21', { org: 'empire', class: 'deathstar', 'pod-template-hash': 'abc' });
    const c = compile(cluster([r1, r2], []));
    expect(c.universe.podIdentity.get('default/ds-1')).toBe(c.universe.podIdentity.get('default/ds-2'));
    expect(c.universe.podIdentity.get('default/ds-1')).toBeGreaterThanOrEqual(256);
  });
});

describe('entities on an IPv4-only node', () => {
  it.each([
    ['world', '203.0.113.9', 'allowed'],
    ['world-ipv4', '203.0.113.9', 'allowed'],
    ['world-ipv6', '203.0.113.9', 'denied-l3l4/POLICY_DENIED'],
    ['cluster', '203.0.113.9', 'denied-l3l4/POLICY_DENIED'],
    ['cluster', '10.244.0.11', 'allowed'],
    ['all', '203.0.113.9', 'allowed'],
  ])('toEntities [%s] -> %s', (entity, dst, want) => {
    const p = cnp('e', { endpointSelector: { matchLabels: { class: 'xwing' } }, egress: [{ toEntities: [entity] }] });
    expect(verdict([p], flow(xw.ip, dst, 443))).toBe(want);
  });
});
