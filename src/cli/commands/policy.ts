/**
 * `podwall policy trace` and `podwall policy matrix`: offline verdicts from the same resolver the node enforces.
 */
import type { Command } from 'commander';
import { formatHttpRule } from '../../policy/explain.js';
import { clusterFromObjects } from '../../policy/manifests.js';
import { compile } from '../../policy/resolve/compile.js';
import {
  computeMatrix,
  parsePortProto,
  policiesForPods,
  resolveEndpoint,
  type TraceResult,
  traceEndpoints,
  traceFlow,
} from '../../policy/trace.js';
import { UserError } from '../errors.js';
import { loadManifests, objectsOf } from '../manifests.js';
import { checkOutput, printJson } from '../output.js';
import { rejectInvalid } from './validate.js';

interface Common {
  filename: string[];
  output: string;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function loadCluster(files: string[]) {
  const loaded = loadManifests(files);
  rejectInvalid(loaded);
  return clusterFromObjects(objectsOf(loaded)).cluster;
}

function httpOf(o: { httpMethod?: string; httpPath?: string }): { method: string; path: string } | undefined {
  if (!o.httpMethod && !o.httpPath) return undefined;
  return { method: (o.httpMethod ?? 'GET').toUpperCase(), path: o.httpPath ?? '/' };
}

const VERDICT_TEXT: Record<TraceResult['verdict'], string> = {
  allowed: 'ALLOWED',
  'denied-l3l4': 'DENIED (L3/L4: packets dropped)',
  'denied-l7': 'DENIED (L7: HTTP 403 "Access denied")',
  'no-backends': 'NO BACKENDS (the service selects no ready pod with that port)',
};

export function renderTrace(t: TraceResult): string {
  const lines: string[] = [];
  const l7 = t.http ? ` ${t.http.method} ${t.http.path}` : '';
  lines.push(`Flow: ${t.from.name || t.from.ip} -> ${t.to} ${t.port}/${t.protocol}${l7}`);
  lines.push(`  source ${t.from.ip} identity ${t.from.identity} [${t.from.labels.join(' ')}]`);
  if (t.service)
    lines.push(
      `  via service ${t.service.name} (${t.service.clusterIP ?? 'no ClusterIP'}:${t.service.port}) -> ${t.hops.length} backend(s)`,
    );
  for (const h of t.hops) {
    lines.push('');
    lines.push(
      `-> ${h.to} (${h.dstIp}:${h.dport}, identity ${h.verdict.dstIdentity}): ${VERDICT_TEXT[h.verdict.verdict]}${h.verdict.dropReason ? ` [${h.verdict.dropReason}]` : ''}`,
    );
    for (const e of h.explanation) lines.push(`   ${e}`);
    const ing = h.verdict.ingress;
    if (ing.l7?.redirected && ing.l7.candidates.length > 0 && h.verdict.verdict !== 'denied-l7') {
      lines.push(`   L7 rules on this port: ${ing.l7.candidates.map(formatHttpRule).join('; ')}`);
    }
  }
  lines.push('');
  lines.push(`Verdict: ${VERDICT_TEXT[t.verdict]}`);
  return lines.join('\n');
}

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('explain verdicts offline: trace one flow, or the connectivity matrix');

  policy
    .command('trace')
    .description('the verdict for one flow (both directions), naming the policies and rules that decided')
    .requiredOption('-f, --filename <path>', 'manifests: file, directory or - (repeatable)', collect, [])
    .requiredOption('--from <endpoint>', 'source: NS/POD, POD (namespace default) or an IP')
    .requiredOption('--to <endpoint>', 'destination: NS/POD, NS/SERVICE or an IP')
    .option('--port <port/proto>', 'destination port and protocol', '80/TCP')
    .option('--http-method <method>', 'HTTP method of the request (for L7 rules)')
    .option('--http-path <path>', 'HTTP path of the request (for L7 rules)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action((o: Common & { from: string; to: string; port: string; httpMethod?: string; httpPath?: string }) => {
      const output = checkOutput(o.output, ['text', 'json'] as const);
      const pp = parsePortProto(o.port);
      if (typeof pp === 'string') throw new UserError(pp);
      const cluster = loadCluster(o.filename);
      const from = resolveEndpoint(cluster, o.from, false);
      if (typeof from === 'string') throw new UserError(`--from: ${from}`);
      const to = resolveEndpoint(cluster, o.to, true);
      if (typeof to === 'string') throw new UserError(`--to: ${to}`);
      // Only the endpoints on this flow's path need their map state.
      const onPath = traceEndpoints(cluster, from, to, pp);
      const compiled = compile(policiesForPods(cluster, onPath), { only: onPath });
      const t = traceFlow(cluster, compiled, from, to, pp, httpOf(o));
      if (output === 'json') printJson(t);
      else process.stdout.write(`${renderTrace(t)}\n`);
      process.exitCode = t.verdict === 'allowed' ? 0 : 2;
    });

  policy
    .command('matrix')
    .description(
      'connectivity truth table of all pods: rows from, columns to; "." allowed, "X" dropped, "L" denied at L7',
    )
    .requiredOption('-f, --filename <path>', 'manifests: file, directory or - (repeatable)', collect, [])
    .option('--port <port/proto>', 'destination port and protocol', '80/TCP')
    .option('-n, --namespace <ns>', 'only pods of this namespace')
    .option('--http-method <method>', 'HTTP method (judge L7 rules too)')
    .option('--http-path <path>', 'HTTP path (judge L7 rules too)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action((o: Common & { port: string; namespace?: string; httpMethod?: string; httpPath?: string }) => {
      const output = checkOutput(o.output, ['table', 'json'] as const);
      const pp = parsePortProto(o.port);
      if (typeof pp === 'string') throw new UserError(pp);
      const compiled = compile(loadCluster(o.filename));
      const http = httpOf(o);
      const m = computeMatrix(compiled, pp, {
        ...(o.namespace ? { namespace: o.namespace } : {}),
        ...(http ? { http } : {}),
      });
      if (output === 'json') {
        printJson({
          port: pp.port,
          protocol: pp.protocol,
          ...(http ? { http } : {}),
          pods: m.pods,
          matrix: m.rows.map((r) => r.join('')),
          allowed: m.allowed,
          denied: m.denied,
        });
        return;
      }
      const width = Math.max(1, ...m.pods.map((p) => p.length));
      const lines = [`${'-'.padEnd(width)}  ${m.pods.map((_, i) => String(i).padEnd(3)).join('')}`.trimEnd()];
      m.rows.forEach((r, i) => {
        lines.push(`${m.pods[i]!.padEnd(width)}  ${r.map((c) => c.padEnd(3)).join('')}`.trimEnd());
      });
      lines.push('');
      lines.push('columns: ' + m.pods.map((p, i) => `${i}=${p}`).join('  '));
      lines.push(
        `${pp.port}/${pp.protocol}${http ? ` ${http.method} ${http.path}` : ''}: ${m.allowed} allowed, ${m.denied} denied ("." allowed, "X" dropped, "L" HTTP 403)`,
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
