/**
 * Label selector validation.
 * - `k8s`: apimachinery `ValidateLabelSelector` (AllowInvalidLabelValueInSelector=false), used for
 *   NetworkPolicy, Deployment and every built-in kind.
 * - `cilium`: what a CiliumNetworkPolicy selector goes through: the CRD schema (operator enum,
 *   required key/operator, matchLabels value pattern) and then Cilium's `EndpointSelector.Validate`,
 *   which runs apimachinery's checks on keys converted to Cilium's `source.key` form
 *   (`k8s:io.kubernetes.pod.namespace` → `k8s.io.kubernetes.pod.namespace`, `app` → `any.app`).
 */

import { type FieldError, type FieldPath, forbidden, invalid, notSupported, required } from '../util/field.js';
import { isQualifiedName, isValidLabelValue, typeError, validateLabelName, validateLabels } from './labels.js';
import { readArray, readObject, readString } from './walk.js';

export type SelectorFlavor = 'k8s' | 'cilium';

export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** The CRD pattern for matchLabels values (same language as IsValidLabelValue). */
const CRD_LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';

/** Cilium's extended key (`source.key`) for a selector key, as `labels.GetExtendedKeyFrom` builds it. */
export function ciliumExtendedKey(key: string): string {
  const colon = key.indexOf(':');
  let src = 'any';
  let rest = key;
  if (colon >= 0) {
    src = key.slice(0, colon) || 'any';
    rest = key.slice(colon + 1);
  }
  const eq = rest.indexOf('=');
  if (eq >= 0) rest = rest.slice(0, eq);
  return `${src}.${rest}`;
}

function validateKey(key: string, path: FieldPath, flavor: SelectorFlavor): FieldError[] {
  if (flavor === 'k8s') return validateLabelName(key, path);
  return isQualifiedName(ciliumExtendedKey(key)).map((m) => invalid(path, key, m));
}

function validateCiliumMatchLabels(v: unknown, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const ml = readObject(v, path, errs);
  if (!ml) return errs;
  for (const [k, val] of Object.entries(ml)) {
    errs.push(...validateKey(k, path, 'cilium'));
    const p = path.child(k);
    if (typeof val !== 'string') {
      errs.push(typeError(p, val, 'string'));
      continue;
    }
    if (val.length > 63) errs.push({ type: 'TooLong', field: String(p), detail: 'may not be more than 63 bytes' });
    if (!/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(val)) {
      errs.push(invalid(p, val, `${p} in body should match '${CRD_LABEL_VALUE_PATTERN}'`));
    }
  }
  return errs;
}

function validateRequirement(v: unknown, path: FieldPath, flavor: SelectorFlavor): FieldError[] {
  const errs: FieldError[] = [];
  const req = readObject(v, path, errs);
  if (!req) {
    if (v === null || v === undefined) errs.push(typeError(path, v, 'object'));
    return errs;
  }
  const key = readString(req.key, path.child('key'), errs);
  const op = readString(req.operator, path.child('operator'), errs);
  const values = readArray(req.values, path.child('values'), errs) ?? [];

  if (flavor === 'cilium') {
    if (req.key === undefined || req.key === null) errs.push(required(path.child('key')));
    if (req.operator === undefined || req.operator === null) errs.push(required(path.child('operator')));
    else if (op !== undefined && !(SELECTOR_OPERATORS as readonly string[]).includes(op)) {
      errs.push(notSupported(path.child('operator'), op, [...SELECTOR_OPERATORS]));
    }
  }

  switch (op) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) {
        errs.push(required(path.child('values'), "must be specified when `operator` is 'In' or 'NotIn'"));
      }
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length > 0) {
        errs.push(
          forbidden(path.child('values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
        );
      }
      break;
    default:
      if (flavor === 'k8s') errs.push(invalid(path.child('operator'), op ?? '', 'not a valid selector operator'));
  }
  if (key !== undefined || flavor === 'k8s') errs.push(...validateKey(key ?? '', path.child('key'), flavor));
  values.forEach((val, i) => {
    const p = path.child('values').index(i);
    if (typeof val !== 'string') {
      errs.push(typeError(p, val, 'string'));
      return;
    }
    for (const m of isValidLabelValue(val)) errs.push(invalid(p, val, m));
  });
  return errs;
}

/**
 * Validates a LabelSelector at `path`. An absent selector is valid here; callers that require one
 * report `Required` themselves.
 */
export function validateLabelSelector(v: unknown, path: FieldPath, flavor: SelectorFlavor = 'k8s'): FieldError[] {
  const errs: FieldError[] = [];
  const sel = readObject(v, path, errs);
  if (!sel) return errs;
  if (flavor === 'k8s') errs.push(...validateLabels(sel.matchLabels, path.child('matchLabels')));
  else errs.push(...validateCiliumMatchLabels(sel.matchLabels, path.child('matchLabels')));
  const exprs = readArray(sel.matchExpressions, path.child('matchExpressions'), errs);
  exprs?.forEach((e, i) => {
    errs.push(...validateRequirement(e, path.child('matchExpressions').index(i), flavor));
  });
  return errs;
}

/** Whether a decoded selector has no requirements at all (`{}` selects everything). */
export function isEmptySelector(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const s = v as Record<string, unknown>;
  const ml = s.matchLabels;
  const me = s.matchExpressions;
  const nLabels = typeof ml === 'object' && ml !== null ? Object.keys(ml).length : 0;
  const nExprs = Array.isArray(me) ? me.length : 0;
  return nLabels === 0 && nExprs === 0;
}

/**
 * apimachinery selector semantics, for checks that need a match (e.g. a Deployment's selector
 * against its template labels). An invalid selector matches nothing. `NotIn`/`DoesNotExist` match
 * when the key is absent.
 */
export function selectorMatches(sel: unknown, labels: Record<string, unknown>): boolean {
  if (typeof sel !== 'object' || sel === null || Array.isArray(sel)) return false;
  const s = sel as Record<string, unknown>;
  const ml = s.matchLabels;
  if (ml !== undefined && ml !== null) {
    if (typeof ml !== 'object' || Array.isArray(ml)) return false;
    for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
  }
  const me = s.matchExpressions;
  if (me !== undefined && me !== null) {
    if (!Array.isArray(me)) return false;
    for (const e of me) {
      if (typeof e !== 'object' || e === null) return false;
      const { key, operator, values } = e as Record<string, unknown>;
      if (typeof key !== 'string') return false;
      const vals = Array.isArray(values) ? values : [];
      const present = Object.hasOwn(labels, key);
      switch (operator) {
        case 'In':
          if (!present || !vals.includes(labels[key])) return false;
          break;
        case 'NotIn':
          if (present && vals.includes(labels[key])) return false;
          break;
        case 'Exists':
          if (!present) return false;
          break;
        case 'DoesNotExist':
          if (present) return false;
          break;
        default:
          return false;
      }
    }
  }
  return true;
}
