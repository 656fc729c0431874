/**
 * Kubernetes NetworkPolicy → rule model, with the apiserver's defaulting applied first
 * (missing protocol is TCP; missing policyTypes is [Ingress] plus Egress when egress rules exist).
 */
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../../api/types.js';
import {
  andSelectors,
  fromLabelSelector,
  LABEL_NAMESPACE,
  LABEL_NAMESPACE_LABELS_PREFIX,
  makeSelector,
  type Selector,
  SOURCE_K8S,
} from '../../labels/index.js';
import { canonicalCidr } from '../../util/ip.js';
import type { Isolation, Peer, PortSpec, Rule, TranslatedPolicy } from '../model.js';
import type { Direction, Protocol, RuleRef } from '../types.js';

export function namespaceIs(ns: string): Selector {
  return makeSelector([{ source: SOURCE_K8S, key: LABEL_NAMESPACE, op: 'In', values: [ns] }]);
}

export const IS_POD: Selector = makeSelector([{ source: SOURCE_K8S, key: LABEL_NAMESPACE, op: 'Exists', values: [] }]);

/** A namespaceSelector becomes a selector over the pod's namespace labels, restricted to pods. */
export function namespaceSelectorToPods(sel: NetworkPolicyPeer['namespaceSelector']): Selector {
  const s = fromLabelSelector(sel, SOURCE_K8S, false);
  const reqs = s.requirements.map((r) => ({ ...r, key: LABEL_NAMESPACE_LABELS_PREFIX + r.key }));
  return andSelectors(makeSelector(reqs), IS_POD);
}

export function effectivePolicyTypes(np: NetworkPolicy): Direction[] {
  const types = np.spec.policyTypes;
  if (types && types.length > 0) {
    return types.map((t) => (t === 'Egress' ? 'egress' : 'ingress'));
  }
  const out: Direction[] = ['ingress'];
  if ((np.spec.egress ?? []).length > 0) out.push('egress');
  return out;
}

function translatePeer(peer: NetworkPolicyPeer, ns: string): Peer {
  if (peer.ipBlock) {
    return {
      kind: 'cidr',
      cidr: canonicalCidr(peer.ipBlock.cidr) ?? peer.ipBlock.cidr,
      except: (peer.ipBlock.except ?? []).map((e) => canonicalCidr(e) ?? e),
      matchPods: true,
    };
  }
  const pods = peer.podSelector ? fromLabelSelector(peer.podSelector, SOURCE_K8S, false) : undefined;
  if (peer.namespaceSelector) {
    const nsSel = namespaceSelectorToPods(peer.namespaceSelector);
    return { kind: 'endpoints', selector: pods ? andSelectors(pods, nsSel) : nsSel };
  }
  return { kind: 'endpoints', selector: andSelectors(pods ?? makeSelector([]), namespaceIs(ns)) };
}

function translatePort(p: NetworkPolicyPort): PortSpec {
  const protocol = (p.protocol ?? 'TCP') as Protocol;
  if (p.port === undefined || p.port === null) return { protocol, port: 0 };
  if (typeof p.port === 'number')
    return p.endPort !== undefined ? { protocol, port: p.port, endPort: p.endPort } : { protocol, port: p.port };
  // A numeric string is not valid IntOrString input for a NetworkPolicy; named ports are strings.
  return { protocol, port: p.port };
}

export function translateNetworkPolicy(np: NetworkPolicy): TranslatedPolicy {
  const ns = np.metadata.namespace ?? 'default';
  const name = np.metadata.name ?? '';
  const subject = andSelectors(fromLabelSelector(np.spec.podSelector, SOURCE_K8S, false), namespaceIs(ns));
  const directions = effectivePolicyTypes(np);
  const rules: Rule[] = [];
  const isolations: Isolation[] = [];
  const ref = (path: string): RuleRef => ({ kind: 'NetworkPolicy', namespace: ns, name, path });

  for (const direction of directions) {
    const field = direction === 'ingress' ? 'ingress' : 'egress';
    isolations.push({
      ref: ref(`spec.policyTypes[${field === 'ingress' ? 'Ingress' : 'Egress'}]`),
      direction,
      subject,
      defaultDeny: true,
    });
    const list = (direction === 'ingress' ? np.spec.ingress : np.spec.egress) ?? [];
    list.forEach((r, i) => {
      const peerList =
        (direction === 'ingress'
          ? (r as { from?: NetworkPolicyPeer[] }).from
          : (r as { to?: NetworkPolicyPeer[] }).to) ?? [];
      const ports = r.ports ?? [];
      rules.push({
        ref: ref(`spec.${field}[${i}]`),
        direction,
        verdict: 'allow',
        subject,
        peers: peerList.length === 0 ? 'any' : peerList.map((p) => translatePeer(p, ns)),
        ports: ports.length === 0 ? 'all' : ports.map(translatePort),
        defaultDeny: true,
      });
    });
  }
  return { key: `NetworkPolicy/${ns}/${name}`, rules, isolations, warnings: [] };
}
