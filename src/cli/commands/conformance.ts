/**
 * `podwall conformance run PATH...`: runs the shared suite formats offline through the policy engine
 * (a Kubernetes NetworkPolicy suite directory with model.yaml + cases/, single case files, or a Cilium cases.yaml).
 * `--live` runs the same suites against the running node through its API (src/conformance-live).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { homePaths, resolveHome } from '../../agent/lifecycle.js';
import type { KubeObject } from '../../api/types.js';
import { RefusedError, runLive, SuiteFileError } from '../../conformance-live/index.js';
import { type CiliumSuite, runCiliumSuite } from '../../policy/conformance/cilium.js';
import { type K8sCase, type K8sModel, runK8sCase } from '../../policy/conformance/k8s.js';
import { emptyResult, mergeResults, type SuiteResult } from '../../policy/conformance/result.js';
import { UserError } from '../errors.js';
import { checkOutput, printJson } from '../output.js';
import { validationMessages } from './validate.js';

function readYaml(file: string): unknown {
  try {
    return parse(readFileSync(file, 'utf8'), { maxAliasCount: -1 });
  } catch (e) {
    throw new UserError(`${file}: ${(e as Error).message}`);
  }
}

function findModel(from: string): K8sModel | undefined {
  let dir = from;
  for (let i = 0; i < 3; i++) {
    const m = join(dir, 'model.yaml');
    if (existsSync(m)) return readYaml(m) as K8sModel;
    dir = dirname(dir);
  }
  return undefined;
}

const validate = (o: KubeObject) => validationMessages(o);

function runPath(path: string): SuiteResult {
  if (!existsSync(path)) throw new UserError(`the path "${path}" does not exist`);
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'model.yaml')) && existsSync(join(path, 'cases'))) {
      const model = readYaml(join(path, 'model.yaml')) as K8sModel;
      const result = emptyResult(path);
      for (const f of readdirSync(join(path, 'cases'))
        .filter((n) => /\.ya?ml$/.test(n))
        .sort()) {
        runK8sCase(readYaml(join(path, 'cases', f)) as K8sCase, model, { validate }, result);
      }
      return result;
    }
    if (existsSync(join(path, 'cases.yaml'))) return runPath(join(path, 'cases.yaml'));
    throw new UserError(`${path}: not a suite (want a directory with model.yaml and cases/, or a cases.yaml)`);
  }
  const doc = readYaml(path) as Record<string, unknown> | null;
  if (
    doc &&
    Array.isArray(doc.cases) &&
    (doc.cases.length === 0 || 'expect' in (doc.cases[0] as object) || 'endpoints' in (doc.cases[0] as object))
  ) {
    return runCiliumSuite(doc as CiliumSuite, path, validate);
  }
  if (doc && typeof doc.id === 'string' && (Array.isArray(doc.steps) || Array.isArray(doc.checks))) {
    const model = findModel(dirname(path));
    if (!model && doc.topology === 'default')
      throw new UserError(`${path}: uses the default topology but no model.yaml was found beside it or above`);
    const result = emptyResult(path);
    runK8sCase(doc as unknown as K8sCase, model ?? { namespaces: [], pods: [] }, { validate }, result);
    return result;
  }
  throw new UserError(`${path}: unknown suite format (want a Kubernetes NetworkPolicy case or a Cilium cases file)`);
}

export function renderResult(r: SuiteResult): string {
  const lines: string[] = [];
  for (const f of r.failures) {
    const where = [f.step !== undefined ? `step ${f.step}` : '', f.probe ?? '', f.pair ?? ''].filter(Boolean).join(' ');
    lines.push(`FAIL ${f.case}${where ? ` (${where})` : ''}: expected ${f.expected}, got ${f.got}`);
    for (const w of f.why.split('\n')) lines.push(`     ${w}`);
  }
  for (const s of r.skips) lines.push(`SKIP ${s.case}: ${s.reason}`);
  lines.push(
    `${r.suite}: cases ${r.cases.passed} passed, ${r.cases.failed} failed, ${r.cases.skipped} skipped (of ${r.cases.total}); checks ${r.checks.passed} passed, ${r.checks.failed} failed, ${r.checks.skipped} skipped (of ${r.checks.total})`,
  );
  return lines.join('\n');
}

/** `--live`: the running node's kubeconfig (KUBECONFIG, else $PODWALL_HOME/kubeconfig); progress on stderr. */
async function runLiveCommand(paths: string[], concurrency: number): Promise<SuiteResult> {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new UserError('--concurrency must be a positive integer');
  const kubeconfig = process.env.KUBECONFIG || homePaths(resolveHome()).kubeconfig;
  if (!existsSync(kubeconfig))
    throw new UserError(`no kubeconfig at ${kubeconfig}: start a node with "podwall up" (or set KUBECONFIG)`);
  try {
    return await runLive(paths, {
      kubeconfig,
      concurrency,
      log: (line) => process.stderr.write(`${line}\n`),
    });
  } catch (e) {
    if (e instanceof RefusedError || e instanceof SuiteFileError) throw new UserError(e.message);
    if ((e as { code?: string }).code === 'ECONNREFUSED')
      throw new UserError(`cannot reach the API server of ${kubeconfig}: is the node running (podwall up)?`);
    throw e;
  }
}

export function registerConformance(program: Command): void {
  const conf = program.command('conformance').description('run conformance suites');
  conf
    .command('run')
    .description(
      'run suites in the shared formats (Kubernetes NetworkPolicy cases, Cilium cases.yaml) against the policy engine',
    )
    .argument('<path...>', 'suite directories or case files')
    .option('-o, --output <format>', 'text or json', 'text')
    .option('--live', 'probe through the running node (podwall up; KUBECONFIG or $PODWALL_HOME/kubeconfig)')
    .option('--concurrency <n>', 'live: probes in flight at once', '8')
    .action(async (paths: string[], o: { output: string; live?: boolean; concurrency: string }) => {
      const output = checkOutput(o.output, ['text', 'json'] as const);
      let r: SuiteResult;
      if (o.live) r = await runLiveCommand(paths, Number(o.concurrency));
      else {
        const results = paths.map(runPath);
        r = results.length === 1 ? results[0]! : mergeResults(paths.join(','), results);
      }
      if (output === 'json') printJson(r);
      else process.stdout.write(`${renderResult(r)}\n`);
      process.exitCode = r.checks.failed === 0 && r.cases.failed === 0 ? 0 : 1;
    });
}
