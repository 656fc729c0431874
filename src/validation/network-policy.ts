/**
 * networking.k8s.io/v1 NetworkPolicy: the apiserver's `ValidateNetworkPolicy`
 * (kubernetes pkg/apis/networking/validation/validation.go) and its defaulting
 * (protocol TCP, policyTypes from the rules present).
 */

import { type FieldError, FieldPath, forbidden, invalid, notSupported, required } from '../util/field.js';
import { isValidPortName, isValidPortNum, nameIsDNSSubdomain, typeError } from './labels.js';
import { validateObjectMeta } from './metadata.js';
import { parsePrefix, prefixContains } from './net.js';
import { validateLabelSelector } from './selector.js';
import { cloneJson, has, isObject, type JsonObject, readArray, readInt, readObject, readString } from './walk.js';

/** Supported protocols in the order the apiserver prints them. */
export const NETWORK_POLICY_PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
export const POLICY_TYPES = ['Ingress', 'Egress'];

const CIDR_EXAMPLE_MSG = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';

/** `ValidateNetworkPolicyPort`. `port` is an IntOrString: YAML `80` is a number, `"80"` a (bad) port name. */
export function validateNetworkPolicyPort(v: unknown, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const port = readObject(v, path, errs);
  if (!port) return errs;
  const protocol = readString(port.protocol, path.child('protocol'), errs);
  if (protocol !== undefined && !NETWORK_POLICY_PROTOCOLS.includes(protocol)) {
    errs.push(notSupported(path.child('protocol'), protocol, NETWORK_POLICY_PROTOCOLS));
  }
  const endPort = readInt(port.endPort, path.child('endPort'), errs);
  const p = port.port;
  if (p === undefined || p === null) {
    if (endPort !== undefined) {
      errs.push(invalid(path.child('endPort'), endPort, 'may not be specified when `port` is not specified'));
    }
  } else if (typeof p === 'number' && Number.isInteger(p)) {
    for (const m of isValidPortNum(p)) errs.push(invalid(path.child('port'), p, m));
    if (endPort !== undefined) {
      if (endPort < p) errs.push(invalid(path.child('endPort'), endPort, 'must be greater than or equal to `port`'));
      for (const m of isValidPortNum(endPort)) errs.push(invalid(path.child('endPort'), endPort, m));
    }
  } else if (typeof p === 'string') {
    if (endPort !== undefined) {
      errs.push(invalid(path.child('endPort'), endPort, 'may not be specified when `port` is non-numeric'));
    }
    for (const m of isValidPortName(p)) errs.push(invalid(path.child('port'), p, m));
  } else {
    errs.push(typeError(path.child('port'), p, 'integer or string'));
  }
  return errs;
}

/** `ValidateIPBlock` with the legacy (sloppy) CIDR parser the apiserver still uses for this field. */
export function validateIPBlock(v: unknown, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const ipb = readObject(v, path, errs);
  if (!ipb) return errs;
  const cidr = readString(ipb.cidr, path.child('cidr'), errs);
  if (!cidr) {
    if (!has(ipb, 'cidr') || ipb.cidr === '') errs.push(required(path.child('cidr')));
    return errs;
  }
  const parsed = parsePrefix(cidr, true);
  if (!parsed.ok) {
    errs.push(invalid(path.child('cidr'), cidr, CIDR_EXAMPLE_MSG));
    return errs;
  }
  const except = readArray(ipb.except, path.child('except'), errs) ?? [];
  except.forEach((e, i) => {
    const ep = path.child('except').index(i);
    if (typeof e !== 'string') {
      errs.push(typeError(ep, e, 'string'));
      return;
    }
    const ex = parsePrefix(e, true);
    if (!ex.ok) {
      errs.push(invalid(ep, e, CIDR_EXAMPLE_MSG));
      return;
    }
    if (!prefixContains(parsed.value, ex.value.addr) || parsed.value.bits >= ex.value.bits) {
      errs.push(invalid(ep, e, 'must be a strict subset of `cidr`'));
    }
  });
  return errs;
}

/** `ValidateNetworkPolicyPeer`: at least one of the three, and ipBlock alone. */
export function validateNetworkPolicyPeer(v: unknown, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const peer = readObject(v, path, errs);
  if (!peer) {
    if (v === null || v === undefined) errs.push(required(path, 'must specify a peer'));
    return errs;
  }
  let n = 0;
  if (has(peer, 'podSelector')) {
    n++;
    errs.push(...validateLabelSelector(peer.podSelector, path.child('podSelector')));
  }
  if (has(peer, 'namespaceSelector')) {
    n++;
    errs.push(...validateLabelSelector(peer.namespaceSelector, path.child('namespaceSelector')));
  }
  if (has(peer, 'ipBlock')) {
    n++;
    errs.push(...validateIPBlock(peer.ipBlock, path.child('ipBlock')));
  }
  if (n === 0) errs.push(required(path, 'must specify a peer'));
  else if (n > 1 && has(peer, 'ipBlock')) errs.push(forbidden(path, 'may not specify both ipBlock and another peer'));
  return errs;
}

function validateRules(spec: JsonObject, dir: 'ingress' | 'egress', path: FieldPath, errs: FieldError[]): void {
  const peersKey = dir === 'ingress' ? 'from' : 'to';
  const rules = readArray(spec[dir], path.child(dir), errs) ?? [];
  rules.forEach((r, i) => {
    const rp = path.child(dir).index(i);
    const rule = readObject(r, rp, errs);
    if (!rule) return;
    const ports = readArray(rule.ports, rp.child('ports'), errs) ?? [];
    ports.forEach((p, j) => {
      errs.push(...validateNetworkPolicyPort(p, rp.child('ports').index(j)));
    });
    const peers = readArray(rule[peersKey], rp.child(peersKey), errs) ?? [];
    peers.forEach((p, j) => {
      errs.push(...validateNetworkPolicyPeer(p, rp.child(peersKey).index(j)));
    });
  });
}

/** `ValidateNetworkPolicySpec`. */
export function validateNetworkPolicySpec(v: unknown, path: FieldPath = FieldPath.root('spec')): FieldError[] {
  const errs: FieldError[] = [];
  const spec = readObject(v, path, errs);
  if (!spec) return errs;
  errs.push(...validateLabelSelector(spec.podSelector, path.child('podSelector')));
  validateRules(spec, 'ingress', path, errs);
  validateRules(spec, 'egress', path, errs);
  const types = readArray(spec.policyTypes, path.child('policyTypes'), errs);
  if (types) {
    if (types.length > POLICY_TYPES.length) {
      errs.push(invalid(path.child('policyTypes'), types, 'may not specify more than two policyTypes'));
      return errs;
    }
    types.forEach((t, i) => {
      const tp = path.child('policyTypes').index(i);
      if (typeof t !== 'string') errs.push(typeError(tp, t, 'string'));
      else if (!POLICY_TYPES.includes(t)) errs.push(notSupported(tp, t, POLICY_TYPES));
    });
  }
  return errs;
}

export interface NetworkPolicyValidationOptions {
  defaultNamespace?: string;
}

/** `ValidateNetworkPolicy`: metadata (DNS-1123 subdomain name, namespaced) plus the spec. */
export function validateNetworkPolicy(np: unknown, opts: NetworkPolicyValidationOptions = {}): FieldError[] {
  const obj = isObject(np) ? np : {};
  return [
    ...validateObjectMeta(obj.metadata, {
      namespaced: true,
      nameFn: nameIsDNSSubdomain,
      defaultNamespace: opts.defaultNamespace,
      kind: 'NetworkPolicy',
    }),
    ...validateNetworkPolicySpec(obj.spec ?? {}),
  ];
}

/**
 * The apiserver's defaulting for NetworkPolicy (pkg/apis/networking/v1/defaults.go), on a copy:
 * a port without protocol gets `TCP`; missing `policyTypes` becomes `["Ingress"]`, plus `"Egress"`
 * when the spec has egress rules. Input that is not shaped like a NetworkPolicy is copied unchanged.
 */
export function defaultNetworkPolicy<T>(np: T): T {
  const out = cloneJson(np);
  if (!isObject(out) || !isObject(out.spec)) return out;
  const spec = out.spec;
  for (const dir of ['ingress', 'egress']) {
    const rules = spec[dir];
    if (!Array.isArray(rules)) continue;
    for (const rule of rules) {
      if (!isObject(rule) || !Array.isArray(rule.ports)) continue;
      for (const port of rule.ports) {
        if (isObject(port) && (port.protocol === undefined || port.protocol === null)) port.protocol = 'TCP';
      }
    }
  }
  if (
    spec.policyTypes === undefined ||
    spec.policyTypes === null ||
    (Array.isArray(spec.policyTypes) && spec.policyTypes.length === 0)
  ) {
    const types = ['Ingress'];
    if (Array.isArray(spec.egress) && spec.egress.length > 0) types.push('Egress');
    spec.policyTypes = types;
  }
  return out;
}
