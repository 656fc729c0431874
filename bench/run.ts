/**
 * Runs every bench script, one after the other (never in parallel: they would measure each other), and prints one
 * JSON document: `{ machine, startedAt, finishedAt, load, results: { <script>: <its JSON> }, failed: [...] }`.
 *
 * Run: npm run build && npm run bench -- [--quick] [--only a,b] [--out FILE]
 *
 * Scripts are the top-level `bench/*.ts` files (compiled to dist/bench/*.js) except this runner and the library
 * modules below; helpers shared by scripts live in `bench/lib/` and are never run. Each script prints one JSON
 * document on stdout (progress goes to stderr, passed through); a script that needs root reports `{ skipped }` itself.
 * Extra arguments (`--quick`, …) are passed to every script.
 */
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Modules in bench/ that are imported by scripts, not run. */
const LIBRARIES = new Set(['run', 'stats', 'synthetic']);

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const only = value('only')
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const out = value('out');
const passThrough = argv.filter((a, i) => {
  if (a === '--only' || a === '--out') return false;
  if (i > 0 && (argv[i - 1] === '--only' || argv[i - 1] === '--out')) return false;
  return true;
});

export function benchScripts(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => basename(f, '.js'))
    .filter((n) => !LIBRARIES.has(n))
    .sort();
}

function runScript(name: string): Promise<{ code: number; json?: unknown; stdout: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, ['--expose-gc', join(here, `${name}.js`), ...passThrough], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, json, stdout, ms: Date.now() - t0 });
    });
  });
}

async function main(): Promise<void> {
  const scripts = benchScripts(here).filter((n) => !only || only.includes(n));
  if (only) for (const n of only) if (!scripts.includes(n)) throw new Error(`no bench script "${n}"`);
  const c = cpus();
  const doc: Record<string, unknown> = {
    machine: `${c.length} x ${c[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, kernel ${release()}, Node ${process.version}`,
    startedAt: new Date().toISOString(),
    loadStart: loadavg().map((x) => Number(x.toFixed(2))),
    args: passThrough,
    results: {} as Record<string, unknown>,
    durationsS: {} as Record<string, number>,
    failed: [] as string[],
  };
  const results = doc.results as Record<string, unknown>;
  for (const name of scripts) {
    process.stderr.write(`[bench] ${name}\n`);
    const r = await runScript(name);
    (doc.durationsS as Record<string, number>)[name] = Math.round(r.ms / 1000);
    results[name] = r.json ?? { error: `exit ${r.code}, output not JSON`, output: r.stdout.slice(0, 2000) };
    if (r.code !== 0 || r.json === undefined) (doc.failed as string[]).push(name);
  }
  doc.finishedAt = new Date().toISOString();
  doc.loadEnd = loadavg().map((x) => Number(x.toFixed(2)));
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (out) writeFileSync(out, text);
  process.stdout.write(text);
  if ((doc.failed as string[]).length) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
