/**
 * Reads manifests for the offline commands: files, directories (recursive, .yaml/.yml/.json) and stdin (`-`).
 * Decoding errors come back as values with file:line:col, never as exceptions.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Decoded, decodeManifests, formatDecodeError } from '../api/decode.js';
import { lookupKind } from '../api/kinds.js';
import type { KubeObject } from '../api/types.js';
import { UserError } from './errors.js';

export interface LoadedManifests {
  docs: Decoded[];
  /** `file:line:col: message` lines. */
  errors: string[];
}

function listFiles(path: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new UserError(`the path "${path}" does not exist`);
  }
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const name of readdirSync(path).sort()) {
    const full = join(path, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else if (/\.(ya?ml|json)$/i.test(name)) out.push(full);
  }
  return out;
}

/** Like kubectl: a namespaced object without a namespace goes to the current (here: given) namespace. */
function defaultNamespace(o: KubeObject, namespace: string): void {
  const kind = lookupKind(o.apiVersion, o.kind);
  if (kind?.namespaced && o.metadata && typeof o.metadata === 'object' && !o.metadata.namespace)
    o.metadata.namespace = namespace;
}

export function loadManifests(paths: string[], namespace = 'default'): LoadedManifests {
  if (paths.length === 0) throw new UserError('must specify one of -f and -k (give manifests with -f FILE|DIR|-)');
  const docs: Decoded[] = [];
  const errors: string[] = [];
  for (const p of paths) {
    const files = p === '-' ? ['-'] : listFiles(p);
    for (const file of files) {
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      const r = decodeManifests(text, file === '-' ? '<stdin>' : file);
      for (const d of r.objects) defaultNamespace(d.object, namespace);
      docs.push(...r.objects);
      for (const e of r.errors) errors.push(formatDecodeError(e));
    }
  }
  return { docs, errors };
}

export function objectsOf(m: LoadedManifests): KubeObject[] {
  return m.docs.map((d) => d.object);
}
