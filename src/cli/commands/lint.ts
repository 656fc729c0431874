/** `podwall lint -f PATH...`: valid policies that probably do not do what their author meant. */
import type { Command } from 'commander';
import type { Decoded } from '../../api/decode.js';
import { lintPolicies } from '../../policy/lint.js';
import { clusterFromObjects } from '../../policy/manifests.js';
import { compile } from '../../policy/resolve/compile.js';
import { loadManifests, objectsOf } from '../manifests.js';
import { checkOutput, printJson } from '../output.js';
import { pathSegments, rejectInvalid } from './validate.js';

function objectKey(d: Decoded): string {
  const o = d.object;
  return o.kind === 'CiliumClusterwideNetworkPolicy'
    ? `${o.kind}/${o.metadata.name}`
    : `${o.kind}/${o.metadata?.namespace ?? 'default'}/${o.metadata?.name}`;
}

export function registerLint(program: Command): void {
  program
    .command('lint')
    .description(
      'find valid policies that probably do not do what was meant (select nothing, shadowed L7, blocked DNS...)',
    )
    .requiredOption(
      '-f, --filename <path>',
      'manifests: file, directory or - (repeatable)',
      (v: string, p: string[]) => [...p, v],
      [] as string[],
    )
    .option('-o, --output <format>', 'text or json', 'text')
    .action((o: { filename: string[]; output: string }) => {
      const output = checkOutput(o.output, ['text', 'json'] as const);
      const loaded = loadManifests(o.filename);
      rejectInvalid(loaded);
      const { cluster } = clusterFromObjects(objectsOf(loaded));
      const findings = lintPolicies(cluster, compile(cluster));
      const docs = new Map(loaded.docs.map((d) => [objectKey(d), d]));
      const located = findings.map((f) => {
        const d = docs.get(f.policy);
        let pos = d?.pos;
        if (d) {
          const segs = pathSegments(f.path);
          for (let n = segs.length; n >= 0; n--) {
            const p = d.positionOf(segs.slice(0, n));
            if (p) {
              pos = p;
              break;
            }
          }
        }
        return { ...f, file: pos?.file ?? '', line: pos?.line ?? 0, col: pos?.col ?? 0 };
      });
      if (output === 'json') printJson({ findings: located });
      else {
        for (const f of located) {
          process.stdout.write(
            `${f.file}:${f.line}:${f.col}: ${f.severity}: ${f.policy} ${f.path}: ${f.message} [${f.code}]\n    suggestion: ${f.suggestion}\n`,
          );
        }
        process.stdout.write(`${located.length} finding(s)\n`);
      }
      process.exitCode = located.some((f) => f.severity === 'error') ? 1 : 0;
    });
}
