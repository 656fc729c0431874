/**
 * Live conformance: runs the shared suite formats against a running node through its API (see k8s.ts and
 * cilium.ts). `runLive(paths, …)` finds suites the way the offline `podwall conformance run` does: a directory with
 * model.yaml + cases/ (Kubernetes NetworkPolicy), a directory with cases.yaml or a cases file (Cilium), or single
 * Kubernetes case files (model.yaml found beside or above them).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { KubeClient } from '../kube/client.js';
import type { CiliumSuite } from '../policy/conformance/cilium.js';
import type { K8sCase, K8sModel } from '../policy/conformance/k8s.js';
import { mergeResults, type SuiteResult } from '../policy/conformance/result.js';
import { kubeLiveApi, type LiveApi } from './api.js';
import { runCiliumLive } from './cilium.js';
import { type LiveOptions, runK8sLive } from './k8s.js';

export { type ExecOutcome, kubeLiveApi, type LiveApi } from './api.js';
export { runCiliumLive } from './cilium.js';
export { type LiveOptions, NO_SCTP_REASON, runK8sLive } from './k8s.js';
export { OWNER_LABEL, RefusedError } from './topology.js';

export class SuiteFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SuiteFileError';
  }
}

function readYaml(file: string): unknown {
  try {
    return parse(readFileSync(file, 'utf8'), { maxAliasCount: -1 });
  } catch (e) {
    throw new SuiteFileError(`${file}: ${(e as Error).message}`);
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

export type LoadedSuite =
  | { kind: 'k8s'; name: string; model: K8sModel; cases: K8sCase[] }
  | { kind: 'cilium'; name: string; suite: CiliumSuite };

/** Reads a suite path (as the offline runner accepts them). */
export function loadSuite(path: string): LoadedSuite {
  if (!existsSync(path)) throw new SuiteFileError(`the path "${path}" does not exist`);
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'model.yaml')) && existsSync(join(path, 'cases'))) {
      const cases = readdirSync(join(path, 'cases'))
        .filter((n) => /\.ya?ml$/.test(n))
        .sort()
        .map((f) => readYaml(join(path, 'cases', f)) as K8sCase);
      return { kind: 'k8s', name: path, model: readYaml(join(path, 'model.yaml')) as K8sModel, cases };
    }
    if (existsSync(join(path, 'cases.yaml'))) return loadSuite(join(path, 'cases.yaml'));
    throw new SuiteFileError(`${path}: not a suite (want a directory with model.yaml and cases/, or a cases.yaml)`);
  }
  const doc = readYaml(path) as Record<string, unknown> | null;
  if (
    doc &&
    Array.isArray(doc.cases) &&
    (doc.cases.length === 0 || 'expect' in (doc.cases[0] as object) || 'endpoints' in (doc.cases[0] as object))
  )
    return { kind: 'cilium', name: path, suite: doc as CiliumSuite };
  if (doc && typeof doc.id === 'string' && (Array.isArray(doc.steps) || Array.isArray(doc.checks))) {
    const model = findModel(dirname(path));
    if (!model && doc.topology === 'default')
      throw new SuiteFileError(`${path}: uses the default topology but no model.yaml was found beside it or above`);
    return {
      kind: 'k8s',
      name: path,
      model: model ?? { namespaces: [], pods: [] },
      cases: [doc as unknown as K8sCase],
    };
  }
  throw new SuiteFileError(
    `${path}: unknown suite format (want a Kubernetes NetworkPolicy case or a Cilium cases file)`,
  );
}

export interface RunLiveOptions extends Omit<LiveOptions, 'api'> {
  /** A kubeconfig for the running node; or pass `api` directly. */
  kubeconfig?: string;
  api?: LiveApi;
}

/** Runs every path live, one after the other (cases of one k8s suite share their topology). */
export async function runLive(paths: string[], o: RunLiveOptions): Promise<SuiteResult> {
  const suites = paths.map(loadSuite);
  // Single k8s case files with the same model run as one suite (one topology, one cleanup).
  let client: KubeClient | undefined;
  let api = o.api;
  if (!api) {
    if (!o.kubeconfig) throw new Error('runLive needs a kubeconfig or an api');
    client = KubeClient.fromKubeconfig(o.kubeconfig);
    api = kubeLiveApi(client);
  }
  try {
    const results: SuiteResult[] = [];
    for (const s of suites) {
      if (s.kind === 'k8s') results.push(await runK8sLive(s.cases, s.model, { ...o, api }, s.name));
      else results.push(await runCiliumLive(s.suite, s.name, { ...o, api }));
    }
    return results.length === 1 ? results[0]! : mergeResults(paths.join(','), results);
  } finally {
    client?.close();
  }
}
