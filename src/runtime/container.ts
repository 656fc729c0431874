/**
 * Turning a core/v1 Container into a process launch (pure: no I/O except the optional executable lookup):
 * the image resolves through the local catalog; `command` replaces the image's entrypoint (and then runs a
 * binary of this machine), `args` are appended; the environment is the kubelet's (injected service variables,
 * then the container's `env` with `$(VAR)` expansion and `fieldRef`s, plus HOSTNAME and a default PATH).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Container } from '../api/types.js';
import { type ResolveOptions, resolveImage } from '../images/catalog.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PodContext {
  uid: string;
  namespace: string;
  name: string;
  ip?: string;
  nodeName?: string;
  serviceAccountName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  injectedEnv?: Record<string, string>;
}

export interface Launch {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  runAsUser?: number;
  runAsGroup?: number;
  /** `builtin:<name>` or `host` (the image is not in the catalog and `command` names a host binary). */
  imageKind: string;
}

export type LaunchOutcome =
  | { ok: true; launch: Launch }
  | { ok: false; reason: 'ErrImagePull' | 'CreateContainerConfigError'; message: string };

/** `$(VAR)` expansion as the kubelet does it: `$$` escapes, unknown references stay as written. */
export function expandVars(s: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '$' && s[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    if (c === '$' && s[i + 1] === '(') {
      const end = s.indexOf(')', i + 2);
      if (end > 0) {
        const name = s.slice(i + 2, end);
        if (Object.hasOwn(vars, name)) {
          out += vars[name];
          i = end;
          continue;
        }
      }
    }
    out += c;
  }
  return out;
}

function fieldRef(path: string, pod: PodContext): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.labels : pod.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'status.podIP':
    case 'status.podIPs':
      return pod.ip ?? '';
    case 'spec.nodeName':
      return pod.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.serviceAccountName ?? 'default';
    case 'status.hostIP':
      return '';
    default:
      return undefined;
  }
}

export function buildEnv(
  container: Container,
  pod: PodContext,
): { ok: true; env: Record<string, string> } | { ok: false; message: string } {
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOSTNAME: pod.name, HOME: '/root' };
  Object.assign(env, pod.injectedEnv ?? {});
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = expandVars(e.value, env);
      continue;
    }
    const vf = e.valueFrom as { fieldRef?: { fieldPath?: string } } | undefined;
    if (vf?.fieldRef?.fieldPath) {
      const v = fieldRef(vf.fieldRef.fieldPath, pod);
      if (v === undefined)
        return { ok: false, message: `unsupported fieldRef "${vf.fieldRef.fieldPath}" in env ${e.name}` };
      env[e.name] = v;
      continue;
    }
    if (vf) {
      const optional = Object.values(vf).some((r) => (r as { optional?: boolean } | null)?.optional === true);
      if (optional) continue;
      return {
        ok: false,
        message: `env ${e.name}: valueFrom ${Object.keys(vf).join(',')} must be resolved by the controller (podwall runtime reads fieldRef only)`,
      };
    }
    env[e.name] = '';
  }
  return { ok: true, env };
}

/** Finds `cmd` the way execvp does with `PATH`; undefined when there is no such executable. */
export function lookPath(cmd: string, path: string): string | undefined {
  const isExec = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return isExec(cmd) ? cmd : undefined;
  for (const dir of path.split(':')) {
    if (dir === '') continue;
    const p = join(dir, cmd);
    if (isExec(p)) return p;
  }
  return undefined;
}

export function buildLaunch(container: Container, pod: PodContext, images: ResolveOptions = {}): LaunchOutcome {
  const envr = buildEnv(container, pod);
  if (!envr.ok) return { ok: false, reason: 'CreateContainerConfigError', message: envr.message };
  const env = envr.env;
  const command = (container.command ?? []).map((a) => expandVars(a, env));
  const args = (container.args ?? []).map((a) => expandVars(a, env));
  const sc = container.securityContext as { runAsUser?: number; runAsGroup?: number } | undefined;
  const common = {
    env,
    cwd: container.workingDir || '/',
    runAsUser: sc?.runAsUser,
    runAsGroup: sc?.runAsGroup,
  };
  const image = resolveImage(container.image ?? '', images);
  if (command.length > 0) {
    return {
      ok: true,
      launch: {
        ...common,
        argv: [...command, ...args],
        imageKind: image.kind === 'builtin' ? `builtin:${image.name}` : 'host',
      },
    };
  }
  if (image.kind === 'error') return { ok: false, reason: image.reason, message: image.message };
  return { ok: true, launch: { ...common, argv: [...image.entry, ...args], imageKind: `builtin:${image.name}` } };
}
