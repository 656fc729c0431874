/**
 * `podwall validate -f PATH...`: every error of every object at once, each with file:line:col and field path,
 * in the apiserver's (NetworkPolicy) or Cilium's (CNP/CCNP) wording. Exit 0 only when everything is valid.
 */
import type { Command } from 'commander';
import type { Decoded } from '../../api/decode.js';
import { lookupKind } from '../../api/kinds.js';
import type { KubeObject } from '../../api/types.js';
import { type FieldError, formatFieldError } from '../../util/field.js';
import { findUnknownFields, validateObject } from '../../validation/index.js';
import { UserError } from '../errors.js';
import { type LoadedManifests, loadManifests } from '../manifests.js';
import { checkOutput, printJson } from '../output.js';

export interface Finding {
  file: string;
  line: number;
  col: number;
  object: string;
  severity: 'error' | 'warning';
  field: string;
  message: string;
}

/** `spec.ingress[0].ports[1]` / `metadata.labels[app]` → path segments for position lookup. */
export function pathSegments(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[([^\]]*)\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(/^[0-9]+$/.test(m[2]) ? Number(m[2]) : m[2]);
  }
  return out;
}

function objectName(o: KubeObject): string {
  const ns = o.metadata?.namespace ? `${o.metadata.namespace}/` : '';
  return `${o.kind}/${ns}${o.metadata?.name ?? o.metadata?.generateName ?? '<unnamed>'}`;
}

/** Errors for one decoded object: unknown kind, validation errors, unknown-field warnings. */
export function objectFindings(d: Decoded): Finding[] {
  const o = d.object;
  const at = (field: string) => {
    // Fall back to the nearest enclosing field that has a position, then to the document.
    const segs = pathSegments(field);
    for (let n = segs.length; n >= 0; n--) {
      const p = d.positionOf(segs.slice(0, n));
      if (p) return p;
    }
    return d.pos;
  };
  const name = objectName(o);
  if (!lookupKind(o.apiVersion, o.kind)) {
    return [
      {
        ...d.pos,
        object: name,
        severity: 'error',
        field: 'kind',
        message: `no matches for kind "${o.kind}" in version "${o.apiVersion}"`,
      },
    ];
  }
  const errs: FieldError[] = [...validateObject(o), ...findUnknownFields(o)];
  return errs.map((e) => {
    const p = e.pos ?? at(e.field);
    return {
      file: p.file,
      line: p.line,
      col: p.col,
      object: name,
      severity: e.severity ?? 'error',
      field: e.field,
      message: formatFieldError(e),
    };
  });
}

/** The texts validation rejects an object with (used by conformance runners). */
export function validationMessages(o: KubeObject): string[] {
  return validateObject(o)
    .filter((e) => (e.severity ?? 'error') === 'error')
    .map(formatFieldError);
}

function formatFinding(f: Finding): string {
  return `${f.file}:${f.line}:${f.col}: ${f.severity}: ${f.object}: ${f.message}`;
}

/** Offline commands refuse to reason about policies that would be rejected: nothing is silently ignored. */
export function rejectInvalid(m: LoadedManifests): void {
  const findings = m.docs.flatMap(objectFindings);
  const errors = [...m.errors, ...findings.filter((f) => f.severity === 'error').map(formatFinding)];
  for (const w of findings.filter((f) => f.severity === 'warning')) process.stderr.write(`${formatFinding(w)}\n`);
  if (errors.length > 0)
    throw new UserError(`the manifests are not valid (run podwall validate for details):\n${errors.join('\n')}`);
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('validate manifests as the apiserver and Cilium would: every error at once, with file:line:col')
    .requiredOption(
      '-f, --filename <path>',
      'file, directory or - (repeatable)',
      (v: string, p: string[]) => [...p, v],
      [] as string[],
    )
    .option('-o, --output <format>', 'text or json', 'text')
    .action((o: { filename: string[]; output: string }) => {
      const output = checkOutput(o.output, ['text', 'json'] as const);
      const m = loadManifests(o.filename);
      const findings = m.docs.flatMap(objectFindings);
      const decodeErrors = m.errors;
      const errorCount = decodeErrors.length + findings.filter((f) => f.severity === 'error').length;
      if (output === 'json') {
        printJson({ valid: errorCount === 0, objects: m.docs.length, decodeErrors, findings });
      } else {
        for (const e of decodeErrors) process.stdout.write(`${e}\n`);
        for (const f of findings) process.stdout.write(`${formatFinding(f)}\n`);
        process.stdout.write(
          errorCount === 0
            ? `${m.docs.length} object(s) valid${findings.length ? ` (${findings.length} warning(s))` : ''}\n`
            : `${errorCount} error(s) in ${m.docs.length} object(s)\n`,
        );
      }
      process.exitCode = errorCount === 0 ? 0 : 1;
    });
}

export { UserError };
