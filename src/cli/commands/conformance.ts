/**
 * `podwall conformance run PATH...`: runs the shared suite formats offline through the policy engine
 * (a Kubernetes NetworkPolicy suite directory with model.yaml + cases/, single case files, or a Cilium cases.yaml).
 * `--live` runs the same suites against the running node through its API (src/conformance-live).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { homePaths, resolveHome } from '../../agent/lifecycle.js';
import type { KubeObject } from '../../api/types.js';
import { type LoadedSuite, loadSuite, RefusedError, runLive, SuiteFileError } from '../../conformance-live/index.js';
import { runCiliumSuite } from '../../policy/conformance/cilium.js';
import { runK8sCase } from '../../policy/conformance/k8s.js';
import { emptyResult, mergeResults, type SuiteResult } from '../../policy/conformance/result.js';
import { UserError } from '../errors.js';
import { checkOutput, printJson } from '../output.js';
import { validationMessages } from './validate.js';

const validate = (o: KubeObject) => validationMessages(o);

/** Runs one suite path offline; the file formats are read by the same loader as `--live`. */
function runPath(path: string): SuiteResult {
  let suite: LoadedSuite;
  try {
    suite = loadSuite(path);
  } catch (e) {
    if (e instanceof SuiteFileError) throw new UserError(e.message);
    throw e;
  }
  if (suite.kind === 'cilium') return runCiliumSuite(suite.suite, suite.name, validate);
  const result = emptyResult(suite.name);
  for (const c of suite.cases) runK8sCase(c, suite.model, { validate }, result);
  return result;
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
