/**
 * The local image catalog. No registry is reachable from podwall's machines, so an image reference resolves to a
 * built-in Node program (matched by repository, with or without registry, tag or digest) or to an
 * ErrImagePull-style error. Built-ins are the programs in `./programs/`, compiled by `npm run build` next to this
 * module (`dist/src/images/programs/<name>.js`) and started as `process.execPath <file>`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type BuiltinImage = 'deathstar' | 'netperf' | 'agnhost' | 'coredns';

export type ImageResolution =
  | { kind: 'builtin'; name: BuiltinImage; entry: string[] }
  | { kind: 'error'; reason: 'ErrImagePull'; message: string };

export interface ImageRef {
  /** Registry host when the reference names one (`docker.io`, `registry.k8s.io`, `localhost:5000`). */
  registry?: string;
  /** Repository path without the registry and without Docker Hub's `library/` (`cilium/starwars`, `busybox`). */
  repository: string;
  tag?: string;
  digest?: string;
}

/** Splits an image reference the way the Docker reference grammar does (registry if the first part has `.`/`:`). */
export function parseImageRef(image: string): ImageRef {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  let registry: string | undefined;
  const parts = rest.split('/');
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0]!)) {
    registry = parts.shift();
  }
  let repository = parts.join('/').toLowerCase();
  if (
    (registry === undefined || registry === 'docker.io' || registry === 'index.docker.io') &&
    repository.startsWith('library/')
  ) {
    repository = repository.slice('library/'.length);
  }
  return { registry, repository, tag, digest };
}

/** Repository → built-in. Matching ignores the registry: `registry.k8s.io/coredns/coredns` is `coredns/coredns`. */
const CATALOG: { match: (repo: string) => boolean; name: BuiltinImage; display: string }[] = [
  { match: (r) => r === 'cilium/starwars', name: 'deathstar', display: 'cilium/starwars' },
  { match: (r) => r === 'tgraf/netperf', name: 'netperf', display: 'tgraf/netperf' },
  {
    match: (r) => r === 'e2e-test-images/agnhost' || r === 'agnhost' || r.endsWith('/agnhost'),
    name: 'agnhost',
    display: 'registry.k8s.io/e2e-test-images/agnhost',
  },
  { match: (r) => r === 'coredns/coredns' || r === 'coredns', name: 'coredns', display: 'coredns/coredns' },
];

export const BUILTIN_IMAGES: readonly string[] = CATALOG.map((c) => c.display);

/** Where the compiled programs live: `programs/` beside this module (in dist after `npm run build`). */
export function defaultProgramDir(): string {
  return fileURLToPath(new URL('./programs/', import.meta.url));
}

export interface ResolveOptions {
  /** Directory holding `<name>.js` for each built-in (tests point it at a fresh bundle). */
  programDir?: string;
  /** Node binary; `process.execPath` by default. */
  node?: string;
}

export function resolveImage(image: string, opts: ResolveOptions = {}): ImageResolution {
  if (image.trim() === '') {
    return { kind: 'error', reason: 'ErrImagePull', message: 'no image given; set image: or command:' };
  }
  const ref = parseImageRef(image);
  const hit = CATALOG.find((c) => c.match(ref.repository));
  if (!hit) {
    return {
      kind: 'error',
      reason: 'ErrImagePull',
      message:
        `Failed to pull image "${image}": podwall has no image registry; "${ref.repository}" is not a built-in image ` +
        `(built-ins: ${BUILTIN_IMAGES.join(', ')}). To run a program from this machine instead, ` +
        'set command: to run a host binary (e.g. command: ["sleep", "infinity"]).',
    };
  }
  const dir = opts.programDir ?? defaultProgramDir();
  const file = join(dir, `${hit.name}.js`);
  if (!existsSync(file)) {
    return {
      kind: 'error',
      reason: 'ErrImagePull',
      message: `Failed to pull image "${image}": built-in program ${file} is missing (run "npm run build")`,
    };
  }
  return { kind: 'builtin', name: hit.name, entry: [opts.node ?? process.execPath, file] };
}
