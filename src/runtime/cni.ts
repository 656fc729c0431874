/**
 * A minimal CNI runtime (libcni's job), following the CNI 1.0.0 spec: a network configuration list is executed
 * plugin by plugin; ADD runs them in order, each receiving the previous plugin's result as `prevResult`; DEL runs
 * them in reverse with the cached ADD result; CHECK runs them in order with the cached result. The config and
 * result of every ADD are cached on disk (like libcni's `results/` dir) so DEL works even after a restart or a
 * config change. Plugin failures are values (`{ ok: false, error }`) carrying the plugin's own message.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Runner, run } from './exec.js';

export const CNI_VERSION = '1.0.0';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

export interface CniPluginConf {
  type: string;
  [k: string]: unknown;
}

export interface CniNetworkConfigList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: CniPluginConf[];
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}

/** The 1.0.0 success result (only the fields podwall reads are typed). */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: { dst: string; gw?: string }[];
  dns?: unknown;
  [k: string]: unknown;
}

export interface CniError {
  /** The spec's error code (1 incompatible version, 2 unsupported field, 3 unknown container, 7 invalid network
   * config, 11 try again later, ...) or 999 for failures of the runtime itself (plugin missing, no output). */
  code: number;
  msg: string;
  details?: string;
  plugin: string;
  command: CniCommand;
}

export type CniOutcome<T> = { ok: true; value: T } | { ok: false; error: CniError };

/** What a pod needs from the ADD result. */
export interface PodNetwork {
  ip: string;
  prefixLength: number;
  gateway?: string;
  /** Host-side interface: the entry without `sandbox` (for ptp, the host veth). */
  hostIfname: string;
  /** Interface inside the pod that carries `ip`. */
  sandboxIfname: string;
}

export interface NetworkConfigOptions {
  /** Pod subnet handed to host-local, e.g. `10.244.0.0/24`. */
  subnet: string;
  /** host-local's state directory (IP reservations). */
  ipamDataDir: string;
  name?: string;
  mtu?: number;
  /** Routes given to pods (default: a default route via the host). */
  routes?: string[];
}

/** ptp + host-local IPAM + loopback, as the recipe measured (routed /32 per pod, all traffic via the host). */
export function defaultNetworkConfigList(opts: NetworkConfigOptions): CniNetworkConfigList {
  return {
    cniVersion: CNI_VERSION,
    name: opts.name ?? 'podwall',
    plugins: [
      {
        type: 'ptp',
        mtu: opts.mtu ?? 1500,
        ipMasq: false,
        ipam: {
          type: 'host-local',
          dataDir: opts.ipamDataDir,
          ranges: [[{ subnet: opts.subnet }]],
          // ptp routes the pod subnet via the gateway by itself; listing it again makes ADD fail ("file exists").
          // Other routes name the gateway explicitly: ptp installs them via the gateway, and its CHECK compares
          // the routing table with these entries (a route without gw would then be reported missing).
          routes: (opts.routes ?? ['0.0.0.0/0'])
            .filter((dst) => dst !== opts.subnet)
            .map((dst) => (dst === '0.0.0.0/0' ? { dst } : { dst, gw: gatewayOf(opts.subnet) })),
        },
      },
      { type: 'loopback' },
    ],
  };
}

/** host-local's default gateway: the first address of the subnet. */
export function gatewayOf(subnet: string): string {
  const [addr, len] = subnet.split('/');
  const n = addr!.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  const gw = ((n & mask) >>> 0) + 1;
  return [24, 16, 8, 0].map((s) => (gw >>> s) & 255).join('.');
}

/** Writes the list to `<dir>/10-<name>.conflist` (atomically) and returns the path. */
export async function writeNetworkConfigList(dir: string, list: CniNetworkConfigList): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `10-${list.name}.conflist`);
  await writeFile(`${path}.tmp`, `${JSON.stringify(list, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
  return path;
}

export async function loadNetworkConfigList(path: string): Promise<CniOutcome<CniNetworkConfigList>> {
  const bad = (msg: string): CniOutcome<CniNetworkConfigList> => ({
    ok: false,
    error: { code: 7, msg, plugin: '', command: 'ADD' },
  });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return bad(`cannot read network config list ${path}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return bad(`invalid JSON in ${path}: ${(e as Error).message}`);
  }
  const o = v as Partial<CniNetworkConfigList>;
  if (typeof o !== 'object' || o === null) return bad(`${path}: not an object`);
  if (typeof o.name !== 'string' || o.name === '') return bad(`${path}: missing network name`);
  if (typeof o.cniVersion !== 'string') return bad(`${path}: missing cniVersion`);
  if (!Array.isArray(o.plugins) || o.plugins.length === 0) return bad(`${path}: "plugins" must be a non-empty list`);
  for (const p of o.plugins) {
    if (typeof p !== 'object' || p === null || typeof (p as CniPluginConf).type !== 'string') {
      return bad(`${path}: every plugin needs a "type"`);
    }
  }
  return { ok: true, value: o as CniNetworkConfigList };
}

/** Picks the IPv4 address, the host interface and the sandbox interface out of an ADD result. */
export function parsePodNetwork(result: CniResult): CniOutcome<PodNetwork> {
  const fail = (msg: string): CniOutcome<PodNetwork> => ({
    ok: false,
    error: { code: 999, msg, plugin: '', command: 'ADD' },
  });
  const ifs = result.interfaces ?? [];
  const ipc = (result.ips ?? []).find((i) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(i.address));
  if (!ipc) return fail('CNI result has no IPv4 address');
  const [ip, len] = ipc.address.split('/');
  const host = ifs.find((i) => !i.sandbox);
  if (!host) return fail('CNI result has no host-side interface (an interface without "sandbox")');
  const sandboxIf = ipc.interface !== undefined ? ifs[ipc.interface] : ifs.find((i) => i.sandbox);
  return {
    ok: true,
    value: {
      ip: ip!,
      prefixLength: Number(len),
      gateway: ipc.gateway,
      hostIfname: host.name,
      sandboxIfname: sandboxIf?.name ?? 'eth0',
    },
  };
}

interface CacheEntry {
  kind: 'podwallCniCacheV1';
  containerId: string;
  ifName: string;
  netns: string;
  config: CniNetworkConfigList;
  result: CniResult;
}

export interface CniClientOptions {
  config: CniNetworkConfigList;
  /** Directories searched for plugin binaries (`CNI_PATH`). */
  cniPath: string[];
  /** Where ADD results are cached. */
  cacheDir: string;
  runner?: Runner;
  timeoutMs?: number;
}

export class CniClient {
  readonly config: CniNetworkConfigList;
  private readonly cniPath: string[];
  private readonly cacheDir: string;
  private readonly runner: Runner;
  private readonly timeoutMs: number;

  constructor(opts: CniClientOptions) {
    this.config = opts.config;
    this.cniPath = opts.cniPath;
    this.cacheDir = opts.cacheDir;
    this.runner = opts.runner ?? run;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** ADD: every plugin in order; on success the final result is cached for DEL/CHECK. */
  async add(containerId: string, netns: string, ifName = 'eth0'): Promise<CniOutcome<CniResult>> {
    let prev: CniResult | undefined;
    for (const plugin of this.config.plugins) {
      const r = await this.exec('ADD', this.config, plugin, containerId, netns, ifName, prev);
      if (!r.ok) return r;
      prev = r.value;
    }
    if (!prev) return { ok: false, error: { code: 999, msg: 'empty plugin list', plugin: '', command: 'ADD' } };
    await this.writeCache({
      kind: 'podwallCniCacheV1',
      containerId,
      ifName,
      netns,
      config: this.config,
      result: prev,
    });
    return { ok: true, value: prev };
  }

  /**
   * DEL: every plugin in reverse order with the cached result as prevResult, using the cached config when there
   * is one (the network may have been reconfigured since ADD). The cache entry goes only when all plugins succeed.
   */
  async del(containerId: string, netns: string, ifName = 'eth0'): Promise<CniOutcome<null>> {
    const cached = await this.readCache(containerId, ifName);
    const config = cached?.config ?? this.config;
    for (const plugin of [...config.plugins].reverse()) {
      const r = await this.exec('DEL', config, plugin, containerId, netns, ifName, cached?.result);
      if (!r.ok) return r;
    }
    await rm(this.cachePath(containerId, ifName), { force: true });
    return { ok: true, value: null };
  }

  /** CHECK: every plugin in order with the cached result; an attachment that was never added is an error. */
  async check(containerId: string, netns: string, ifName = 'eth0'): Promise<CniOutcome<null>> {
    const cached = await this.readCache(containerId, ifName);
    if (!cached) {
      return {
        ok: false,
        error: { code: 3, msg: `no cached result for container ${containerId}`, plugin: '', command: 'CHECK' },
      };
    }
    if (cached.config.disableCheck) return { ok: true, value: null };
    for (const plugin of cached.config.plugins) {
      const r = await this.exec('CHECK', cached.config, plugin, containerId, netns, ifName, cached.result);
      if (!r.ok) return r;
    }
    return { ok: true, value: null };
  }

  /** The cached ADD result, if any. */
  async cachedResult(containerId: string, ifName = 'eth0'): Promise<CniResult | undefined> {
    return (await this.readCache(containerId, ifName))?.result;
  }

  /** Replaces the cached result (the runtime renames the host veth after ADD and records the new name). */
  async updateCachedResult(containerId: string, ifName: string, result: CniResult): Promise<void> {
    const cached = await this.readCache(containerId, ifName);
    if (cached) await this.writeCache({ ...cached, result });
  }

  private async exec(
    command: CniCommand,
    list: CniNetworkConfigList,
    plugin: CniPluginConf,
    containerId: string,
    netns: string,
    ifName: string,
    prevResult: CniResult | undefined,
  ): Promise<CniOutcome<CniResult>> {
    const fail = (code: number, msg: string, details?: string): CniOutcome<CniResult> => ({
      ok: false,
      error: { code, msg, details, plugin: plugin.type, command },
    });
    const bin = await this.findPlugin(plugin.type);
    if (!bin) return fail(999, `failed to find plugin "${plugin.type}" in path [${this.cniPath.join(' ')}]`);
    const stdin: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
    if (prevResult) stdin.prevResult = prevResult;
    const env: NodeJS.ProcessEnv = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: netns,
      CNI_IFNAME: ifName,
      CNI_PATH: this.cniPath.join(':'),
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    };
    const r = await this.runner(bin, [], { input: JSON.stringify(stdin), env, timeoutMs: this.timeoutMs });
    if (r.spawnError) return fail(999, `cannot run ${bin}: ${r.spawnError}`);
    if (r.code !== 0) {
      try {
        const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
        return fail(e.code ?? 999, e.msg ?? (r.stderr.trim() || `exit ${r.code}`), e.details);
      } catch {
        return fail(999, r.stderr.trim() || r.stdout.trim() || `plugin exited with ${r.code}`);
      }
    }
    if (command !== 'ADD') return { ok: true, value: prevResult ?? { cniVersion: list.cniVersion } };
    try {
      const res = JSON.parse(r.stdout) as CniResult;
      if (typeof res !== 'object' || res === null) return fail(999, 'plugin printed no result');
      return { ok: true, value: res };
    } catch (e) {
      return fail(999, `cannot parse plugin result: ${(e as Error).message}`, r.stdout.slice(0, 500));
    }
  }

  private async findPlugin(type: string): Promise<string | undefined> {
    if (type.includes('/') || type.startsWith('.')) return undefined;
    for (const dir of this.cniPath) {
      const p = join(dir, type);
      try {
        await access(p, constants.X_OK);
        return p;
      } catch {}
    }
    return undefined;
  }

  private cachePath(containerId: string, ifName: string): string {
    return join(this.cacheDir, `${this.config.name}-${containerId}-${ifName}.json`);
  }

  private async readCache(containerId: string, ifName: string): Promise<CacheEntry | undefined> {
    try {
      const v = JSON.parse(await readFile(this.cachePath(containerId, ifName), 'utf8')) as CacheEntry;
      return v.kind === 'podwallCniCacheV1' ? v : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeCache(entry: CacheEntry): Promise<void> {
    await mkdir(this.cacheDir, { recursive: true });
    const p = this.cachePath(entry.containerId, entry.ifName);
    await writeFile(`${p}.tmp`, JSON.stringify(entry));
    await rename(`${p}.tmp`, p);
  }
}
