/**
 * cilium.io/v2 CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy validation, in two layers:
 *
 * 1. What the CRD's OpenAPI schema makes the apiserver reject (types, enums, oneOf/anyOf, maxItems,
 *    patterns), worded as the apiserver words it.
 * 2. Every rejection of Cilium's `Rule.Validate`/`Sanitize` (pkg/policy/api/rule_validation.go) and
 *    `CiliumNetworkPolicy.Parse` (cnp_types.go), with Cilium's exact text in the error's `detail`,
 *    on the path of the offending element. Real Cilium accepts these at `kubectl apply` and then
 *    silently imports nothing; podwall reports them up front.
 *
 * Where one fault trips both layers (e.g. a oneOf that Sanitize also checks) a single error is
 * emitted whose detail is the apiserver text followed by `; ` and Cilium's text.
 * Unlike Cilium, which stops at the first problem (and with `specs` only reported the last rule,
 * cilium/cilium#38795), every problem of every rule is reported.
 */

import { RE2JS } from 're2js';
import { type FieldError, FieldPath, forbidden, invalid, notSupported, required } from '../util/field.js';
import { nameIsDNSSubdomain, typeError } from './labels.js';
import { validateObjectMeta } from './metadata.js';
import { parseAddr, parsePrefix, prefixContains } from './net.js';
import { validateLabelSelector } from './selector.js';
import {
  has,
  isObject,
  type JsonObject,
  readArray,
  readBool,
  readInt,
  readObject,
  readString,
  readStringArray,
} from './walk.js';

/** Entities accepted in fromEntities/toEntities (pkg/policy/api/entity.go). */
export const CILIUM_ENTITIES = [
  'host',
  'remote-node',
  'kube-apiserver',
  'world',
  'world-ipv4',
  'world-ipv6',
  'cluster',
  'init',
  'health',
  'unmanaged',
  'ingress',
  'all',
  'none',
];

/** The CRD enum of `toPorts[].ports[].protocol`. */
export const CILIUM_PORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'VRRP', 'IGMP', 'ANY'];

export const ICMPV4_TYPE_NAMES: Record<string, number> = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  Redirect: 5,
  Echo: 8,
  EchoRequest: 8,
  RouterAdvertisement: 9,
  RouterSelection: 10,
  TimeExceeded: 11,
  ParameterProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
  Photuris: 40,
  ExtendedEchoRequest: 42,
  ExtendedEchoReply: 43,
};

export const ICMPV6_TYPE_NAMES: Record<string, number> = {
  DestinationUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  MulticastListenerQuery: 130,
  MulticastListenerReport: 131,
  MulticastListenerDone: 132,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  RedirectMessage: 137,
  RouterRenumbering: 138,
  ICMPNodeInformationQuery: 139,
  ICMPNodeInformationResponse: 140,
  InverseNeighborDiscoverySolicitation: 141,
  InverseNeighborDiscoveryAdvertisement: 142,
  HomeAgentAddressDiscoveryRequest: 144,
  HomeAgentAddressDiscoveryReply: 145,
  MobilePrefixSolicitation: 146,
  MobilePrefixAdvertisement: 147,
  DuplicateAddressRequestCodeSuffix: 157,
  DuplicateAddressConfirmationCodeSuffix: 158,
  ExtendedEchoRequest: 160,
  ExtendedEchoReply: 161,
};

const MAX_PORTS = 40;
const MAX_ICMP_FIELDS = 40;
const ONE_OF = 'must validate one and only one schema (oneOf)';
const ANY_OF = 'must validate at least one schema (anyOf)';
const ERR_ICMP_WITH_TOPORTS =
  'the ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts';
const ERR_NODES_FLAG = 'FromNodes/ToNodes rules can only be applied when the "enable-node-selector-labels" flag is set';
const HOST_POLICY_WARNING = 'host policies (nodeSelector) are parsed and validated but not enforced by podwall yet';
const FQDN_NAME_PATTERN = '^([-a-zA-Z0-9_]+[.]?)+$';
const FQDN_PATTERN_PATTERN = '^([-a-zA-Z0-9_*]+[.]?)+$';

export interface CiliumValidationOptions {
  /** Namespace kubectl would use for a CNP without metadata.namespace. */
  defaultNamespace?: string;
  /** Agent flag: L7 proxy enabled (default true, as podwall runs one). */
  l7Proxy?: boolean;
  /** Agent flag `enable-node-selector-labels` (default false, Cilium's default). */
  nodeSelectorLabels?: boolean;
  /** Agent flag `enable-icmp-rules` (default true). */
  icmpRules?: boolean;
}

interface Ctx {
  kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';
  /** `spec` or `specs`: used in Cilium's `Invalid CiliumNetworkPolicy spec(s):` texts. */
  specField: 'spec' | 'specs';
  hostPolicy: boolean;
  l7Proxy: boolean;
  nodeSelectorLabels: boolean;
  icmpRules: boolean;
  errs: FieldError[];
}

/** One error for a fault both the CRD schema and Cilium reject: apiserver text, then Cilium's. */
function schemaError(path: FieldPath, schemaDetail: string, ciliumText?: string): FieldError {
  return invalid(path, 'object', ciliumText ? `${schemaDetail}; ${ciliumText}` : schemaDetail);
}

function warning(path: FieldPath, detail: string): FieldError {
  return { ...forbidden(path, detail), severity: 'warning' };
}

function tooMany(path: FieldPath, n: number, max: number): FieldError {
  return { type: 'TooMany', field: String(path), value: n, detail: `must have at most ${max} items` };
}

/** Non-empty list (Go `len(x) > 0`). */
function count(v: unknown): number {
  return Array.isArray(v) ? v.length : 0;
}

/** Go's `strconv.Quote` for the ASCII strings that appear in these messages. */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Cilium `iana.IsSvcName` (RFC 6335 §5.1): ≤15 chars, letters/digits/single hyphens, one letter. */
export function isIanaSvcName(name: string): boolean {
  return name.length > 0 && name.length <= 15 && /^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$/.test(name) && /[a-zA-Z]/.test(name);
}

/** Go `strconv.ParseUint(s, 0, 16)` with Go's error texts. */
export function goParseUint16(s: string): { ok: true; value: number } | { ok: false; error: string } {
  const syntax = { ok: false as const, error: `strconv.ParseUint: parsing ${goQuote(s)}: invalid syntax` };
  const range = { ok: false as const, error: `strconv.ParseUint: parsing ${goQuote(s)}: value out of range` };
  if (s === '') return syntax;
  let base = 10;
  let body = s;
  if (s[0] === '0') {
    const p = s.length >= 3 ? s[1].toLowerCase() : '';
    if (p === 'x') [base, body] = [16, s.slice(2)];
    else if (p === 'b') [base, body] = [2, s.slice(2)];
    else if (p === 'o') [base, body] = [8, s.slice(2)];
    else [base, body] = [8, s.slice(1)];
  }
  let n = 0;
  let underscores = false;
  for (const c of body) {
    if (c === '_') {
      underscores = true;
      continue;
    }
    const d = Number.parseInt(c, 36);
    if (Number.isNaN(d) || d >= base) return syntax;
    n = n * base + d;
    if (n > 0xffff) return range;
  }
  if (underscores && (/^_|_$|__/.test(body) || base === 10)) return syntax;
  return { ok: true, value: n };
}

/** Go `regexp.Compile` error text via RE2 (same syntax family): `error parsing regexp: ...`. */
export function goRegexpError(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return msg.startsWith('error parsing regexp:') ? msg : `error parsing regexp: ${msg}`;
  }
}

/** Cilium `api.CIDR.Validate`: an IP or a prefix. */
function validateCIDR(v: unknown, path: FieldPath, ctx: Ctx): void {
  if (typeof v !== 'string') {
    ctx.errs.push(typeError(path, v, 'string'));
    return;
  }
  if (v === '') {
    ctx.errs.push(invalid(path, v, 'IP must be specified'));
    return;
  }
  if (parsePrefix(v).ok) return;
  const a = parseAddr(v);
  if (!a.ok) ctx.errs.push(invalid(path, v, `unable to parse CIDR: ${a.error}`));
}

/** Cilium `CIDRRule.Validate` plus the CRD oneOf over cidr / cidrGroupRef / cidrGroupSelector. */
function validateCIDRRule(v: unknown, path: FieldPath, ctx: Ctx): void {
  const r = readObject(v, path, ctx.errs);
  if (!r) return;
  const n = ['cidr', 'cidrGroupRef', 'cidrGroupSelector'].filter((k) => has(r, k)).length;
  if (n === 0) ctx.errs.push(schemaError(path, ONE_OF, 'one of cidr, cidrGroupRef, or cidrGroupSelector is required'));
  if (n > 1) {
    ctx.errs.push(
      schemaError(path, ONE_OF, 'more than one of cidr, cidrGroupRef, or cidrGroupSelector may not be set'),
    );
  }
  const ref = readString(r.cidrGroupRef, path.child('cidrGroupRef'), ctx.errs);
  if (ref !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(ref)) {
    const p = path.child('cidrGroupRef');
    ctx.errs.push(
      invalid(p, ref, `${p} in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'`),
    );
  }
  if (has(r, 'cidrGroupSelector')) {
    ctx.errs.push(...validateLabelSelector(r.cidrGroupSelector, path.child('cidrGroupSelector'), 'cilium'));
  }
  const cidr = readString(r.cidr, path.child('cidr'), ctx.errs);
  const except = readStringArray(r.except, path.child('except'), ctx.errs);
  if (cidr === undefined || n !== 1) return;
  const prefix = parsePrefix(cidr);
  if (!prefix.ok) {
    ctx.errs.push(invalid(path.child('cidr'), cidr, `unable to parse CIDRRule ${goQuote(cidr)}: ${prefix.error}`));
    return;
  }
  for (const { s, i } of except) {
    const ep = path.child('except').index(i);
    const ex = parsePrefix(s);
    if (!ex.ok) {
      ctx.errs.push(invalid(ep, s, ex.error));
      continue;
    }
    if (prefix.value.bits > ex.value.bits || !prefixContains(prefix.value, ex.value.addr)) {
      ctx.errs.push(invalid(ep, s, `allow CIDR prefix ${cidr} does not contain exclude CIDR prefix ${s}`));
    }
  }
}

/** FQDN selectors (toFQDNs items and DNS L7 rules): CRD oneOf + patterns, Cilium's texts. */
function validateFQDNSelector(v: unknown, path: FieldPath, ctx: Ctx): void {
  const s = readObject(v, path, ctx.errs);
  if (!s) return;
  const name = readString(s.matchName, path.child('matchName'), ctx.errs);
  const pattern = readString(s.matchPattern, path.child('matchPattern'), ctx.errs);
  const n = (has(s, 'matchName') ? 1 : 0) + (has(s, 'matchPattern') ? 1 : 0);
  if (n === 2) {
    ctx.errs.push(schemaError(path, ONE_OF, 'only one of MatchName or MatchPattern is allowed in an FQDNSelector'));
  } else if (n === 0) {
    ctx.errs.push(schemaError(path, ONE_OF));
  }
  if (name !== undefined) {
    const p = path.child('matchName');
    if (name.length > 255)
      ctx.errs.push({ type: 'TooLong', field: String(p), detail: 'may not be more than 255 bytes' });
    if (!/^([-a-zA-Z0-9_]+[.]?)+$/.test(name)) {
      ctx.errs.push(
        invalid(
          p,
          name,
          `${p} in body should match '${FQDN_NAME_PATTERN}'; Invalid characters in MatchName: ${goQuote(name)}. Only 0-9, a-z, A-Z and . and - characters are allowed`,
        ),
      );
    }
  }
  if (pattern !== undefined) {
    const p = path.child('matchPattern');
    if (pattern.length > 255) {
      ctx.errs.push({ type: 'TooLong', field: String(p), detail: 'may not be more than 255 bytes' });
    }
    if (!/^([-a-zA-Z0-9_*]+[.]?)+$/.test(pattern)) {
      ctx.errs.push(
        invalid(
          p,
          pattern,
          `${p} in body should match '${FQDN_PATTERN_PATTERN}'; Invalid characters in MatchPattern: ${goQuote(pattern)}. Only 0-9, a-z, A-Z and ., - and * characters are allowed`,
        ),
      );
    }
  }
}

function validateSelectorList(v: unknown, path: FieldPath, ctx: Ctx): void {
  readArray(v, path, ctx.errs)?.forEach((sel, i) => {
    if (sel === null || sel === undefined) ctx.errs.push(typeError(path.index(i), sel, 'object'));
    else ctx.errs.push(...validateLabelSelector(sel, path.index(i), 'cilium'));
  });
}

function validateEntities(v: unknown, path: FieldPath, ctx: Ctx): void {
  for (const { s, i } of readStringArray(v, path, ctx.errs)) {
    if (!CILIUM_ENTITIES.includes(s)) ctx.errs.push(notSupported(path.index(i), s, CILIUM_ENTITIES));
  }
}

function validateIcmps(v: unknown, path: FieldPath, ctx: Ctx): void {
  readArray(v, path, ctx.errs)?.forEach((item, i) => {
    const ip = path.index(i);
    const rule = readObject(item, ip, ctx.errs);
    if (!rule) return;
    const fields = readArray(rule.fields, ip.child('fields'), ctx.errs) ?? [];
    if (fields.length > MAX_ICMP_FIELDS) ctx.errs.push(tooMany(ip.child('fields'), fields.length, MAX_ICMP_FIELDS));
    fields.forEach((f, j) => {
      const fp = ip.child('fields').index(j);
      const field = readObject(f, fp, ctx.errs);
      if (!field) return;
      const family = readString(field.family, fp.child('family'), ctx.errs) ?? 'IPv4';
      if (family !== 'IPv4' && family !== 'IPv6') {
        ctx.errs.push(notSupported(fp.child('family'), family, ['IPv4', 'IPv6']));
        return;
      }
      const t = field.type;
      const tp = fp.child('type');
      if (t === undefined || t === null) {
        ctx.errs.push(required(tp));
      } else if (typeof t === 'number') {
        if (!Number.isInteger(t)) ctx.errs.push(typeError(tp, t, 'integer or string'));
        else if (t < 0 || t > 255) ctx.errs.push(invalid(tp, t, 'must be an ICMP type between 0 and 255'));
      } else if (typeof t === 'string') {
        if (/^[0-9]+$/.test(t)) {
          if (Number(t) > 255 || (t.length > 1 && t[0] === '0')) {
            ctx.errs.push(invalid(tp, t, 'must be an ICMP type between 0 and 255'));
          }
        } else {
          const names = family === 'IPv6' ? ICMPV6_TYPE_NAMES : ICMPV4_TYPE_NAMES;
          if (!(t in names)) ctx.errs.push(invalid(tp, t, `ICMP type ${t} not found in ${family}`));
        }
      } else {
        ctx.errs.push(typeError(tp, t, 'integer or string'));
      }
    });
  });
}

interface PortInfo {
  /** ports[k] path, its decoded port/protocol, and whether it parsed. */
  path: FieldPath;
  port?: string;
  protocol?: string;
  isZero: boolean;
  endPort?: number;
}

/** `PortProtocol.Validate` + CRD types/enum for one `ports[]` entry. */
function validatePortProtocol(v: unknown, path: FieldPath, hasDNSRules: boolean, ctx: Ctx): PortInfo | undefined {
  const pp = readObject(v, path, ctx.errs);
  if (!pp) return undefined;
  const info: PortInfo = { path, isZero: false };
  const port = readString(pp.port, path.child('port'), ctx.errs);
  const endPort = readInt(pp.endPort, path.child('endPort'), ctx.errs);
  const protocol = readString(pp.protocol, path.child('protocol'), ctx.errs);
  info.port = port;
  info.protocol = protocol;
  info.endPort = endPort;
  if (endPort !== undefined && (endPort < 0 || endPort > 65535)) {
    const p = path.child('endPort');
    const bound = endPort < 0 ? 'greater than or equal to 0' : 'less than or equal to 65535';
    ctx.errs.push(invalid(p, endPort, `${p} in body should be ${bound}`));
  }
  if (protocol !== undefined && !CILIUM_PORT_PROTOCOLS.includes(protocol)) {
    ctx.errs.push(notSupported(path.child('protocol'), protocol, CILIUM_PORT_PROTOCOLS));
  }
  if (!has(pp, 'port') || port === '') {
    ctx.errs.push(required(path.child('port'), 'port must be specified'));
    return info;
  }
  if (port === undefined || isIanaSvcName(port)) return info;
  const parsed = goParseUint16(port);
  if (!parsed.ok) {
    ctx.errs.push(invalid(path.child('port'), port, `unable to parse port: ${parsed.error}`));
    return info;
  }
  info.isZero = parsed.value === 0;
  if (hasDNSRules && endPort !== undefined && endPort > parsed.value) {
    ctx.errs.push(invalid(path.child('endPort'), endPort, 'DNS rules do not support port ranges'));
  }
  return info;
}

function validateHttpRule(v: unknown, path: FieldPath, ctx: Ctx): void {
  const h = readObject(v, path, ctx.errs);
  if (!h) return;
  for (const key of ['path', 'method', 'host']) {
    const s = readString(h[key], path.child(key), ctx.errs);
    if (!s) continue;
    const err = goRegexpError(s);
    if (err) ctx.errs.push(invalid(path.child(key), s, err));
  }
  readStringArray(h.headers, path.child('headers'), ctx.errs);
  readArray(h.headerMatches, path.child('headerMatches'), ctx.errs)?.forEach((m, i) => {
    const mp = path.child('headerMatches').index(i);
    const hm = readObject(m, mp, ctx.errs);
    if (!hm) return;
    const name = readString(hm.name, mp.child('name'), ctx.errs);
    if (!name) {
      if (!has(hm, 'name')) ctx.errs.push(required(mp.child('name')));
      else if (name === '') ctx.errs.push(invalid(mp.child('name'), '', 'Header name missing'));
    }
    readString(hm.value, mp.child('value'), ctx.errs);
    const mismatch = readString(hm.mismatch, mp.child('mismatch'), ctx.errs);
    if (mismatch !== undefined && !['LOG', 'ADD', 'DELETE', 'REPLACE'].includes(mismatch)) {
      ctx.errs.push(notSupported(mp.child('mismatch'), mismatch, ['LOG', 'ADD', 'DELETE', 'REPLACE']));
    }
    const secret = readObject(hm.secret, mp.child('secret'), ctx.errs);
    if (secret && !readString(secret.name, mp.child('secret', 'name'), ctx.errs)) {
      ctx.errs.push(required(mp.child('secret', 'name'), 'Secret name missing'));
    }
  });
}

/** An allow-rule `toPorts[]` entry (`PortRule.Validate`), or a deny one (`PortDenyRule`). */
function validatePortRule(v: unknown, path: FieldPath, ingress: boolean, deny: boolean, ctx: Ctx): void {
  const pr = readObject(v, path, ctx.errs);
  if (!pr) return;
  const rules = deny ? undefined : readObject(pr.rules, path.child('rules'), ctx.errs);
  if (deny) {
    for (const k of ['rules', 'serverNames', 'terminatingTLS', 'originatingTLS', 'listener']) {
      if (has(pr, k)) {
        ctx.errs.push(
          forbidden(
            path.child(k),
            'not supported in deny rules: the field is not part of the schema and the apiserver would drop it, widening the deny',
          ),
        );
      }
    }
  }
  const l7Kinds = rules ? ['http', 'dns', 'kafka', 'l7proto'].filter((k) => has(rules, k)) : [];
  const hasL7 = l7Kinds.length > 0;
  const hasDNSRules = rules !== undefined && count(rules.dns) > 0;

  const serverNames = readStringArray(pr.serverNames, path.child('serverNames'), ctx.errs);
  if (!deny) {
    if (serverNames.length > 0 && hasL7 && !has(pr, 'terminatingTLS')) {
      ctx.errs.push(
        forbidden(path.child('serverNames'), 'ServerNames are not allowed with L7 rules without TLS termination'),
      );
    }
    for (const { s, i } of serverNames) {
      if (s === '') ctx.errs.push(invalid(path.child('serverNames').index(i), s, 'empty server name is not allowed'));
    }
  }

  const ports = readArray(pr.ports, path.child('ports'), ctx.errs) ?? [];
  if (ports.length > MAX_PORTS) ctx.errs.push(tooMany(path.child('ports'), ports.length, MAX_PORTS));
  const infos: PortInfo[] = [];
  ports.forEach((p, k) => {
    const info = validatePortProtocol(p, path.child('ports').index(k), hasDNSRules, ctx);
    if (info) infos.push(info);
  });

  if (!deny && hasL7 && !hasDNSRules) {
    for (const info of infos) {
      const proto = info.protocol ?? 'ANY';
      if (proto === 'TCP') continue;
      const text = `L7 rules can only apply to TCP (not ${proto}) except for DNS rules`;
      if (info.protocol === undefined) ctx.errs.push(forbidden(info.path, text));
      else ctx.errs.push(invalid(info.path.child('protocol'), info.protocol, text));
    }
  }

  const listener = deny ? undefined : readObject(pr.listener, path.child('listener'), ctx.errs);
  if (listener) {
    const name = readString(listener.name, path.child('listener', 'name'), ctx.errs);
    if (!name) ctx.errs.push(required(path.child('listener', 'name')));
    if (!has(listener, 'envoyConfig')) ctx.errs.push(required(path.child('listener', 'envoyConfig')));
    if (ingress) ctx.errs.push(forbidden(path.child('listener'), `Listener is not allowed on ingress (${name ?? ''})`));
    if (hasL7)
      ctx.errs.push(forbidden(path.child('listener'), `Listener is not allowed with L7 rules (${name ?? ''})`));
  }

  if (!rules || !hasL7) return;
  const rp = path.child('rules');
  for (const info of infos) {
    if (info.isZero)
      ctx.errs.push(invalid(info.path.child('port'), info.port, 'L7 rules can not be used when a port is 0'));
  }
  if (l7Kinds.length > 1) {
    ctx.errs.push(schemaError(rp, ONE_OF, 'multiple L7 protocol rule types specified in single rule'));
  }
  readArray(rules.http, rp.child('http'), ctx.errs)?.forEach((h, i) => {
    validateHttpRule(h, rp.child('http').index(i), ctx);
  });
  const dns = readArray(rules.dns, rp.child('dns'), ctx.errs);
  if (dns) {
    if (ports.length === 0) ctx.errs.push(required(path.child('ports'), 'port 53 must be specified for DNS rules'));
    dns.forEach((d, i) => {
      validateFQDNSelector(d, rp.child('dns').index(i), ctx);
    });
  }
  for (const k of ['kafka', 'l7proto']) {
    if (has(rules, k)) {
      ctx.errs.push(warning(rp.child(k), `${k} L7 rules are accepted by Cilium but not enforced by podwall`));
    }
  }
}

const INGRESS_L3 = [
  ['fromEndpoints', 'FromEndpoints'],
  ['fromCIDR', 'FromCIDR'],
  ['fromCIDRSet', 'FromCIDRSet'],
  ['fromEntities', 'FromEntities'],
  ['fromNodes', 'FromNodes'],
  ['fromGroups', 'FromGroups'],
] as const;

const EGRESS_L3 = [
  ['toCIDR', 'ToCIDR'],
  ['toCIDRSet', 'ToCIDRSet'],
  ['toEndpoints', 'ToEndpoints'],
  ['toEntities', 'ToEntities'],
  ['toServices', 'ToServices'],
  ['toFQDNs', 'ToFQDNs'],
  ['toGroups', 'ToGroups'],
  ['toNodes', 'ToNodes'],
] as const;

/** One ingress/egress/ingressDeny/egressDeny entry. */
function validatePeerRule(v: unknown, path: FieldPath, ingress: boolean, deny: boolean, ctx: Ctx): void {
  const rule = readObject(v, path, ctx.errs);
  if (!rule) {
    if (v === null) ctx.errs.push(typeError(path, v, 'object'));
    return;
  }
  const pre = ingress ? 'from' : 'to';
  const l3 = ingress ? INGRESS_L3 : EGRESS_L3;

  // V4: at most one peer kind per rule.
  const present = l3.filter(([k]) => count(rule[k]) > 0);
  if (present.length > 1) {
    ctx.errs.push(forbidden(path, `combining ${present[0][1]} and ${present[1][1]} is not supported yet`));
  }

  validateSelectorList(rule[`${pre}Endpoints`], path.child(`${pre}Endpoints`), ctx);
  validateSelectorList(rule[`${pre}Nodes`], path.child(`${pre}Nodes`), ctx);
  if (count(rule[`${pre}Nodes`]) > 0 && !ctx.nodeSelectorLabels) {
    ctx.errs.push(forbidden(path.child(`${pre}Nodes`), ERR_NODES_FLAG));
  }
  readArray(rule[`${pre}CIDR`], path.child(`${pre}CIDR`), ctx.errs)?.forEach((c, i) => {
    validateCIDR(c, path.child(`${pre}CIDR`).index(i), ctx);
  });
  readArray(rule[`${pre}CIDRSet`], path.child(`${pre}CIDRSet`), ctx.errs)?.forEach((c, i) => {
    validateCIDRRule(c, path.child(`${pre}CIDRSet`).index(i), ctx);
  });
  validateEntities(rule[`${pre}Entities`], path.child(`${pre}Entities`), ctx);
  const groups = readArray(rule[`${pre}Groups`], path.child(`${pre}Groups`), ctx.errs);
  if (groups && groups.length > 0) {
    ctx.errs.push(
      warning(path.child(`${pre}Groups`), 'cloud provider groups are accepted by Cilium but not enforced by podwall'),
    );
  }
  const requires = readArray(rule[`${pre}Requires`], path.child(`${pre}Requires`), ctx.errs);
  if (requires && requires.length > 0) ctx.errs.push(tooMany(path.child(`${pre}Requires`), requires.length, 0));

  if (!ingress) {
    readArray(rule.toServices, path.child('toServices'), ctx.errs)?.forEach((s, i) => {
      const sp = path.child('toServices').index(i);
      const svc = readObject(s, sp, ctx.errs);
      if (!svc) return;
      const k8s = readObject(svc.k8sService, sp.child('k8sService'), ctx.errs);
      if (k8s) {
        readString(k8s.serviceName, sp.child('k8sService', 'serviceName'), ctx.errs);
        readString(k8s.namespace, sp.child('k8sService', 'namespace'), ctx.errs);
      }
      const sel = readObject(svc.k8sServiceSelector, sp.child('k8sServiceSelector'), ctx.errs);
      if (sel) {
        if (!has(sel, 'selector')) ctx.errs.push(required(sp.child('k8sServiceSelector', 'selector')));
        ctx.errs.push(...validateLabelSelector(sel.selector, sp.child('k8sServiceSelector', 'selector'), 'cilium'));
        readString(sel.namespace, sp.child('k8sServiceSelector', 'namespace'), ctx.errs);
      }
    });
    const fqdns = readArray(rule.toFQDNs, path.child('toFQDNs'), ctx.errs);
    if (deny && fqdns) {
      ctx.errs.push(forbidden(path.child('toFQDNs'), 'toFQDNs is not supported in deny rules'));
    } else {
      fqdns?.forEach((f, i) => {
        validateFQDNSelector(f, path.child('toFQDNs').index(i), ctx);
      });
    }
  }

  const toPorts = readArray(rule.toPorts, path.child('toPorts'), ctx.errs) ?? [];
  const icmps = readArray(rule.icmps, path.child('icmps'), ctx.errs) ?? [];
  if (icmps.length > 0 && !ctx.icmpRules) {
    ctx.errs.push(
      forbidden(path.child('icmps'), 'ICMP rules can only be applied when the "enable-icmp-rules" flag is set'),
    );
  }
  if (icmps.length > 0 && toPorts.length > 0) ctx.errs.push(forbidden(path.child('icmps'), ERR_ICMP_WITH_TOPORTS));
  validateIcmps(rule.icmps, path.child('icmps'), ctx);

  toPorts.forEach((pr, j) => {
    const pp = path.child('toPorts').index(j);
    validatePortRule(pr, pp, ingress, deny, ctx);
    if (deny || !isObject(pr) || !isObject(pr.rules)) return;
    const rules = pr.rules;
    const l7 = ['http', 'dns', 'kafka', 'l7proto'].some((k) => has(rules, k));
    if (!l7) return;
    const rp = pp.child('rules');
    if (ctx.hostPolicy && ingress) {
      ctx.errs.push(forbidden(rp, 'L7 policy is not supported on host ingress yet'));
      return;
    }
    if (!ctx.l7Proxy) {
      ctx.errs.push(forbidden(rp, 'L7 policy is not supported since L7 proxy is not enabled'));
      return;
    }
    if (ingress && count(rules.dns) > 0) {
      ctx.errs.push(forbidden(rp.child('dns'), 'L7 protocol DNS is not supported on ingress yet'));
    }
    if (!ingress && ctx.hostPolicy && count(rules.http) > 0) {
      ctx.errs.push(forbidden(rp.child('http'), 'L7 protocol HTTP is not supported on host egress yet'));
    }
  });

  const auth = readObject(rule.authentication, path.child('authentication'), ctx.errs);
  if (auth) {
    if (deny) ctx.errs.push(forbidden(path.child('authentication'), 'authentication is not supported in deny rules'));
    const mode = readString(auth.mode, path.child('authentication', 'mode'), ctx.errs);
    if (mode === undefined) ctx.errs.push(required(path.child('authentication', 'mode')));
    else if (!['disabled', 'required', 'test-always-fail'].includes(mode)) {
      ctx.errs.push(
        notSupported(path.child('authentication', 'mode'), mode, ['disabled', 'required', 'test-always-fail']),
      );
    }
  }
}

function selectsReservedInit(sel: unknown): boolean {
  if (!isObject(sel)) return false;
  const ml = isObject(sel.matchLabels) ? Object.keys(sel.matchLabels) : [];
  const me = Array.isArray(sel.matchExpressions) ? sel.matchExpressions : [];
  const keys = [...ml, ...me.map((e) => (isObject(e) ? e.key : undefined))];
  return keys.some((k) => k === 'reserved:init' || k === 'reserved.init');
}

/** One Rule (`spec` or `specs[i]`). */
function validateRule(v: unknown, path: FieldPath, ctx: Ctx): void {
  const rule = readObject(v, path, ctx.errs);
  if (!rule) {
    if (v === null || v === undefined) ctx.errs.push(typeError(path, v, 'object'));
    return;
  }
  const dirs = ['ingress', 'ingressDeny', 'egress', 'egressDeny'];
  const presentDirs = dirs.filter((d) => has(rule, d));
  const rulesText = 'rule must have at least one of Ingress, IngressDeny, Egress, EgressDeny';
  if (presentDirs.length === 0) ctx.errs.push(schemaError(path, ANY_OF, rulesText));
  else if (presentDirs.every((d) => count(rule[d]) === 0)) ctx.errs.push(required(path, rulesText));

  const hasEp = has(rule, 'endpointSelector');
  const hasNode = has(rule, 'nodeSelector');
  if (!hasEp && !hasNode) {
    ctx.errs.push(schemaError(path, ONE_OF, 'rule must have one of EndpointSelector or NodeSelector'));
  } else if (hasEp && hasNode) {
    ctx.errs.push(schemaError(path, ONE_OF, 'rule cannot have both EndpointSelector and NodeSelector'));
  }
  if (hasEp) ctx.errs.push(...validateLabelSelector(rule.endpointSelector, path.child('endpointSelector'), 'cilium'));
  if (hasNode) ctx.errs.push(...validateLabelSelector(rule.nodeSelector, path.child('nodeSelector'), 'cilium'));

  const ruleCtx: Ctx = { ...ctx, hostPolicy: hasNode && !hasEp };
  if (hasNode && ctx.kind === 'CiliumNetworkPolicy') {
    ctx.errs.push(
      forbidden(
        path.child('nodeSelector'),
        `Invalid CiliumNetworkPolicy ${ctx.specField}: rule cannot have NodeSelector`,
      ),
    );
  } else if (ruleCtx.hostPolicy) {
    ctx.errs.push(warning(path.child('nodeSelector'), HOST_POLICY_WARNING));
  }
  if (hasEp && ctx.kind === 'CiliumNetworkPolicy' && selectsReservedInit(rule.endpointSelector)) {
    ctx.errs.push(
      warning(path.child('endpointSelector'), 'CiliumNetworkPolicy incorrectly matches reserved:init label'),
    );
  }

  for (const d of dirs) {
    readArray(rule[d], path.child(d), ctx.errs)?.forEach((r, i) => {
      validatePeerRule(r, path.child(d).index(i), d.startsWith('ingress'), d.endsWith('Deny'), ruleCtx);
    });
  }

  readString(rule.description, path.child('description'), ctx.errs);
  const edd = readObject(rule.enableDefaultDeny, path.child('enableDefaultDeny'), ctx.errs);
  if (edd) {
    readBool(edd.ingress, path.child('enableDefaultDeny', 'ingress'), ctx.errs);
    readBool(edd.egress, path.child('enableDefaultDeny', 'egress'), ctx.errs);
  }
  const log = readObject(rule.log, path.child('log'), ctx.errs);
  if (log) {
    const lp = path.child('log', 'value');
    const value = readString(log.value, lp, ctx.errs);
    if (value !== undefined) {
      if (value.length > 32)
        ctx.errs.push({ type: 'TooLong', field: String(lp), detail: 'may not be more than 32 bytes' });
      if (!/^[\x21-\x7E]([\x20-\x7E]*[\x21-\x7E])?$/.test(value)) {
        ctx.errs.push(invalid(lp, value, `${lp} in body should match '^[\\x21-\\x7E]([\\x20-\\x7E]*[\\x21-\\x7E])?$'`));
      }
    }
  }
  readArray(rule.labels, path.child('labels'), ctx.errs)?.forEach((l, i) => {
    const lp = path.child('labels').index(i);
    const label = readObject(l, lp, ctx.errs);
    if (!label) return;
    if (!readString(label.key, lp.child('key'), ctx.errs)) ctx.errs.push(required(lp.child('key')));
    readString(label.value, lp.child('value'), ctx.errs);
    readString(label.source, lp.child('source'), ctx.errs);
  });
}

/**
 * Validates a CNP or CCNP object (metadata + `spec`/`specs`). Never throws.
 * Errors with `severity: 'warning'` do not make the policy invalid.
 */
export function validateCiliumPolicy(obj: unknown, opts: CiliumValidationOptions = {}): FieldError[] {
  const o: JsonObject = isObject(obj) ? obj : {};
  const kind = o.kind === 'CiliumClusterwideNetworkPolicy' ? 'CiliumClusterwideNetworkPolicy' : 'CiliumNetworkPolicy';
  const errs: FieldError[] = validateObjectMeta(o.metadata, {
    namespaced: kind === 'CiliumNetworkPolicy',
    nameFn: nameIsDNSSubdomain,
    defaultNamespace: opts.defaultNamespace,
    kind,
  });
  const base = {
    kind,
    hostPolicy: false,
    l7Proxy: opts.l7Proxy ?? true,
    nodeSelectorLabels: opts.nodeSelectorLabels ?? false,
    icmpRules: opts.icmpRules ?? true,
    errs,
  } as const;
  if (!has(o, 'spec') && !has(o, 'specs')) {
    errs.push(required(FieldPath.root('spec'), `Invalid ${kind} spec(s): empty policy`));
    return errs;
  }
  if (has(o, 'spec')) validateRule(o.spec, FieldPath.root('spec'), { ...base, specField: 'spec' });
  const specs = readArray(o.specs, FieldPath.root('specs'), errs);
  if (specs) {
    if (specs.length === 0 && !has(o, 'spec')) {
      errs.push(warning(FieldPath.root('specs'), 'specs is empty: the policy has no rules and selects nothing'));
    }
    specs.forEach((r, i) => {
      validateRule(r, FieldPath.root('specs').index(i), { ...base, specField: 'specs' });
    });
  }
  return errs;
}
