/** Paths to the shared spec folder that sits beside the repository (here and in CI). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url));

export function sharedPath(rel: string): string {
  return SHARED_DIR + rel;
}

export function loadSharedYaml<T = unknown>(rel: string): T {
  return parse(readFileSync(sharedPath(rel), 'utf8'), { maxAliasCount: -1 }) as T;
}
