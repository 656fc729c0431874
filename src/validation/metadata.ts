/**
 * `metadata` validation as apimachinery's `ValidateObjectMeta` does it on create, with one difference
 * that mirrors the apiserver's create path: a cluster-scoped object carrying a namespace is not an
 * error (the apiserver clears it), it is a warning.
 */

import { type FieldError, FieldPath, forbidden, invalid, required } from '../util/field.js';
import { isDNS1123Label, isQualifiedName, type NameValidator, validateAnnotations, validateLabels } from './labels.js';
import { readArray, readInt, readObject, readString } from './walk.js';

export interface MetadataOptions {
  /** Whether the kind lives in a namespace. */
  namespaced: boolean;
  /** Validates `name` (prefix=false) and `generateName` (prefix=true). */
  nameFn: NameValidator;
  /** The namespace kubectl would fill in (`-n` or the context's), used when metadata.namespace is absent. */
  defaultNamespace?: string;
  /** Kind name for messages, e.g. `CiliumClusterwideNetworkPolicy`. */
  kind?: string;
}

export function validateObjectMeta(
  meta: unknown,
  opts: MetadataOptions,
  path: FieldPath = FieldPath.root('metadata'),
): FieldError[] {
  const errs: FieldError[] = [];
  const m = readObject(meta, path, errs) ?? {};
  if (meta !== undefined && meta !== null && errs.length > 0) return errs;

  const generateName = readString(m.generateName, path.child('generateName'), errs);
  if (generateName) {
    for (const msg of opts.nameFn(generateName, true))
      errs.push(invalid(path.child('generateName'), generateName, msg));
  }
  const name = readString(m.name, path.child('name'), errs);
  if (!name) {
    // The apiserver generates a name from generateName before validating; only a missing pair is an error.
    if (!generateName && (m.name === undefined || m.name === null || m.name === '')) {
      errs.push(required(path.child('name'), 'name or generateName is required'));
    }
  } else {
    for (const msg of opts.nameFn(name, false)) errs.push(invalid(path.child('name'), name, msg));
  }

  const ns = readString(m.namespace, path.child('namespace'), errs);
  if (opts.namespaced) {
    const effective = ns || opts.defaultNamespace;
    if (!effective) {
      if (m.namespace === undefined || m.namespace === null || m.namespace === '') {
        errs.push(required(path.child('namespace')));
      }
    } else {
      for (const msg of isDNS1123Label(effective)) errs.push(invalid(path.child('namespace'), effective, msg));
    }
  } else if (ns) {
    errs.push({
      ...forbidden(
        path.child('namespace'),
        `not allowed on this type: ${opts.kind ?? 'this kind'} is cluster-scoped, the namespace is ignored`,
      ),
      severity: 'warning',
    });
  }

  const generation = readInt(m.generation, path.child('generation'), errs);
  if (generation !== undefined && generation < 0) {
    errs.push(invalid(path.child('generation'), generation, 'must be greater than or equal to 0'));
  }
  errs.push(...validateLabels(m.labels, path.child('labels')));
  errs.push(...validateAnnotations(m.annotations, path.child('annotations')));
  const finalizers = readArray(m.finalizers, path.child('finalizers'), errs) ?? [];
  finalizers.forEach((f, i) => {
    const s = readString(f, path.child('finalizers').index(i), errs);
    if (s !== undefined) for (const msg of isQualifiedName(s)) errs.push(invalid(path.child('finalizers'), s, msg));
  });
  return errs;
}
