import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatFieldError } from '../util/field.js';
import { type CiliumValidationOptions, goParseUint16, goRegexpError, validateCiliumPolicy } from './cilium-policy.js';
import { findUnknownFields, hasErrors, validateObject } from './index.js';

const cnp = (spec: unknown, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'p', namespace: 'default' },
  spec,
  ...extra,
});
const ccnp = (spec: unknown) => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumClusterwideNetworkPolicy',
  metadata: { name: 'p' },
  spec,
});
const ep = { endpointSelector: {} };
const http = (ports: unknown[], rules: unknown = { http: [{ method: 'GET' }] }) => ({ toPorts: [{ ports, rules }] });
const fmt = (o: unknown, opts?: CiliumValidationOptions) =>
  validateCiliumPolicy(o, opts).map((e) =>
    e.severity === 'warning' ? `warning: ${formatFieldError(e)}` : formatFieldError(e),
  );

describe('validateCiliumPolicy: the semantics table (V1–V24) and the CRD schema', () => {
  it.each<[string, unknown, string[], CiliumValidationOptions?]>([
    [
      'valid L3/L4 policy',
      cnp({ ...ep, ingress: [{ fromEndpoints: [{}], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] }] }),
      [],
    ],
    [
      'V1 neither selector',
      cnp({ ingress: [{}] }),
      [
        'spec: Invalid value: "object": must validate one and only one schema (oneOf); rule must have one of EndpointSelector or NodeSelector',
      ],
    ],
    [
      'V2 no direction at all',
      cnp({ ...ep }),
      [
        'spec: Invalid value: "object": must validate at least one schema (anyOf); rule must have at least one of Ingress, IngressDeny, Egress, EgressDeny',
      ],
    ],
    [
      'V3 directions present but empty',
      cnp({ ...ep, ingress: [], egress: [], enableDefaultDeny: { ingress: true } }),
      ['spec: Required value: rule must have at least one of Ingress, IngressDeny, Egress, EgressDeny'],
    ],
    [
      'V4 two peer kinds (ingress)',
      cnp({ ...ep, ingress: [{ fromEndpoints: [{}], fromCIDR: ['10.0.0.0/8'] }] }),
      ['spec.ingress[0]: Forbidden: combining FromEndpoints and FromCIDR is not supported yet'],
    ],
    [
      'V4 toFQDNs with toEndpoints',
      cnp({ ...ep, egress: [{ toEndpoints: [{}], toFQDNs: [{ matchName: 'a.com' }] }] }),
      ['spec.egress[0]: Forbidden: combining ToEndpoints and ToFQDNs is not supported yet'],
    ],
    [
      'toFQDNs with toPorts and HTTP is valid',
      cnp({ ...ep, egress: [{ toFQDNs: [{ matchPattern: '*.a.com' }], ...http([{ port: '80', protocol: 'TCP' }]) }] }),
      [],
    ],
    [
      'V5 L7 on UDP',
      cnp({ ...ep, ingress: [http([{ port: '80', protocol: 'UDP' }])] }),
      [
        'spec.ingress[0].toPorts[0].ports[0].protocol: Invalid value: "UDP": L7 rules can only apply to TCP (not UDP) except for DNS rules',
      ],
    ],
    [
      'V6 L7 on port 0',
      cnp({ ...ep, ingress: [http([{ port: '0', protocol: 'TCP' }])] }),
      ['spec.ingress[0].toPorts[0].ports[0].port: Invalid value: "0": L7 rules can not be used when a port is 0'],
    ],
    [
      'V7 DNS without ports',
      cnp({ ...ep, egress: [{ toEndpoints: [{}], toPorts: [{ rules: { dns: [{ matchPattern: '*' }] } }] }] }),
      ['spec.egress[0].toPorts[0].ports: Required value: port 53 must be specified for DNS rules'],
    ],
    [
      'V8 DNS with a port range',
      cnp({ ...ep, egress: [http([{ port: '53', endPort: 54, protocol: 'UDP' }], { dns: [{ matchName: 'a.com' }] })] }),
      ['spec.egress[0].toPorts[0].ports[0].endPort: Invalid value: 54: DNS rules do not support port ranges'],
    ],
    [
      'DNS rules on ANY/UDP are fine',
      cnp({
        ...ep,
        egress: [http([{ port: '53' }, { port: '53', protocol: 'UDP' }], { dns: [{ matchPattern: '*' }] })],
      }),
      [],
    ],
    [
      'V9 DNS on ingress',
      cnp({ ...ep, ingress: [http([{ port: '53', protocol: 'UDP' }], { dns: [{ matchName: 'a.com' }] })] }),
      ['spec.ingress[0].toPorts[0].rules.dns: Forbidden: L7 protocol DNS is not supported on ingress yet'],
    ],
    [
      'V10 two L7 kinds',
      cnp({ ...ep, egress: [http([{ port: '53', protocol: 'TCP' }], { http: [{}], dns: [{ matchName: 'a.com' }] })] }),
      [
        'spec.egress[0].toPorts[0].rules: Invalid value: "object": must validate one and only one schema (oneOf); multiple L7 protocol rule types specified in single rule',
      ],
    ],
    [
      'V11 bad HTTP regexes',
      cnp({
        ...ep,
        ingress: [http([{ port: '80', protocol: 'TCP' }], { http: [{ path: '*', method: 'GET(', host: '[z-a]' }] })],
      }),
      [
        'spec.ingress[0].toPorts[0].rules.http[0].path: Invalid value: "*": error parsing regexp: missing argument to repetition operator: `*`',
        'spec.ingress[0].toPorts[0].rules.http[0].method: Invalid value: "GET(": error parsing regexp: missing closing ): `GET(`',
        'spec.ingress[0].toPorts[0].rules.http[0].host: Invalid value: "[z-a]": error parsing regexp: invalid character class range: `z-a`',
      ],
    ],
    [
      'V12 icmps with toPorts',
      cnp({ ...ep, egress: [{ icmps: [{ fields: [{ type: 8 }] }], toPorts: [{ ports: [{ port: '80' }] }] }] }),
      [
        'spec.egress[0].icmps: Forbidden: the ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts',
      ],
    ],
    [
      'V13 more than 40 ports',
      cnp({
        ...ep,
        ingress: [{ toPorts: [{ ports: Array.from({ length: 41 }, (_, i) => ({ port: String(i + 1) })) }] }],
      }),
      ['spec.ingress[0].toPorts[0].ports: Too many: 41: must have at most 40 items'],
    ],
    [
      'V14 unparsable ports',
      cnp({
        ...ep,
        ingress: [
          { toPorts: [{ ports: [{ port: '6581-6586' }, { port: '70000' }, { port: '0x50' }, { port: 'http' }] }] },
        ],
      }),
      [
        'spec.ingress[0].toPorts[0].ports[0].port: Invalid value: "6581-6586": unable to parse port: strconv.ParseUint: parsing "6581-6586": invalid syntax',
        'spec.ingress[0].toPorts[0].ports[1].port: Invalid value: "70000": unable to parse port: strconv.ParseUint: parsing "70000": value out of range',
      ],
    ],
    [
      'V15 except not inside cidr, and bad CIDRs',
      cnp({
        ...ep,
        egress: [
          { toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['192.168.0.0/16', '10.0.0.0/7'] }, { cidr: '10.0.0.1' }, {}] },
          { toCIDR: ['10.0.0.300', '10.1.2.3'] },
        ],
      }),
      [
        'spec.egress[0].toCIDRSet[0].except[0]: Invalid value: "192.168.0.0/16": allow CIDR prefix 10.0.0.0/8 does not contain exclude CIDR prefix 192.168.0.0/16',
        'spec.egress[0].toCIDRSet[0].except[1]: Invalid value: "10.0.0.0/7": allow CIDR prefix 10.0.0.0/8 does not contain exclude CIDR prefix 10.0.0.0/7',
        'spec.egress[0].toCIDRSet[1].cidr: Invalid value: "10.0.0.1": unable to parse CIDRRule "10.0.0.1": netip.ParsePrefix("10.0.0.1"): no \'/\'',
        'spec.egress[0].toCIDRSet[2]: Invalid value: "object": must validate one and only one schema (oneOf); one of cidr, cidrGroupRef, or cidrGroupSelector is required',
        'spec.egress[1].toCIDR[0]: Invalid value: "10.0.0.300": unable to parse CIDR: ParseAddr("10.0.0.300"): IPv4 field has value >255',
      ],
    ],
    [
      'V16 unknown entity',
      cnp({ ...ep, egress: [{ toEntities: ['world', 'internet'] }] }),
      [
        'spec.egress[0].toEntities[1]: Unsupported value: "internet": supported values: "host", "remote-node", "kube-apiserver", "world", "world-ipv4", "world-ipv6", "cluster", "init", "health", "unmanaged", "ingress", "all", "none"',
      ],
    ],
    [
      'V17 selector operator, missing key, In without values',
      cnp({
        endpointSelector: {
          matchExpressions: [
            { key: 'app', operator: 'asdf' },
            { operator: 'Exists' },
            { key: 'k8s:role', operator: 'In' },
          ],
        },
        ingress: [{}],
      }),
      [
        'spec.endpointSelector.matchExpressions[0].operator: Unsupported value: "asdf": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
        'spec.endpointSelector.matchExpressions[1].key: Required value',
        "spec.endpointSelector.matchExpressions[2].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
      ],
    ],
    [
      'source-prefixed selector keys are valid',
      cnp({
        endpointSelector: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'any:app': 'x' } },
        ingress: [{ fromEndpoints: [{ matchLabels: { 'reserved:host': '' } }] }],
      }),
      [],
    ],
    [
      'matchLabels value fails the CRD pattern',
      cnp({ endpointSelector: { matchLabels: { app: 'a b' } }, ingress: [{}] }),
      [
        'spec.endpointSelector.matchLabels.app: Invalid value: "a b": spec.endpointSelector.matchLabels.app in body should match \'^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$\'',
      ],
    ],
    [
      'V18 serverNames with L7 and no TLS termination',
      cnp({
        ...ep,
        egress: [
          { toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }], serverNames: ['a.com'], rules: { http: [{}] } }] },
        ],
      }),
      [
        'spec.egress[0].toPorts[0].serverNames: Forbidden: ServerNames are not allowed with L7 rules without TLS termination',
      ],
    ],
    [
      'V19 HTTP in a host egress policy',
      ccnp({ nodeSelector: {}, egress: [http([{ port: '80', protocol: 'TCP' }])] }),
      [
        'warning: spec.nodeSelector: Forbidden: host policies (nodeSelector) are parsed and validated but not enforced by podwall yet',
        'spec.egress[0].toPorts[0].rules.http: Forbidden: L7 protocol HTTP is not supported on host egress yet',
      ],
    ],
    [
      'V20 listener on ingress / with L7',
      cnp({
        ...ep,
        ingress: [
          {
            toPorts: [
              { ports: [{ port: '80', protocol: 'TCP' }], listener: { name: 'l1', envoyConfig: { name: 'cec' } } },
            ],
          },
        ],
        egress: [
          {
            toPorts: [
              {
                ports: [{ port: '80', protocol: 'TCP' }],
                listener: { name: 'l2', envoyConfig: { name: 'cec' } },
                rules: { http: [{}] },
              },
            ],
          },
        ],
      }),
      [
        'spec.ingress[0].toPorts[0].listener: Forbidden: Listener is not allowed on ingress (l1)',
        'spec.egress[0].toPorts[0].listener: Forbidden: Listener is not allowed with L7 rules (l2)',
      ],
    ],
    [
      'V21 fromRequires',
      cnp({ ...ep, ingress: [{ fromRequires: [{ matchLabels: { env: 'prod' } }] }] }),
      ['spec.ingress[0].fromRequires: Too many: 1: must have at most 0 items'],
    ],
    [
      'V22 CNP selecting reserved:init (warning)',
      cnp({ endpointSelector: { matchLabels: { 'reserved:init': '' } }, ingress: [{}] }),
      ['warning: spec.endpointSelector: Forbidden: CiliumNetworkPolicy incorrectly matches reserved:init label'],
    ],
    [
      'V23 L7 with the proxy disabled',
      cnp({ ...ep, ingress: [http([{ port: '80', protocol: 'TCP' }])] }),
      ['spec.ingress[0].toPorts[0].rules: Forbidden: L7 policy is not supported since L7 proxy is not enabled'],
      { l7Proxy: false },
    ],
    [
      'V24 FQDN selectors',
      cnp({
        ...ep,
        egress: [{ toFQDNs: [{ matchName: 'a.com', matchPattern: '*.a.com' }, { matchName: 'a b.com' }] }],
      }),
      [
        'spec.egress[0].toFQDNs[0]: Invalid value: "object": must validate one and only one schema (oneOf); only one of MatchName or MatchPattern is allowed in an FQDNSelector',
        'spec.egress[0].toFQDNs[1].matchName: Invalid value: "a b.com": spec.egress[0].toFQDNs[1].matchName in body should match \'^([-a-zA-Z0-9_]+[.]?)+$\'; Invalid characters in MatchName: "a b.com". Only 0-9, a-z, A-Z and . and - characters are allowed',
      ],
    ],
    [
      'CNP with nodeSelector',
      cnp({ nodeSelector: { matchLabels: { role: 'worker' } }, ingress: [{ fromEntities: ['cluster'] }] }),
      ['spec.nodeSelector: Forbidden: Invalid CiliumNetworkPolicy spec: rule cannot have NodeSelector'],
    ],
    [
      'fromNodes needs enable-node-selector-labels',
      cnp({ ...ep, ingress: [{ fromNodes: [{}] }] }),
      [
        'spec.ingress[0].fromNodes: Forbidden: FromNodes/ToNodes rules can only be applied when the "enable-node-selector-labels" flag is set',
      ],
    ],
    ['fromNodes with the flag', cnp({ ...ep, ingress: [{ fromNodes: [{}] }] }), [], { nodeSelectorLabels: true }],
    [
      'ICMP types',
      cnp({
        ...ep,
        ingress: [
          {
            icmps: [
              {
                fields: [
                  { type: 'EchoRequest' },
                  { type: 'PacketTooBig' },
                  { family: 'IPv6', type: 'PacketTooBig' },
                  { type: 300 },
                  { family: 'ipv4', type: 8 },
                  {},
                ],
              },
            ],
          },
        ],
      }),
      [
        'spec.ingress[0].icmps[0].fields[1].type: Invalid value: "PacketTooBig": ICMP type PacketTooBig not found in IPv4',
        'spec.ingress[0].icmps[0].fields[3].type: Invalid value: 300: must be an ICMP type between 0 and 255',
        'spec.ingress[0].icmps[0].fields[4].family: Unsupported value: "ipv4": supported values: "IPv4", "IPv6"',
        'spec.ingress[0].icmps[0].fields[5].type: Required value',
      ],
    ],
    [
      'port types and protocol enum',
      cnp({
        ...ep,
        ingress: [{ toPorts: [{ ports: [{ port: 80 }, { port: '80', protocol: 'tcp' }, { protocol: 'TCP' }] }] }],
      }),
      [
        'spec.ingress[0].toPorts[0].ports[0].port: Invalid value: "integer": spec.ingress[0].toPorts[0].ports[0].port in body must be of type string: "integer"',
        'spec.ingress[0].toPorts[0].ports[1].protocol: Unsupported value: "tcp": supported values: "TCP", "UDP", "SCTP", "VRRP", "IGMP", "ANY"',
        'spec.ingress[0].toPorts[0].ports[2].port: Required value: port must be specified',
      ],
    ],
    [
      'L7 in a deny rule would be dropped by the apiserver',
      cnp({ ...ep, ingressDeny: [{ toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{}] } }] }] }),
      [
        'spec.ingressDeny[0].toPorts[0].rules: Forbidden: not supported in deny rules: the field is not part of the schema and the apiserver would drop it, widening the deny',
      ],
    ],
    [
      'wrong types everywhere',
      cnp({ endpointSelector: [], ingress: 'x', egress: [3], log: { value: 'x'.repeat(33) } }),
      [
        'spec.endpointSelector: Invalid value: "array": spec.endpointSelector in body must be of type object: "array"',
        'spec.ingress: Invalid value: "string": spec.ingress in body must be of type array: "string"',
        'spec.egress[0]: Invalid value: "integer": spec.egress[0] in body must be of type object: "integer"',
        'spec.log.value: Too long: may not be more than 32 bytes',
      ],
    ],
  ])('%s', (_name, obj, want, opts) => {
    expect(fmt(obj, opts)).toEqual(want);
  });
});

describe('spec / specs', () => {
  it.each<[string, unknown, string[]]>([
    [
      'CNP without spec or specs',
      cnp(undefined),
      ['spec: Required value: Invalid CiliumNetworkPolicy spec(s): empty policy'],
    ],
    [
      'CCNP without spec or specs',
      { ...ccnp(undefined), spec: undefined },
      ['spec: Required value: Invalid CiliumClusterwideNetworkPolicy spec(s): empty policy'],
    ],
    [
      'every rule of specs is reported (cilium/cilium#38795)',
      cnp(undefined, {
        specs: [
          { ...ep, ingress: [{ fromEndpoints: [{}], fromEntities: ['world'] }] },
          { ...ep, ingress: [{}] },
          { nodeSelector: {}, egress: [{ toEntities: ['nowhere'] }] },
        ],
      }),
      [
        'specs[0].ingress[0]: Forbidden: combining FromEndpoints and FromEntities is not supported yet',
        'specs[2].nodeSelector: Forbidden: Invalid CiliumNetworkPolicy specs: rule cannot have NodeSelector',
        'specs[2].egress[0].toEntities[0]: Unsupported value: "nowhere": supported values: "host", "remote-node", "kube-apiserver", "world", "world-ipv4", "world-ipv6", "cluster", "init", "health", "unmanaged", "ingress", "all", "none"',
      ],
    ],
    [
      'spec and specs are both validated',
      cnp({ ...ep }, { specs: [{ ...ep }] }),
      [
        'spec: Invalid value: "object": must validate at least one schema (anyOf); rule must have at least one of Ingress, IngressDeny, Egress, EgressDeny',
        'specs[0]: Invalid value: "object": must validate at least one schema (anyOf); rule must have at least one of Ingress, IngressDeny, Egress, EgressDeny',
      ],
    ],
    [
      'CCNP host policy is a warning only',
      ccnp({ nodeSelector: { matchLabels: { role: 'worker' } }, ingress: [{ fromEntities: ['cluster'] }] }),
      [
        'warning: spec.nodeSelector: Forbidden: host policies (nodeSelector) are parsed and validated but not enforced by podwall yet',
      ],
    ],
  ])('%s', (_name, obj, want) => {
    expect(fmt(obj)).toEqual(want);
  });
});

describe('Go error texts', () => {
  it.each<[string, ReturnType<typeof goParseUint16>]>([
    ['80', { ok: true, value: 80 }],
    ['0', { ok: true, value: 0 }],
    ['0x1F', { ok: true, value: 31 }],
    ['010', { ok: true, value: 8 }],
    ['1_000', { ok: false, error: 'strconv.ParseUint: parsing "1_000": invalid syntax' }],
    ['65536', { ok: false, error: 'strconv.ParseUint: parsing "65536": value out of range' }],
    ['08', { ok: false, error: 'strconv.ParseUint: parsing "08": invalid syntax' }],
    ['', { ok: false, error: 'strconv.ParseUint: parsing "": invalid syntax' }],
  ])('ParseUint(%j)', (s, want) => {
    expect(goParseUint16(s)).toEqual(want);
  });

  it.each([
    ['/public/.*', undefined],
    ['GET|POST', undefined],
    ['a**', 'error parsing regexp: invalid nested repetition operator: `**`'],
    ['/x)', 'error parsing regexp: unexpected ): `/x)`'],
  ])('regexp %j', (p, want) => {
    expect(goRegexpError(p)).toBe(want);
  });
});

// ---- the shared conformance file: every `invalid:` entry must be rejected with its reason ----

interface InvalidCase {
  name: string;
  rejected_by: 'agent' | 'apiserver';
  error: string;
  policy: unknown;
}

/**
 * An entry's reason may carry two texts: the apiserver's and the agent's when the CRD is bypassed
 * (`A (agent text...: B)` or `A [apiserver]; agent text if bypassed: B`). The first is the text of
 * the layer that rejects (`rejected_by`); podwall must produce it.
 */
function reasonTexts(reason: string): string[] {
  const m =
    reason.match(/^(.*?) \[apiserver\]; agent text[^:]*: (.*)$/s) ?? reason.match(/^(.*?) \(agent text[^:]*: (.*)\)$/s);
  return m ? [m[1], m[2]] : [reason];
}

const casesFile = new URL('../../../shared/conformance/cilium/cases.yaml', import.meta.url);
const casesDoc = parse(readFileSync(casesFile, 'utf8')) as {
  invalid: InvalidCase[];
  cases: { name: string; policies: unknown[] }[];
};

describe('cilium cases.yaml: invalid policies', () => {
  it('has the 11 invalid entries', () => {
    expect(casesDoc.invalid).toHaveLength(11);
  });

  it.each(casesDoc.invalid.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const errs = validateObject(c.policy);
    expect(hasErrors(errs)).toBe(true);
    const texts = errs.filter((e) => e.severity !== 'warning').map(formatFieldError);
    const [primary] = reasonTexts(c.error);
    expect(
      texts.some((t) => t.includes(primary)),
      `${texts.join('\n')}\nshould contain: ${primary}`,
    ).toBe(true);
  });
});

describe('cilium cases.yaml: every valid policy validates clean', () => {
  const policies = casesDoc.cases.flatMap((c) => c.policies.map((p, i) => [`${c.name} #${i}`, p] as const));
  it.each(policies)('%s', (_name, p) => {
    expect([...validateObject(p), ...findUnknownFields(p)].map(formatFieldError)).toEqual([]);
  });
});
