/**
 * Go-style flag parsing for the built-in image programs (`--port=80`, `--port 80`, `-port 80`, `--tcp`,
 * `--http=false`), plus Go duration parsing (`1s`, `500ms`, `1m30s`).
 */

export interface FlagSpec {
  bools?: string[];
  strings?: string[];
}

export interface ParsedFlags {
  flags: Map<string, string | boolean>;
  positional: string[];
  error?: string;
}

export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags {
  const bools = new Set(spec.bools ?? []);
  const strings = new Set(spec.strings ?? []);
  const flags = new Map<string, string | boolean>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (bools.has(name)) {
      if (inline === undefined) flags.set(name, true);
      else if (/^(true|1|t)$/i.test(inline)) flags.set(name, true);
      else if (/^(false|0|f)$/i.test(inline)) flags.set(name, false);
      else return { flags, positional, error: `invalid boolean value "${inline}" for --${name}` };
    } else if (strings.has(name)) {
      if (inline !== undefined) flags.set(name, inline);
      else if (i + 1 < argv.length) flags.set(name, argv[++i]!);
      else return { flags, positional, error: `flag needs an argument: --${name}` };
    } else {
      return { flags, positional, error: `unknown flag: --${name}` };
    }
  }
  return { flags, positional };
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go `time.ParseDuration`, in milliseconds; undefined when malformed. */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while (pos < s.length) {
    re.lastIndex = pos;
    m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === 0 ? undefined : total;
}
