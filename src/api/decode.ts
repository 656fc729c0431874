/**
 * Manifest decoding: YAML (multi-document) or JSON text → Kubernetes objects, each with a way to map
 * a field path back to `file:line:col`. `kind: List` (and any `*List` with `items`) is expanded into
 * its items. Bad documents become errors with positions; the other documents are still decoded.
 *
 * Scalars are typed as kubectl's YAML reader (YAML 1.1 rules) types them: `80` is a number, `"80"` a
 * string, `yes`/`on` booleans, timestamps stay strings. JSON input is read as JSON.
 */

import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import type { FieldError, SourcePos } from '../util/field.js';
import type { KubeObject } from './types.js';

export interface Decoded {
  object: KubeObject;
  file: string;
  /** 0-based index of the YAML document in the file. */
  doc: number;
  /** Where the object starts. */
  pos: SourcePos;
  /**
   * Position of the field at `path` (keys and sequence indices, e.g. `['spec', 'ingress', 0]`):
   * the key's position for a map entry, the item's for a sequence element. When the path does not
   * exist (a required field that is missing), the position of its nearest existing ancestor.
   */
  positionOf(path: (string | number)[]): SourcePos | undefined;
}

export interface DecodeError {
  file: string;
  doc: number;
  pos: SourcePos;
  message: string;
}

export interface DecodeResult {
  objects: Decoded[];
  errors: DecodeError[];
}

/** `file:line:col: message`, as compilers and editors print it. */
export function formatDecodeError(e: DecodeError): string {
  return `${e.pos.file}:${e.pos.line}:${e.pos.col}: ${e.message}`;
}

/** kubectl reads YAML with YAML 1.1 scalar rules, but keeps timestamps and `1:20` as strings. */
const YAML_OPTIONS = {
  version: '1.1' as const,
  customTags: (tags: unknown[]) =>
    tags.filter((t) => {
      const tag = t as { tag?: string; format?: string };
      return tag.tag !== 'tag:yaml.org,2002:timestamp' && tag.format !== 'TIME';
    }) as never,
};

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a sequence';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'string'}`;
}

/** Segments of a printed field path: `spec.ingress[0].ports[1].port`, `metadata.labels[app.kubernetes.io/name]`. */
export function parseFieldPath(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  let cur = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i];
    if (c === '.') {
      if (cur) out.push(cur);
      cur = '';
    } else if (c === '[') {
      if (cur) out.push(cur);
      cur = '';
      const end = field.indexOf(']', i);
      const inner = end < 0 ? field.slice(i + 1) : field.slice(i + 1, end);
      out.push(/^[0-9]+$/.test(inner) ? Number(inner) : inner);
      i = end < 0 ? field.length : end;
    } else {
      cur += c;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** Returns copies of `errors` with `pos` filled from the decoded object's source, where not already set. */
export function withPositions(errors: FieldError[], d: Decoded): FieldError[] {
  return errors.map((e) => (e.pos ? e : { ...e, pos: d.positionOf(parseFieldPath(e.field)) ?? d.pos }));
}

export function decodeManifests(text: string, file: string): DecodeResult {
  const objects: Decoded[] = [];
  const errors: DecodeError[] = [];
  const lineCounter = new LineCounter();
  const at = (offset: number): SourcePos => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  const trimmed = text.trimStart();
  const json = trimmed.startsWith('{') || trimmed.startsWith('[');
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, {
      lineCounter,
      prettyErrors: false,
      ...(json ? { version: '1.2' as const } : YAML_OPTIONS),
    }) as Document.Parsed[];
  } catch (e) {
    errors.push({ file, doc: 0, pos: { file, line: 1, col: 1 }, message: e instanceof Error ? e.message : String(e) });
    return { objects, errors };
  }
  // parseAllDocuments returns an EmptyStream (array-like, no documents) for empty input.
  const list = Array.isArray(docs) ? docs : [];

  list.forEach((doc, docIndex) => {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) errors.push({ file, doc: docIndex, pos: at(err.pos[0]), message: err.message });
      return;
    }
    const root = doc.contents as Node | null;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      const pos = at(root?.range?.[0] ?? doc.range[0]);
      errors.push({ file, doc: docIndex, pos, message: e instanceof Error ? e.message : String(e) });
      return;
    }
    if (value === null || value === undefined) return; // empty document
    const nodeAt = makePositionOf(root, at);
    const rootPos = at(root?.range?.[0] ?? doc.range[0]);
    const problem = objectProblem(value);
    if (problem) {
      errors.push({ file, doc: docIndex, pos: problemPos(problem, [], nodeAt, rootPos), message: problem.message });
      return;
    }
    const obj = value as Record<string, unknown>;
    const kind = obj.kind as string;
    if (kind.endsWith('List') && obj.items !== undefined) {
      if (!Array.isArray(obj.items)) {
        errors.push({
          file,
          doc: docIndex,
          pos: nodeAt(['items']) ?? rootPos,
          message: `items of ${kind} must be a sequence, got ${describe(obj.items)}`,
        });
        return;
      }
      obj.items.forEach((item, i) => {
        const prefix: (string | number)[] = ['items', i];
        const itemPos = nodeAt(prefix) ?? rootPos;
        const p = objectProblem(item);
        if (p) {
          errors.push({
            file,
            doc: docIndex,
            pos: problemPos(p, prefix, nodeAt, itemPos),
            message: `items[${i}]: ${p.message}`,
          });
          return;
        }
        objects.push({
          object: item as KubeObject,
          file,
          doc: docIndex,
          pos: itemPos,
          positionOf: (path) => nodeAt([...prefix, ...path]),
        });
      });
      return;
    }
    objects.push({ object: obj as KubeObject, file, doc: docIndex, pos: rootPos, positionOf: (path) => nodeAt(path) });
  });
  return { objects, errors };
}

interface Problem {
  message: string;
  /** The key the problem is about, if it exists in the source. */
  key?: string;
}

function objectProblem(v: unknown): Problem | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return {
      message: `expected a Kubernetes object (a mapping with apiVersion and kind), got ${describe(v)}`,
    };
  }
  const o = v as Record<string, unknown>;
  const missing: string[] = [];
  for (const k of ['apiVersion', 'kind']) {
    if (o[k] === undefined || o[k] === null || o[k] === '') missing.push(`${k} not set`);
    else if (typeof o[k] !== 'string') return { message: `${k} must be a string, got ${describe(o[k])}`, key: k };
  }
  if (missing.length > 0) return { message: `error validating data: [${missing.join(', ')}]` };
  return undefined;
}

function problemPos(
  p: Problem,
  prefix: (string | number)[],
  nodeAt: (path: (string | number)[]) => SourcePos | undefined,
  fallback: SourcePos,
): SourcePos {
  return (p.key ? nodeAt([...prefix, p.key]) : undefined) ?? fallback;
}

/** Builds the path → position resolver for one document's node tree. */
function makePositionOf(
  root: Node | null,
  at: (offset: number) => SourcePos,
): (path: (string | number)[]) => SourcePos | undefined {
  return (path) => {
    let node: unknown = root;
    let pos: SourcePos | undefined = root?.range ? at(root.range[0]) : undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
        if (!pair) break;
        const keyNode = pair.key as Node;
        if (keyNode.range) pos = at(keyNode.range[0]);
        node = pair.value;
      } else if (isSeq(node)) {
        const idx = typeof seg === 'number' ? seg : /^[0-9]+$/.test(seg) ? Number(seg) : -1;
        const item = idx >= 0 ? node.items[idx] : undefined;
        if (item === undefined) break;
        const itemNode = item as Node;
        if (itemNode && typeof itemNode === 'object' && 'range' in itemNode && itemNode.range)
          pos = at(itemNode.range[0]);
        node = item;
      } else {
        break;
      }
    }
    return pos;
  };
}
