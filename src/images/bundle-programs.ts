/**
 * Builds the built-in image programs straight from `src/images/programs/*.ts` into one self-contained `.js` file
 * each (esbuild, which vitest already ships). Tests use it so that they always run the current source; production
 * uses the files `npm run build` (tsc) puts in `dist/src/images/programs/`. esbuild is loaded lazily: nothing
 * imports this module at run time.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROGRAM_SOURCE_DIR = fileURLToPath(new URL('./programs/', import.meta.url));

/** Bundles every program into `outDir/<name>.js` and returns `outDir` (pass it as `programDir`). */
export async function bundlePrograms(outDir: string): Promise<string> {
  const esbuild = await import('esbuild');
  const entries = (await readdir(PROGRAM_SOURCE_DIR)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  await esbuild.build({
    entryPoints: entries.map((f) => join(PROGRAM_SOURCE_DIR, f)),
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    // CommonJS dependencies (dns-packet) call require() for builtins; give the ESM bundle a real one.
    banner: {
      js: "import { createRequire as __pwCreateRequire } from 'node:module'; const require = __pwCreateRequire(import.meta.url);",
    },
  });
  return outDir;
}
