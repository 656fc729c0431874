/**
 * Named network namespaces (`ip netns`), the per-pod files `ip netns exec` bind-mounts over /etc
 * (`/etc/netns/<name>/resolv.conf`, `hosts`), and the few sysctls a pod and the node need.
 * Every name handled here must carry the `pw-` prefix: the functions refuse anything else, so a bug can never
 * delete a namespace podwall did not create.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Runner, run } from './exec.js';

export const NETNS_RUN_DIR = '/var/run/netns';
export const NETNS_ETC_DIR = '/etc/netns';
const NAME_RE = /^pw-[A-Za-z0-9._-]{1,60}$/;

export function assertPodwallName(name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`refusing to handle "${name}": podwall names match ${NAME_RE}`);
}

export function netnsPath(name: string): string {
  return join(NETNS_RUN_DIR, name);
}

export interface DnsConfig {
  nameservers: string[];
  searches: string[];
  options: string[];
}

/** The kubelet's ClusterFirst resolv.conf for a pod in `namespace`. */
export function clusterFirstDns(nameservers: string[], namespace: string, clusterDomain = 'cluster.local'): DnsConfig {
  return {
    nameservers,
    searches: [`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain],
    options: ['ndots:5'],
  };
}

export function renderResolvConf(c: DnsConfig): string {
  const lines = c.nameservers.map((n) => `nameserver ${n}`);
  if (c.searches.length > 0) lines.push(`search ${c.searches.join(' ')}`);
  if (c.options.length > 0) lines.push(`options ${c.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** The kubelet-managed /etc/hosts of a pod. */
export function renderHosts(podIp: string | undefined, hostname: string): string {
  const lines = [
    '# Kubernetes-managed hosts file (podwall).',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::1\tip6-mcastprefix',
    'fe00::2\tip6-allrouters',
  ];
  if (podIp) lines.push(`${podIp}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}

export class Netns {
  constructor(private readonly runner: Runner = run) {}

  async list(): Promise<string[]> {
    try {
      return (await readdir(NETNS_RUN_DIR)).sort();
    } catch {
      return [];
    }
  }

  async exists(name: string): Promise<boolean> {
    return (await this.list()).includes(name);
  }

  /** `ip netns add`, then `configure`. */
  async create(name: string): Promise<void> {
    await this.add(name);
    await this.configure(name);
  }

  /** `ip netns add` only (the sandbox configures the namespace while CNI ADD runs). */
  async add(name: string): Promise<void> {
    assertPodwallName(name);
    await this.ok(['netns', 'add', name]);
  }

  /** `lo` up and unprivileged ports from 0 inside the namespace (recipe Q7). */
  async configure(name: string): Promise<void> {
    assertPodwallName(name);
    await Promise.all([
      this.ok(['-n', name, 'link', 'set', 'lo', 'up']),
      this.ok(['netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=0']),
    ]);
  }

  /** `ip netns del`; a namespace that is already gone is fine. */
  async delete(name: string): Promise<void> {
    assertPodwallName(name);
    if (!(await this.exists(name))) return;
    const r = await this.runner('ip', ['netns', 'del', name]);
    if (r.code !== 0 && (await this.exists(name))) throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`);
  }

  /** PIDs of every process whose network namespace is `name` (`ip netns pids`). */
  async pids(name: string): Promise<number[]> {
    assertPodwallName(name);
    const r = await this.runner('ip', ['netns', 'pids', name]);
    if (r.code !== 0) return [];
    return r.stdout
      .split(/\s+/)
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
  }

  /** Writes `/etc/netns/<name>/{resolv.conf,hosts}`; `ip netns exec` bind-mounts them over /etc. */
  async writeEtc(name: string, files: { resolvConf: string; hosts?: string }): Promise<void> {
    assertPodwallName(name);
    const dir = join(NETNS_ETC_DIR, name);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(join(dir, 'resolv.conf'), files.resolvConf, { mode: 0o644 });
    if (files.hosts !== undefined) await writeFile(join(dir, 'hosts'), files.hosts, { mode: 0o644 });
  }

  async removeEtc(name: string): Promise<void> {
    assertPodwallName(name);
    await rm(join(NETNS_ETC_DIR, name), { recursive: true, force: true });
  }

  /** Renames a host interface (to give a CNI-created veth podwall's prefix). Live rename works on kernel ≥ 6.x. */
  async renameLink(from: string, to: string): Promise<boolean> {
    assertPodwallName(to);
    const r = await this.runner('ip', ['link', 'set', 'dev', from, 'name', to]);
    return r.code === 0;
  }

  /** Deletes a host link podwall created (used only when CNI DEL could not). */
  async deleteLink(name: string): Promise<void> {
    assertPodwallName(name);
    await this.runner('ip', ['link', 'del', 'dev', name]);
  }

  async linkExists(name: string): Promise<boolean> {
    const r = await this.runner('ip', ['link', 'show', 'dev', name]);
    return r.code === 0;
  }

  private async ok(args: string[]): Promise<void> {
    const r = await this.runner('ip', args);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.spawnError ?? r.stderr.trim()}`);
  }
}

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Turns on IPv4 forwarding (ptp routes pod traffic through the host). Returns true when it changed it. */
export async function ensureIpForward(): Promise<boolean> {
  const cur = (await readFile(IP_FORWARD, 'utf8')).trim();
  if (cur === '1') return false;
  await writeFile(IP_FORWARD, '1\n');
  return true;
}

/** Undoes `ensureIpForward` (call only when it returned true). */
export async function restoreIpForward(): Promise<void> {
  await writeFile(IP_FORWARD, '0\n');
}
