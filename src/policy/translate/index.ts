/** Entry point of translation: any supported policy object → the rule model. */
import type { AnyPolicy, CiliumNetworkPolicy, NetworkPolicy } from '../../api/types.js';
import type { TranslatedPolicy } from '../model.js';
import { AUDIT_ANNOTATION, translateCiliumPolicy } from './cilium.js';
import { translateNetworkPolicy } from './network-policy.js';

export { AUDIT_ANNOTATION, entityPeers } from './cilium.js';
export { effectivePolicyTypes, IS_POD, namespaceIs } from './network-policy.js';

export const POLICY_KINDS = ['NetworkPolicy', 'CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy'] as const;

export function isPolicyObject(o: { kind?: unknown }): o is AnyPolicy {
  return typeof o.kind === 'string' && (POLICY_KINDS as readonly string[]).includes(o.kind);
}

export function translatePolicy(p: AnyPolicy): TranslatedPolicy {
  if (p.kind === 'NetworkPolicy') {
    const t = translateNetworkPolicy(p as NetworkPolicy);
    // Per-policy audit mode is podwall's own: the annotation works on every kind.
    if (p.metadata.annotations?.[AUDIT_ANNOTATION] === 'true') {
      for (const r of t.rules) r.audit = true;
      for (const i of t.isolations) i.audit = true;
    }
    return t;
  }
  return translateCiliumPolicy(p as CiliumNetworkPolicy);
}
