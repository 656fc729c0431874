/**
 * Semantic validation of decoded Kubernetes/Cilium objects: every problem at once, each a
 * `FieldError` with its field path, in the apiserver's (or Cilium's) wording. Pure; never throws.
 * Errors with `severity: 'warning'` are findings that do not make the object invalid.
 */

import { lookupKind, noMatchesMessage } from '../api/kinds.js';
import type { KubeObject } from '../api/types.js';
import { type FieldError, invalid, required } from '../util/field.js';
import { validateCiliumPolicy } from './cilium-policy.js';
import { validateDeployment, validateReplicaSet } from './deployment.js';
import { jsonTypeOf, nameIsDNSLabel, nameIsDNSSubdomain } from './labels.js';
import { validateObjectMeta } from './metadata.js';
import { validateNetworkPolicy } from './network-policy.js';
import { validatePod } from './pod.js';
import { validateService } from './service.js';
import { isObject } from './walk.js';

export type { CiliumValidationOptions } from './cilium-policy.js';
export {
  CILIUM_ENTITIES,
  CILIUM_PORT_PROTOCOLS,
  goParseUint16,
  goRegexpError,
  isIanaSvcName,
  validateCiliumPolicy,
} from './cilium-policy.js';
export { validateDeployment, validateReplicaSet } from './deployment.js';
export {
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  validateAnnotations,
  validateLabels,
} from './labels.js';
export { validateObjectMeta } from './metadata.js';
export {
  defaultNetworkPolicy,
  validateIPBlock,
  validateNetworkPolicy,
  validateNetworkPolicyPeer,
  validateNetworkPolicyPort,
  validateNetworkPolicySpec,
} from './network-policy.js';
export { validatePod, validatePodSpec } from './pod.js';
export { selectorMatches, validateLabelSelector } from './selector.js';
export { defaultService, validateService } from './service.js';
export { findUnknownFields } from './unknown-fields.js';

export interface ValidateOptions {
  /** Namespace applied to namespaced objects without metadata.namespace (kubectl's `-n`/context namespace). */
  defaultNamespace?: string;
  /** Cilium agent settings that change what Sanitize accepts (defaults: L7 proxy on, node-selector labels off, ICMP rules on). */
  cilium?: { l7Proxy?: boolean; nodeSelectorLabels?: boolean; icmpRules?: boolean };
}

/** Whether any finding in the list rejects the object (i.e. is not a warning). */
export function hasErrors(errs: readonly FieldError[]): boolean {
  return errs.some((e) => e.severity !== 'warning');
}

function dispatch(obj: unknown, opts: ValidateOptions): FieldError[] {
  if (!isObject(obj)) {
    return [invalid('', jsonTypeOf(obj), 'expected a Kubernetes object (a mapping with apiVersion and kind)')];
  }
  const errs: FieldError[] = [];
  const { apiVersion, kind } = obj;
  if (apiVersion === undefined || apiVersion === null || apiVersion === '') errs.push(required('apiVersion'));
  else if (typeof apiVersion !== 'string') errs.push(invalid('apiVersion', apiVersion, 'must be a string'));
  if (kind === undefined || kind === null || kind === '') errs.push(required('kind'));
  else if (typeof kind !== 'string') errs.push(invalid('kind', kind, 'must be a string'));
  if (errs.length > 0) return errs;

  const info = lookupKind(apiVersion as string, kind as string);
  if (!info) return [invalid('kind', kind, noMatchesMessage(apiVersion as string, kind as string))];
  const ns = { defaultNamespace: opts.defaultNamespace };
  switch (info.kind) {
    case 'NetworkPolicy':
      return validateNetworkPolicy(obj, ns);
    case 'CiliumNetworkPolicy':
    case 'CiliumClusterwideNetworkPolicy':
      return validateCiliumPolicy(obj, { ...ns, ...opts.cilium });
    case 'Pod':
      return validatePod(obj, ns);
    case 'Service':
      return validateService(obj, ns);
    case 'Deployment':
      return validateDeployment(obj, ns);
    case 'ReplicaSet':
      return validateReplicaSet(obj, ns);
    default:
      return validateObjectMeta(obj.metadata, {
        namespaced: info.namespaced,
        nameFn: info.kind === 'Namespace' ? nameIsDNSLabel : nameIsDNSSubdomain,
        defaultNamespace: opts.defaultNamespace,
        kind: info.kind,
      });
  }
}

/**
 * Validates any decoded object of a known kind (see `api/kinds.ts`). An unknown apiVersion/kind
 * yields one `kind` error with kubectl's `no matches for kind ...` text. Never throws: a bug in a
 * validator surfaces as an `Internal error`, not an exception.
 */
export function validateObject(obj: KubeObject | unknown, opts: ValidateOptions = {}): FieldError[] {
  try {
    return dispatch(obj, opts);
  } catch (e) {
    return [
      { type: 'Internal', field: '', detail: `validation failed: ${e instanceof Error ? e.message : String(e)}` },
    ];
  }
}
