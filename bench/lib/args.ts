/** Command-line options shared by the bench scripts: `--name` flags and `--name <number>` options. */
const argv = process.argv.slice(2);

export function flag(name: string): boolean {
  return argv.includes(`--${name}`);
}

export function opt(name: string, def: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
}

/** `--name a,b,c`: a comma-separated list, `def` when absent. */
export function list(name: string, def: readonly string[]): string[] {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? (argv[i + 1] ?? '').split(',').filter(Boolean) : [...def];
}
