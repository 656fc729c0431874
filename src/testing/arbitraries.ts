/**
 * fast-check arbitraries for random clusters, policies and flows (test-only).
 *
 * Everything is drawn from small vocabularies so that selectors, CIDRs, named ports and HTTP rules actually hit
 * the generated pods and flows. Only VALID objects are generated (shared/docs/cilium-semantics.md §2 and the
 * Kubernetes NetworkPolicy API rules), by construction rather than by filtering through src/validation:
 * - one peer kind per Cilium rule (V4); `icmps` never with `toPorts` (V12);
 * - HTTP rules only on TCP, non-zero ports (V5, V6), never on port 53; DNS rules only on egress allow, port 53,
 *   no range (V7-V9), so one port never gets two L7 parsers (§3.2.5);
 * - deny sections carry no L7 and no toFQDNs (§2 "not rejected" notes); CIDR `except` strictly inside `cidr` (V15);
 * - label selectors use In/NotIn with values and Exists/DoesNotExist without (V17);
 * - NetworkPolicy `endPort` only with a numeric port; ipBlock CIDRs are prefixes (no bare IP).
 * Flows are generated as seeds (indices into the pod list) and turned into post-DNAT `Flow`s with `flowOfSeed`,
 * so they shrink together with the cluster.
 */
import fc from 'fast-check';
import type {
  AnyPolicy,
  CiliumCIDRRule,
  CiliumHttpRule,
  CiliumNetworkPolicy,
  CiliumPeerRule,
  CiliumPortProtocol,
  CiliumPortRule,
  CiliumRule,
  LabelSelector,
  LabelSelectorRequirement,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
} from '../api/types.js';
import type { ClusterInput, NamedPort, NamespaceInput, PodInput } from '../policy/cluster.js';
import type { Flow, PolicyKind, Protocol } from '../policy/types.js';

// ---- vocabularies ----

export const NAMESPACE_NAMES = ['default', 'alpha', 'beta'] as const;
const NS_LABELS: Record<string, readonly string[]> = { team: ['red', 'blue'], env: ['prod', 'dev'] };
const POD_LABELS: Record<string, readonly string[]> = {
  app: ['web', 'db', 'api'],
  role: ['frontend', 'backend'],
  tier: ['1', '2'],
};

/** The node's own address toward its pods (cilium_host sits in the pod CIDR), distinct from every pod IP. */
export const HOST_IP = '10.244.0.1';

/** Container ports a pod may declare; names are unique per pod, and so is each (port, protocol). */
const CONTAINER_PORTS: readonly NamedPort[] = [
  { name: 'http', port: 80, protocol: 'TCP' },
  { name: 'http', port: 8080, protocol: 'TCP' },
  { name: 'metrics', port: 9090, protocol: 'TCP' },
  { name: 'metrics', port: 9091, protocol: 'TCP' },
  { name: 'dns', port: 53, protocol: 'UDP' },
  { name: 'dns', port: 53, protocol: 'TCP' },
  { name: 'sctp', port: 7777, protocol: 'SCTP' },
];

/** Prefixes policies may name; `except` entries are taken from the ones strictly inside. */
const CIDRS = [
  '0.0.0.0/0',
  '10.0.0.0/8',
  '10.244.0.0/16',
  '10.244.1.0/24',
  '10.244.0.1/32',
  '203.0.113.0/24',
  '203.0.113.128/25',
  '203.0.113.10/32',
  '198.51.100.0/24',
  '8.8.8.8/32',
] as const;

/** External addresses flows use: inside and outside the prefixes above (10.244.9.9 is in the pod range, no pod). */
export const EXTERNAL_IPS = [
  '203.0.113.10',
  '203.0.113.129',
  '198.51.100.77',
  '198.51.100.1',
  '8.8.8.8',
  '10.10.0.5',
  '10.244.9.9',
  '192.0.2.7',
] as const;

/** What the DNS proxy has seen (§3.5 toFQDNs); a cluster gets a random subset. */
const DNS_ANSWERS: Record<string, string[]> = {
  'api.example.com': ['203.0.113.10'],
  'www.example.com': ['203.0.113.129', '198.51.100.77'],
  'cilium.io': ['8.8.8.8'],
  'sub.cilium.io': ['198.51.100.77'],
  'a.b.example.com': ['198.51.100.1'],
};
const DNS_QUERIES = [
  'api.example.com',
  'www.example.com',
  'a.b.example.com',
  'example.com',
  'cilium.io',
  'sub.cilium.io',
] as const;
const FQDN_SELECTORS = [
  { matchName: 'api.example.com' },
  { matchName: 'cilium.io' },
  { matchPattern: '*.example.com' },
  { matchPattern: '**.example.com' },
  { matchPattern: '*.cilium.io' },
  { matchPattern: '*' },
] as const;

const HTTP_METHODS = ['GET', 'POST', 'GET|HEAD', 'P.*'] as const;
const HTTP_PATHS = ['/', '/public', '/public/.*', '/api/v[0-9]+/.*', '/admin'] as const;
export const REQUEST_METHODS = ['GET', 'POST', 'PUT', 'HEAD'] as const;
export const REQUEST_PATHS = ['/', '/public', '/public/x', '/api/v1/users', '/admin', '/public?a=1'] as const;

/** Flow ports: the named ports' numbers, and both ends of (and just outside) every generated port range. */
const FLOW_PORTS = [
  80, 8080, 53, 9090, 9091, 8050, 443, 22, 7777, 1, 49, 50, 60, 61, 1024, 1025, 8000, 8100, 8101,
] as const;

function cidrsInside(outer: string): string[] {
  const bits = (c: string) => Number(c.split('/')[1]);
  const num = (c: string) =>
    c
      .split('/')[0]!
      .split('.')
      .reduce((a, o) => a * 256 + Number(o), 0);
  const inside = (o: string, i: string) => {
    const ob = bits(o);
    const div = 2 ** (32 - ob);
    return bits(i) > ob && Math.floor(num(i) / div) === Math.floor(num(o) / div);
  };
  return CIDRS.filter((c) => inside(outer, c));
}

// ---- generic helpers ----

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** Drops undefined fields so generated objects look like parsed YAML. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function subsetRecord(vocab: Record<string, readonly string[]>, min = 0): fc.Arbitrary<Record<string, string>> {
  const entries = Object.entries(vocab).map(([k, vs]) => fc.tuple(fc.constant(k), pick(vs)));
  return fc
    .subarray(entries, { minLength: min })
    .chain((chosen) =>
      chosen.length === 0 ? fc.constant({}) : fc.tuple(...chosen).map((kv) => Object.fromEntries(kv)),
    );
}

/** One matchExpressions entry; In/NotIn values come mostly from the key's own values so that they can hit. */
function requirementArb(vocab: Record<string, readonly string[]>): fc.Arbitrary<LabelSelectorRequirement> {
  const all = [...new Set(Object.values(vocab).flat())];
  return pick(Object.keys(vocab)).chain((key) =>
    fc.oneof(
      fc.record({
        key: fc.constant(key),
        operator: pick(['In', 'NotIn']),
        values: fc.oneof(
          { weight: 4, arbitrary: fc.subarray([...vocab[key]!], { minLength: 1 }) },
          { weight: 1, arbitrary: fc.subarray(all, { minLength: 1, maxLength: 2 }) },
        ),
      }),
      fc.record({ key: fc.constant(key), operator: pick(['Exists', 'DoesNotExist']) }),
    ),
  );
}

/** A LabelSelector over `vocab`; `{}` (select all) is one of the outcomes. `keyOf` maps a vocab key to a selector key. */
function selectorArb(
  vocab: Record<string, readonly string[]>,
  keyOf: (k: string) => string = (k) => k,
): fc.Arbitrary<LabelSelector> {
  const matchLabels = subsetRecord(vocab, 1).map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [keyOf(k), v])),
  );
  const matchExpressions = fc
    .array(requirementArb(vocab), { minLength: 1, maxLength: 2 })
    .map((rs) => rs.map((r) => ({ ...r, key: keyOf(r.key) })));
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 3, arbitrary: matchLabels.map((m) => ({ matchLabels: m })) },
    { weight: 2, arbitrary: matchExpressions.map((e) => ({ matchExpressions: e })) },
    {
      weight: 1,
      arbitrary: fc.tuple(matchLabels, matchExpressions).map(([m, e]) => ({ matchLabels: m, matchExpressions: e })),
    },
  );
}

const podSelectorArb = selectorArb(POD_LABELS);
const nsSelectorArb = selectorArb({ ...NS_LABELS, 'kubernetes.io/metadata.name': NAMESPACE_NAMES });

// ---- cluster topology ----

interface PodSeed {
  ipIndex: number;
  nsIndex: number;
  labels: Record<string, string>;
  ports: NamedPort[];
  serviceAccount?: string;
  /** A pending pod: selectable as a subject, contributes to its identity, never a flow endpoint. */
  noIp: boolean;
}

const IPS_PER_SUBNET = 30;

/** Pod IPs: 10.244.{1,2,3}.{2..31}, unique per cluster (10.244.0.0/24 is left to the node). */
function podIp(ipIndex: number): string {
  return `10.244.${1 + Math.floor(ipIndex / IPS_PER_SUBNET)}.${2 + (ipIndex % IPS_PER_SUBNET)}`;
}

const podSeedArb: fc.Arbitrary<PodSeed> = fc.record({
  ipIndex: fc.integer({ min: 0, max: 3 * IPS_PER_SUBNET - 1 }),
  nsIndex: fc.nat(2),
  labels: subsetRecord(POD_LABELS),
  ports: fc.uniqueArray(pick(CONTAINER_PORTS), { maxLength: 3, selector: (p) => p.name }),
  serviceAccount: maybe(pick(['default', 'robot'])),
  noIp: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

// ---- Kubernetes NetworkPolicy ----

const npPortArb: fc.Arbitrary<NetworkPolicyPort> = fc.oneof(
  fc.record({ protocol: maybe(pick(['TCP', 'UDP', 'SCTP'])), port: pick([80, 8080, 53, 9090, 7777]) }).map(compact),
  fc
    .record({ protocol: maybe(pick(['TCP', 'UDP', 'SCTP'])), port: pick(['http', 'metrics', 'dns', 'sctp']) })
    .map(compact),
  fc
    .record({
      protocol: maybe(pick(['TCP', 'UDP'])),
      range: pick([[8000, 8100] as const, [50, 60] as const, [1, 1024] as const]),
    })
    .map(({ protocol, range }) => compact({ protocol, port: range[0], endPort: range[1] })),
  fc.record({ protocol: pick(['TCP', 'UDP', 'SCTP']) }),
);

const ipBlockArb = pick(CIDRS).chain((cidr) => {
  const inside = cidrsInside(cidr);
  return (inside.length > 0 ? maybe(fc.subarray(inside, { minLength: 1 })) : fc.constant(undefined)).map((except) =>
    compact({ cidr, except }),
  );
});

const npPeerArb: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  fc.record({ podSelector: podSelectorArb }),
  fc.record({ namespaceSelector: nsSelectorArb }),
  fc.record({ podSelector: podSelectorArb, namespaceSelector: nsSelectorArb }),
  fc.record({ ipBlock: ipBlockArb }),
);

const npRuleBody = fc.record({
  peers: maybe(fc.array(npPeerArb, { maxLength: 3 })),
  ports: maybe(fc.array(npPortArb, { maxLength: 3 })),
});

/** A NetworkPolicy in `namespace` (rules only for the directions its policyTypes name). */
export function networkPolicyArb(namespace: string, name: string): fc.Arbitrary<NetworkPolicy> {
  return fc
    .record({
      podSelector: podSelectorArb,
      policyTypes: fc.constantFrom<string[] | undefined>(undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress']),
      ingress: maybe(fc.array(npRuleBody, { maxLength: 3 })),
      egress: maybe(fc.array(npRuleBody, { maxLength: 3 })),
    })
    .map(({ podSelector, policyTypes, ingress, egress }) => {
      const wants = (t: string) => policyTypes === undefined || policyTypes.includes(t);
      const spec: NetworkPolicy['spec'] = { podSelector };
      if (policyTypes) spec.policyTypes = [...policyTypes];
      if (ingress && wants('Ingress')) spec.ingress = ingress.map((r) => compact({ from: r.peers, ports: r.ports }));
      if (egress && wants('Egress')) spec.egress = egress.map((r) => compact({ to: r.peers, ports: r.ports }));
      return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
    });
}

// ---- Cilium policies ----

/** Cilium selector keys: bare (any: source) or `k8s:` prefixed. */
const ciliumPodSelectorArb = fc.oneof(
  selectorArb(POD_LABELS),
  selectorArb(POD_LABELS, (k) => `k8s:${k}`),
);

/** Peer selectors, including the forms that bypass namespace scoping (§3.4) and reserved labels. */
const ciliumPeerSelectorArb: fc.Arbitrary<LabelSelector> = fc.oneof<fc.WeightedArbitrary<LabelSelector>[]>(
  { weight: 5, arbitrary: ciliumPodSelectorArb },
  {
    weight: 1,
    arbitrary: fc
      .tuple(ciliumPodSelectorArb, pick(NAMESPACE_NAMES))
      .map(([s, ns]) => ({ matchLabels: { ...s.matchLabels, 'k8s:io.kubernetes.pod.namespace': ns } })),
  },
  {
    weight: 1,
    arbitrary: requirementArb({ 'io.kubernetes.pod.namespace': NAMESPACE_NAMES }).map((r) => ({
      matchExpressions: [r],
    })),
  },
  { weight: 1, arbitrary: selectorArb(NS_LABELS, (k) => `io.cilium.k8s.namespace.labels.${k}`) },
  { weight: 1, arbitrary: selectorArb({ 'io.cilium.k8s.policy.serviceaccount': ['default', 'robot'] }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<LabelSelector>(
      { matchLabels: { 'reserved:host': '' } },
      { matchLabels: { 'reserved:world': '' } },
    ),
  },
);

type PeerField = 'endpoints' | 'cidr' | 'cidrSet' | 'entities' | 'fqdns';

const cidrSetArb: fc.Arbitrary<CiliumCIDRRule> = ipBlockArb;

function ciliumPeersArb(allowFqdn: boolean): fc.Arbitrary<{ field?: PeerField; value?: unknown[] }> {
  const kinds: fc.WeightedArbitrary<{ field?: PeerField; value?: unknown[] }>[] = [
    { weight: 2, arbitrary: fc.constant({}) },
    {
      weight: 4,
      arbitrary: fc.record({
        field: fc.constant('endpoints' as const),
        value: fc.oneof(
          fc.constant([]),
          fc.constant([{}]),
          fc.array(ciliumPeerSelectorArb, { minLength: 1, maxLength: 2 }),
        ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        field: fc.constant('cidr' as const),
        value: fc.subarray([...CIDRS, '8.8.8.8'], { minLength: 1, maxLength: 2 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        field: fc.constant('cidrSet' as const),
        value: fc.array(cidrSetArb, { minLength: 1, maxLength: 2 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        field: fc.constant('entities' as const),
        value: fc.subarray(['world', 'cluster', 'host', 'all'], { minLength: 1, maxLength: 2 }),
      }),
    },
  ];
  if (allowFqdn) {
    kinds.push({
      weight: 3,
      arbitrary: fc.record({
        field: fc.constant('fqdns' as const),
        value: fc.subarray([...FQDN_SELECTORS], { minLength: 1, maxLength: 2 }),
      }),
    });
  }
  return fc.oneof(...kinds);
}

const l4PortArb: fc.Arbitrary<CiliumPortProtocol> = fc.oneof(
  fc
    .record({
      port: pick(['80', '8080', '53', '9090', '7777', '0', 'http', 'metrics', 'dns']),
      protocol: maybe(pick(['TCP', 'UDP', 'SCTP', 'ANY'])),
    })
    .map(compact),
  fc
    .record({
      range: pick([[8000, 8100] as const, [50, 60] as const, [1, 1024] as const]),
      protocol: maybe(pick(['TCP', 'UDP', 'ANY'])),
    })
    .map(({ range, protocol }) => compact({ port: String(range[0]), endPort: range[1], protocol })),
);

const httpPortArb: fc.Arbitrary<CiliumPortProtocol> = fc.oneof(
  fc.record({ port: pick(['80', '8080', 'http']), protocol: fc.constant('TCP') }),
  fc.constant({ port: '8000', endPort: 8100, protocol: 'TCP' }),
);

const httpRuleArb: fc.Arbitrary<CiliumHttpRule> = fc
  .record({ method: maybe(pick(HTTP_METHODS)), path: maybe(pick(HTTP_PATHS)) })
  .map(compact);

function portRuleArb(kind: 'allow' | 'deny', direction: 'ingress' | 'egress'): fc.Arbitrary<CiliumPortRule> {
  const l4 = fc.record({ ports: fc.array(l4PortArb, { minLength: 1, maxLength: 2 }) });
  if (kind === 'deny') return fc.oneof({ weight: 10, arbitrary: l4 }, { weight: 1, arbitrary: fc.constant({}) });
  const http = fc.record({
    ports: fc.array(httpPortArb, { minLength: 1, maxLength: 2 }),
    rules: fc.record({ http: fc.array(httpRuleArb, { minLength: 1, maxLength: 2 }) }),
  });
  const dns = fc.record({
    ports: fc.tuple(pick(['UDP', 'TCP', 'ANY'])).map(([protocol]) => [{ port: '53', protocol }]),
    rules: fc.record({ dns: fc.subarray([...FQDN_SELECTORS], { minLength: 1, maxLength: 2 }) }),
  });
  const arbs = [
    { weight: 6, arbitrary: l4 },
    { weight: 4, arbitrary: http },
    { weight: 1, arbitrary: fc.constant({}) },
  ];
  if (direction === 'egress') arbs.push({ weight: 3, arbitrary: dns });
  return fc.oneof(...arbs);
}

const icmpsArb = fc
  .subarray([8, 'EchoRequest', 0] as const, { minLength: 1, maxLength: 2 })
  .map((types) => [{ fields: types.map((type) => ({ type })) }]);

function ciliumRuleBodyArb(kind: 'allow' | 'deny', direction: 'ingress' | 'egress'): fc.Arbitrary<CiliumPeerRule> {
  return fc
    .record({
      peers: ciliumPeersArb(kind === 'allow' && direction === 'egress'),
      l4: fc.oneof(
        { weight: 2, arbitrary: fc.constant({}) },
        {
          weight: 5,
          arbitrary: fc.record({ toPorts: fc.array(portRuleArb(kind, direction), { minLength: 1, maxLength: 2 }) }),
        },
        { weight: 1, arbitrary: fc.record({ icmps: icmpsArb }) },
      ),
    })
    .map(({ peers, l4 }) => {
      const out: CiliumPeerRule = { ...l4 };
      const from = direction === 'ingress';
      switch (peers.field) {
        case 'endpoints':
          out[from ? 'fromEndpoints' : 'toEndpoints'] = peers.value as LabelSelector[];
          break;
        case 'cidr':
          out[from ? 'fromCIDR' : 'toCIDR'] = peers.value as string[];
          break;
        case 'cidrSet':
          out[from ? 'fromCIDRSet' : 'toCIDRSet'] = peers.value as CiliumCIDRRule[];
          break;
        case 'entities':
          out[from ? 'fromEntities' : 'toEntities'] = peers.value as string[];
          break;
        case 'fqdns':
          out.toFQDNs = peers.value as { matchName?: string; matchPattern?: string }[];
          break;
      }
      return out;
    });
}

const sectionArb = (kind: 'allow' | 'deny', direction: 'ingress' | 'egress') =>
  maybe(fc.array(ciliumRuleBodyArb(kind, direction), { maxLength: 2 }));

function ciliumRuleArb(clusterwide: boolean): fc.Arbitrary<CiliumRule> {
  return fc
    .record({
      endpointSelector: clusterwide ? fc.oneof(ciliumPodSelectorArb, ciliumPeerSelectorArb) : ciliumPodSelectorArb,
      ingress: sectionArb('allow', 'ingress'),
      egress: sectionArb('allow', 'egress'),
      ingressDeny: sectionArb('deny', 'ingress'),
      egressDeny: sectionArb('deny', 'egress'),
      enableDefaultDeny: maybe(fc.record({ ingress: fc.boolean(), egress: fc.boolean() }, { requiredKeys: [] })),
    })
    .map(compact)
    .filter((r) => [r.ingress, r.egress, r.ingressDeny, r.egressDeny].some((s) => (s?.length ?? 0) > 0));
}

/** A CiliumNetworkPolicy in `namespace`, or a CiliumClusterwideNetworkPolicy when `namespace` is undefined. */
export function ciliumPolicyArb(namespace: string | undefined, name: string): fc.Arbitrary<CiliumNetworkPolicy> {
  const clusterwide = namespace === undefined;
  const rules = fc.oneof(
    { weight: 4, arbitrary: ciliumRuleArb(clusterwide).map((spec) => ({ spec })) },
    {
      weight: 1,
      arbitrary: fc.array(ciliumRuleArb(clusterwide), { minLength: 1, maxLength: 2 }).map((specs) => ({ specs })),
    },
  );
  return rules.map((body) => ({
    apiVersion: 'cilium.io/v2',
    kind: clusterwide ? 'CiliumClusterwideNetworkPolicy' : 'CiliumNetworkPolicy',
    metadata: clusterwide ? { name } : { name, namespace },
    ...body,
  }));
}

// ---- whole clusters ----

export interface ClusterArbOptions {
  /** Policy kinds to generate (default: all three). */
  kinds?: readonly PolicyKind[];
  /** Policies per cluster (default 1..4). */
  minPolicies?: number;
  maxPolicies?: number;
}

/**
 * A random cluster: 1-3 namespaces, 2-8 pods with unique IPs (at least two; a few pods are pending, without an IP),
 * random policies of the requested kinds, the node.
 */
export function clusterArb(opts: ClusterArbOptions = {}): fc.Arbitrary<ClusterInput> {
  const kinds = opts.kinds ?? ['NetworkPolicy', 'CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy'];
  const policySeed = fc.record({ kind: pick(kinds), nsIndex: fc.nat(2) });
  return fc
    .record({
      nsCount: fc.integer({ min: 1, max: 3 }),
      nsLabels: fc.array(subsetRecord(NS_LABELS), { minLength: 3, maxLength: 3 }),
      pods: fc
        .uniqueArray(podSeedArb, { minLength: 2, maxLength: 8, selector: (p) => p.ipIndex })
        .filter((ps) => ps.filter((p) => !p.noIp).length >= 2),
      policySeeds: fc.array(policySeed, { minLength: opts.minPolicies ?? 1, maxLength: opts.maxPolicies ?? 4 }),
      dnsNames: fc.subarray(Object.keys(DNS_ANSWERS)),
    })
    .chain(({ nsCount, nsLabels, pods, policySeeds, dnsNames }) => {
      const nsOf = (i: number) => NAMESPACE_NAMES[i % nsCount]!;
      const policies = policySeeds.map((s, i) => {
        const name = `p${i}`;
        if (s.kind === 'NetworkPolicy') return networkPolicyArb(nsOf(s.nsIndex), name) as fc.Arbitrary<AnyPolicy>;
        return ciliumPolicyArb(
          s.kind === 'CiliumNetworkPolicy' ? nsOf(s.nsIndex) : undefined,
          name,
        ) as fc.Arbitrary<AnyPolicy>;
      });
      const namespaces: NamespaceInput[] = NAMESPACE_NAMES.slice(0, nsCount).map((name, i) => ({
        name,
        labels: nsLabels[i]!,
      }));
      const podInputs: PodInput[] = pods.map((p, i) => ({
        namespace: nsOf(p.nsIndex),
        name: `pod${i}`,
        labels: p.labels,
        ip: p.noIp ? '' : podIp(p.ipIndex),
        ports: p.ports,
        ...(p.serviceAccount ? { serviceAccount: p.serviceAccount } : {}),
      }));
      return fc.tuple(...policies).map(
        (ps): ClusterInput => ({
          namespaces,
          pods: podInputs,
          services: [],
          policies: ps,
          dnsCache: Object.fromEntries(dnsNames.map((n) => [n, DNS_ANSWERS[n]!])),
          hostIps: [HOST_IP],
        }),
      );
    });
}

// ---- flows ----

export type FlowShape = 'pod-pod' | 'host-pod' | 'pod-world' | 'world-pod' | 'pod-host';

/** An abstract flow: pod indices are taken modulo the cluster's pod count by `flowOfSeed`. */
export interface FlowSeed {
  shape: FlowShape;
  a: number;
  b: number;
  externalIp: string;
  protocol: Protocol;
  dport: number;
  icmpType: number;
  /** A request the flow carries: HTTP (with the TCP port it goes to), DNS (always to port 53), or none. */
  l7: { http: { method: string; path: string }; port: number } | { dns: { query: string } } | Record<string, never>;
}

export const flowSeedArb: fc.Arbitrary<FlowSeed> = fc.record({
  shape: fc.oneof(
    { weight: 6, arbitrary: fc.constant('pod-pod' as const) },
    { weight: 1, arbitrary: fc.constant('host-pod' as const) },
    { weight: 3, arbitrary: fc.constant('pod-world' as const) },
    { weight: 1, arbitrary: fc.constant('world-pod' as const) },
    { weight: 1, arbitrary: fc.constant('pod-host' as const) },
  ),
  a: fc.nat(7),
  b: fc.nat(7),
  externalIp: pick(EXTERNAL_IPS),
  protocol: fc.oneof(
    { weight: 6, arbitrary: fc.constant('TCP' as const) },
    { weight: 3, arbitrary: fc.constant('UDP' as const) },
    { weight: 1, arbitrary: fc.constant('SCTP' as const) },
    { weight: 1, arbitrary: fc.constant('ICMP' as const) },
  ),
  dport: pick(FLOW_PORTS),
  icmpType: pick([8, 0]),
  l7: fc.oneof(
    { weight: 2, arbitrary: fc.constant({}) },
    {
      weight: 3,
      arbitrary: fc.record({
        http: fc.record({ method: pick(REQUEST_METHODS), path: pick(REQUEST_PATHS) }),
        port: pick([80, 8080, 8050, 9090, 22]),
      }),
    },
    { weight: 2, arbitrary: fc.record({ dns: fc.record({ query: pick(DNS_QUERIES) }) }) },
  ),
});

/**
 * The post-DNAT flow a seed stands for in `cluster` (which needs ≥ 2 pods with IPs). Pod → pod never pairs a pod with
 * itself (hairpin skips policy in Cilium, §3.2, but is an ordinary peer for Kubernetes). A DNS query goes to TCP/UDP
 * port 53, an HTTP request to its own TCP port (never 53); on another protocol the seed's request is dropped.
 */
export function flowOfSeed(cluster: ClusterInput, seed: FlowSeed): Flow {
  const pods = cluster.pods.filter((p) => p.ip !== '');
  const n = pods.length;
  const a = pods[seed.a % n]!.ip;
  let bIndex = seed.b % n;
  if (seed.shape === 'pod-pod' && bIndex === seed.a % n) bIndex = (bIndex + 1) % n;
  const b = pods[bIndex]!.ip;
  const host = cluster.hostIps?.[0] ?? HOST_IP;
  const [srcIp, dstIp] = {
    'pod-pod': [a, b],
    'host-pod': [host, b],
    'pod-world': [a, seed.externalIp],
    'world-pod': [seed.externalIp, b],
    'pod-host': [a, host],
  }[seed.shape];
  const flow: Flow = { srcIp: srcIp!, dstIp: dstIp!, protocol: seed.protocol, dport: seed.dport };
  if (seed.protocol === 'ICMP') flow.dport = seed.icmpType;
  else if ('dns' in seed.l7 && seed.protocol !== 'SCTP') {
    flow.dport = 53;
    flow.dns = { ...seed.l7.dns };
  } else if ('http' in seed.l7 && seed.protocol === 'TCP') {
    flow.dport = seed.l7.port;
    flow.http = { ...seed.l7.http };
  }
  return flow;
}
