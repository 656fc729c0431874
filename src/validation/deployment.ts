/**
 * apps/v1 Deployment and ReplicaSet: selector, replicas, pod template, and the check that the
 * selector matches the template's labels (apps `ValidateDeploymentSpec` / `ValidateReplicaSetSpec`).
 */

import { type FieldError, FieldPath, invalid, notSupported, required } from '../util/field.js';
import { nameIsDNSSubdomain, validateAnnotations, validateLabels } from './labels.js';
import { validateObjectMeta } from './metadata.js';
import { validatePodSpec } from './pod.js';
import { isEmptySelector, selectorMatches, validateLabelSelector } from './selector.js';
import { isObject, readInt, readObject, readString } from './walk.js';

export interface WorkloadValidationOptions {
  defaultNamespace?: string;
}

function validateWorkloadSpec(v: unknown, path: FieldPath, kind: 'Deployment' | 'ReplicaSet'): FieldError[] {
  const errs: FieldError[] = [];
  const spec = readObject(v, path, errs);
  if (!spec) {
    if (v === undefined || v === null) errs.push(required(path.child('selector')), required(path.child('template')));
    return errs;
  }
  const replicas = readInt(spec.replicas, path.child('replicas'), errs);
  if (replicas !== undefined && replicas < 0) {
    errs.push(invalid(path.child('replicas'), replicas, 'must be greater than or equal to 0'));
  }
  for (const k of ['minReadySeconds', 'revisionHistoryLimit', 'progressDeadlineSeconds']) {
    const n = readInt(spec[k], path.child(k), errs);
    if (n !== undefined && n < 0) errs.push(invalid(path.child(k), n, 'must be greater than or equal to 0'));
  }

  const selPath = path.child('selector');
  let selectorOk = false;
  if (spec.selector === undefined || spec.selector === null) {
    errs.push(required(selPath));
  } else {
    const selErrs = validateLabelSelector(spec.selector, selPath);
    errs.push(...selErrs);
    if (isEmptySelector(spec.selector)) {
      errs.push(invalid(selPath, spec.selector, `empty selector is invalid for ${kind.toLowerCase()}`));
    } else {
      selectorOk = selErrs.length === 0;
    }
  }

  const tPath = path.child('template');
  const template = readObject(spec.template, tPath, errs);
  if (!template) {
    if (spec.template === undefined || spec.template === null) errs.push(required(tPath));
    return errs;
  }
  const meta = readObject(template.metadata, tPath.child('metadata'), errs) ?? {};
  const labelsPath = tPath.child('metadata', 'labels');
  const labelErrs = validateLabels(meta.labels, labelsPath);
  errs.push(...labelErrs);
  errs.push(...validateAnnotations(meta.annotations, tPath.child('metadata', 'annotations')));
  const labels = isObject(meta.labels) ? meta.labels : {};
  if (selectorOk && !selectorMatches(spec.selector, labels)) {
    errs.push(invalid(labelsPath, labels, '`selector` does not match template `labels`'));
  }
  errs.push(...validatePodSpec(template.spec, tPath.child('spec'), { template: true }));

  if (kind === 'Deployment') {
    const strategy = readObject(spec.strategy, path.child('strategy'), errs);
    const type = strategy && readString(strategy.type, path.child('strategy', 'type'), errs);
    if (type !== undefined && type !== 'Recreate' && type !== 'RollingUpdate') {
      errs.push(notSupported(path.child('strategy', 'type'), type, ['Recreate', 'RollingUpdate']));
    }
  }
  return errs;
}

function validateWorkload(
  obj: unknown,
  kind: 'Deployment' | 'ReplicaSet',
  opts: WorkloadValidationOptions,
): FieldError[] {
  const o = isObject(obj) ? obj : {};
  return [
    ...validateObjectMeta(o.metadata, {
      namespaced: true,
      nameFn: nameIsDNSSubdomain,
      defaultNamespace: opts.defaultNamespace,
      kind,
    }),
    ...validateWorkloadSpec(o.spec, FieldPath.root('spec'), kind),
  ];
}

/** `ValidateDeployment` (subset). */
export function validateDeployment(obj: unknown, opts: WorkloadValidationOptions = {}): FieldError[] {
  return validateWorkload(obj, 'Deployment', opts);
}

/** `ValidateReplicaSet` (subset). */
export function validateReplicaSet(obj: unknown, opts: WorkloadValidationOptions = {}): FieldError[] {
  return validateWorkload(obj, 'ReplicaSet', opts);
}
