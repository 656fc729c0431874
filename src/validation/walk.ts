/**
 * Defensive accessors for validating decoded (untrusted) JSON: every reader checks the JSON type,
 * records an apiserver-style type error with the field path when it is wrong, and never throws.
 * `null` is treated as "absent", as the apiserver's JSON decoding does for optional fields.
 */

import type { FieldError, FieldPath } from '../util/field.js';
import { typeError } from './labels.js';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Object at `path`, or undefined when absent; a non-object is reported. */
export function readObject(v: unknown, path: FieldPath, errs: FieldError[]): JsonObject | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) {
    errs.push(typeError(path, v, 'object'));
    return undefined;
  }
  return v;
}

/** Array at `path`, or undefined when absent; a non-array is reported. */
export function readArray(v: unknown, path: FieldPath, errs: FieldError[]): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    errs.push(typeError(path, v, 'array'));
    return undefined;
  }
  return v;
}

export function readString(v: unknown, path: FieldPath, errs: FieldError[]): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    errs.push(typeError(path, v, 'string'));
    return undefined;
  }
  return v;
}

export function readInt(v: unknown, path: FieldPath, errs: FieldError[]): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    errs.push(typeError(path, v, 'integer'));
    return undefined;
  }
  return v;
}

export function readBool(v: unknown, path: FieldPath, errs: FieldError[]): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    errs.push(typeError(path, v, 'boolean'));
    return undefined;
  }
  return v;
}

/** Array of strings; wrong-typed items are reported one by one and skipped. */
export function readStringArray(v: unknown, path: FieldPath, errs: FieldError[]): { s: string; i: number }[] {
  const arr = readArray(v, path, errs);
  if (!arr) return [];
  const out: { s: string; i: number }[] = [];
  arr.forEach((item, i) => {
    const s = readString(item, path.index(i), errs);
    if (s !== undefined) out.push({ s, i });
    else if (item === null || item === undefined) errs.push(typeError(path.index(i), item, 'string'));
  });
  return out;
}

/** Deep copy of a JSON value (plain objects, arrays, scalars); anything else is copied by reference. */
export function cloneJson<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => cloneJson(x)) as T;
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = cloneJson(x);
    return out as T;
  }
  return v;
}

/** True when the object has the key with a non-null value (JSON "present"). */
export function has(o: JsonObject, key: string): boolean {
  return o[key] !== undefined && o[key] !== null;
}
