/**
 * The three patch types of the Kubernetes API:
 * - JSON merge patch (RFC 7386): every kind;
 * - JSON patch (RFC 6902): every kind;
 * - strategic merge patch: built-in kinds only, with the patch strategies and merge keys of their Go struct
 *   tags (containers by name, container ports by containerPort, service ports by port, env by name, …), and
 *   the directives kubectl's three-way patches carry: `$patch` (replace/delete/merge), `$retainKeys`,
 *   `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>`.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export class PatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

// ---------------------------------------------------------------------------------------------------------------
// JSON merge patch

export function jsonMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k] ?? null, v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON patch

interface JsonPatchOp {
  op: string;
  path: string;
  value?: Json;
  from?: string;
}

function parsePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new PatchError(`invalid JSON pointer: ${JSON.stringify(p)}`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(doc: Json, parts: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const part of parts) {
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = Object.hasOwn(cur, part) ? cur[part] : undefined;
    else return undefined;
  }
  return cur;
}

function parentOf(doc: Json, parts: string[], path: string): { parent: Json; key: string } {
  const parent = getAt(doc, parts.slice(0, -1));
  if (parent === undefined || (typeof parent !== 'object' && parent !== null) || parent === null)
    throw new PatchError(`doc is missing path: "${path}": missing value`);
  return { parent, key: parts[parts.length - 1] };
}

function arrayIndex(arr: Json[], key: string, path: string, forInsert: boolean): number {
  if (forInsert && key === '-') return arr.length;
  const i = Number(key);
  if (!/^\d+$/.test(key) || i > arr.length || (!forInsert && i >= arr.length))
    throw new PatchError(`Unable to access invalid index: ${key}: invalid index referenced: "${path}"`);
  return i;
}

function addAt(doc: Json, path: string, value: Json): Json {
  const parts = parsePointer(path);
  if (parts.length === 0) return clone(value);
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, clone(value));
  else (parent as JsonObject)[key] = clone(value);
  return doc;
}

function removeAt(doc: Json, path: string): Json {
  const parts = parsePointer(path);
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, false), 1);
  else {
    if (!Object.hasOwn(parent as JsonObject, key))
      throw new PatchError(`Unable to remove nonexistent key: ${key}: missing value`);
    delete (parent as JsonObject)[key];
  }
  return doc;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function jsonPatch(target: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const raw of ops as JsonPatchOp[]) {
    const { op, path } = raw;
    if (typeof path !== 'string') throw new PatchError(`Unexpected kind: ${op}`);
    switch (op) {
      case 'add':
        doc = addAt(doc, path, raw.value ?? null);
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace': {
        if (getAt(doc, parsePointer(path)) === undefined)
          throw new PatchError(`replace operation does not apply: doc is missing key: ${path}: missing value`);
        if (path === '') doc = clone(raw.value ?? null);
        else {
          doc = removeAt(doc, path);
          doc = addAt(doc, path, raw.value ?? null);
        }
        break;
      }
      case 'move': {
        const v = getAt(doc, parsePointer(raw.from ?? ''));
        if (v === undefined)
          throw new PatchError(`move operation does not apply: doc is missing from path: ${raw.from}`);
        doc = removeAt(doc, raw.from ?? '');
        doc = addAt(doc, path, v);
        break;
      }
      case 'copy': {
        const v = getAt(doc, parsePointer(raw.from ?? ''));
        if (v === undefined)
          throw new PatchError(`copy operation does not apply: doc is missing from path: ${raw.from}`);
        doc = addAt(doc, path, v);
        break;
      }
      case 'test': {
        if (!deepEqual(getAt(doc, parsePointer(path)), raw.value))
          throw new PatchError(`testing value ${path} failed: test failed`);
        break;
      }
      default:
        throw new PatchError(`Unexpected kind: ${op}`);
    }
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------------------------
// Strategic merge patch

/** Patch metadata of one field, from the Go struct tags of the built-in types. */
export interface PatchMeta {
  /** Fields of an object (map-valued fields not listed here merge as plain maps). */
  fields?: Record<string, PatchMeta>;
  /** For lists: `merge` with `mergeKey` (or a primitive set when no key), otherwise atomic replace. */
  strategy?: 'merge' | 'retainKeys' | 'merge,retainKeys';
  mergeKey?: string;
  /** Element metadata of a list. */
  items?: PatchMeta;
}

const mergeList = (mergeKey: string, items?: PatchMeta): PatchMeta => ({ strategy: 'merge', mergeKey, items });
const conditions = mergeList('type');

const OBJECT_META: PatchMeta = {
  fields: {
    finalizers: { strategy: 'merge' },
    ownerReferences: mergeList('uid'),
  },
};

const CONTAINER: PatchMeta = {
  fields: {
    ports: mergeList('containerPort'),
    env: mergeList('name'),
    volumeMounts: mergeList('mountPath'),
    volumeDevices: mergeList('devicePath'),
  },
};

const POD_SPEC: PatchMeta = {
  fields: {
    containers: mergeList('name', CONTAINER),
    initContainers: mergeList('name', CONTAINER),
    ephemeralContainers: mergeList('name', CONTAINER),
    volumes: { strategy: 'merge,retainKeys', mergeKey: 'name', items: { strategy: 'retainKeys' } },
    imagePullSecrets: mergeList('name'),
    hostAliases: mergeList('ip'),
    topologySpreadConstraints: mergeList('topologyKey'),
    resourceClaims: { strategy: 'merge,retainKeys', mergeKey: 'name' },
    schedulingGates: mergeList('name'),
  },
};

const POD_TEMPLATE: PatchMeta = { fields: { metadata: OBJECT_META, spec: POD_SPEC } };

const POD: PatchMeta = {
  fields: {
    metadata: OBJECT_META,
    spec: POD_SPEC,
    status: { fields: { conditions, podIPs: mergeList('ip'), hostIPs: mergeList('ip') } },
  },
};

const WORKLOAD: PatchMeta = {
  fields: {
    metadata: OBJECT_META,
    spec: { fields: { template: POD_TEMPLATE, strategy: { strategy: 'retainKeys' } } },
    status: { fields: { conditions } },
  },
};

/** Patch metadata per kind (kinds missing here patch as plain maps with atomic lists, like any struct without tags). */
export const PATCH_META: Record<string, PatchMeta> = {
  Pod: POD,
  Deployment: WORKLOAD,
  ReplicaSet: WORKLOAD,
  Service: {
    fields: {
      metadata: OBJECT_META,
      spec: { fields: { ports: mergeList('port') } },
      status: { fields: { conditions } },
    },
  },
  Namespace: { fields: { metadata: OBJECT_META, status: { fields: { conditions } } } },
  Node: {
    fields: {
      metadata: OBJECT_META,
      spec: { fields: { podCIDRs: { strategy: 'merge' }, taints: {} } },
      status: { fields: { conditions, addresses: mergeList('type') } },
    },
  },
  Endpoints: { fields: { metadata: OBJECT_META } },
  EndpointSlice: { fields: { metadata: OBJECT_META } },
  Event: { fields: { metadata: OBJECT_META } },
  NetworkPolicy: { fields: { metadata: OBJECT_META } },
};

const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

function hasStrategy(meta: PatchMeta | undefined, s: 'merge' | 'retainKeys'): boolean {
  return (meta?.strategy ?? '').split(',').includes(s);
}

function mergeMap(original: JsonObject, patch: JsonObject, meta: PatchMeta | undefined): Json | undefined {
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const { $patch: _d, ...rest } = patch;
    return clone(rest);
  }
  const out: JsonObject = { ...original };
  const retain = patch.$retainKeys;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith(SET_ORDER) || k.startsWith(DELETE_PRIMITIVE)) continue;
    const fmeta = meta?.fields?.[k];
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = out[k];
    if (isObject(v)) {
      const merged = mergeMap(isObject(cur) ? cur : {}, v, fmeta);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else if (Array.isArray(v)) {
      out[k] = mergeListValue(Array.isArray(cur) ? cur : [], v, fmeta);
    } else {
      out[k] = v;
    }
  }
  // Directives that apply to the merged lists.
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith(DELETE_PRIMITIVE) && Array.isArray(v)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      const cur = out[field];
      if (Array.isArray(cur)) out[field] = cur.filter((x) => !v.some((d) => deepEqual(d, x)));
    }
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith(SET_ORDER) && Array.isArray(v)) {
      const field = k.slice(SET_ORDER.length);
      const cur = out[field];
      if (Array.isArray(cur)) out[field] = reorder(cur, v, meta?.fields?.[field]?.mergeKey);
    }
  }
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  return out;
}

function keyOf(item: Json, mergeKey: string | undefined): string {
  if (mergeKey === undefined) return JSON.stringify(item);
  return isObject(item) ? JSON.stringify(item[mergeKey] ?? null) : JSON.stringify(item);
}

function reorder(list: Json[], order: Json[], mergeKey: string | undefined): Json[] {
  const pos = new Map<string, number>();
  order.forEach((o, i) => {
    pos.set(keyOf(o, mergeKey), i);
  });
  const inOrder = list.filter((x) => pos.has(keyOf(x, mergeKey)));
  const rest = list.filter((x) => !pos.has(keyOf(x, mergeKey)));
  inOrder.sort((a, b) => (pos.get(keyOf(a, mergeKey)) ?? 0) - (pos.get(keyOf(b, mergeKey)) ?? 0));
  return [...inOrder, ...rest];
}

function mergeListValue(original: Json[], patch: Json[], meta: PatchMeta | undefined): Json[] {
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return clone(patch.filter((p) => !(isObject(p) && p.$patch === 'replace')));
  }
  if (!hasStrategy(meta, 'merge')) return clone(patch);
  if (meta?.mergeKey === undefined) {
    // A set of primitives: union, keeping the original order.
    const out = [...original];
    for (const p of patch) if (!out.some((o) => deepEqual(o, p))) out.push(clone(p));
    return out;
  }
  const key = meta.mergeKey;
  const out = original.map((o) => clone(o));
  for (const p of patch) {
    if (!isObject(p)) throw new PatchError(`the list of maps with merge key ${key} must contain only maps`);
    if (!Object.hasOwn(p, key))
      throw new PatchError(`map: ${JSON.stringify(p)} does not contain declared merge key: ${key}`);
    const idx = out.findIndex((o) => isObject(o) && deepEqual(o[key], p[key]));
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) {
      const merged = mergeMap(out[idx] as JsonObject, p, meta.items);
      if (merged === undefined) out.splice(idx, 1);
      else out[idx] = merged;
    } else {
      const { $patch: _d, ...rest } = p;
      out.push(clone(rest));
    }
  }
  return out;
}

/** Applies a strategic merge patch to `original` using `meta` (the kind's patch metadata). */
export function strategicMergePatch(original: Json, patch: Json, meta: PatchMeta | undefined): Json {
  if (!isObject(patch)) throw new PatchError('strategic merge patch must be a JSON object');
  const merged = mergeMap(isObject(original) ? original : {}, patch, meta);
  return merged ?? {};
}
