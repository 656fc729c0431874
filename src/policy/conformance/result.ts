/** The JSON shape every conformance run prints (`podwall conformance run -o json`). */

export interface Counts {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
}

export interface Failure {
  case: string;
  step?: number;
  probe?: string;
  pair?: string;
  expected: string;
  got: string;
  why: string;
}

export interface Skip {
  case: string;
  reason: string;
}

export interface SuiteResult {
  suite: string;
  cases: Counts;
  checks: Counts;
  failures: Failure[];
  skips: Skip[];
}

export function emptyCounts(): Counts {
  return { total: 0, passed: 0, failed: 0, skipped: 0 };
}

export function emptyResult(suite: string): SuiteResult {
  return { suite, cases: emptyCounts(), checks: emptyCounts(), failures: [], skips: [] };
}

/** Adds one case's outcome: a case passes when none of its checks failed. */
export function recordCase(r: SuiteResult, outcome: 'passed' | 'failed' | 'skipped'): void {
  r.cases.total++;
  r.cases[outcome]++;
}

export function recordCheck(r: SuiteResult, ok: boolean, failure?: Failure): void {
  r.checks.total++;
  if (ok) r.checks.passed++;
  else {
    r.checks.failed++;
    if (failure) r.failures.push(failure);
  }
}

export function mergeResults(suite: string, parts: SuiteResult[]): SuiteResult {
  const out = emptyResult(suite);
  for (const p of parts) {
    for (const k of ['total', 'passed', 'failed', 'skipped'] as const) {
      out.cases[k] += p.cases[k];
      out.checks[k] += p.checks[k];
    }
    out.failures.push(...p.failures);
    out.skips.push(...p.skips);
  }
  return out;
}
