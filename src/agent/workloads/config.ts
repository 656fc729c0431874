/**
 * Settings of the standalone node and its controllers: defaults, `PODWALL_*` environment overrides (so that
 * `podwall up` can be pointed at a test CIDR and prefix), and `$PODWALL_HOME/node.json`, the record of what the
 * node used last, which `podwall down` reads to find the pods it has to remove.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import type { BackoffOptions } from '../../runtime/supervisor.js';

export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const CLUSTER_DNS_IP = '10.96.0.10';
/** The ClusterIP range the apiserver allocates from (src/apiserver). */
export const SERVICE_CIDR = '10.96.0.0/12';
export const CLUSTER_DOMAIN = 'cluster.local';

/**
 * The default prefix of pod network namespaces: `pw-` and 4 hex digits of the home directory, so that two
 * podwall homes on one machine never take each other's namespaces for strays.
 */
export function defaultNetnsPrefix(home: string): string {
  return `pw-${createHash('sha256').update(home).digest('hex').slice(0, 4)}-`;
}

export interface NodeConfig {
  /** Node object name: the hostname (lowercased, made a DNS subdomain) or `podwall`. */
  nodeName: string;
  /** Subnet pod IPs come from (host-local IPAM). */
  podCIDR: string;
  /** Nameserver written into every pod's resolv.conf (the kube-dns Service ClusterIP). */
  clusterDNS: string;
  clusterDomain: string;
  /** Prefix of pod network namespaces; must start with `pw-`. */
  netnsPrefix: string;
  /**
   * Routes given to pods besides their own subnet. Default: the Service range only, so nothing a pod sends can be
   * forwarded off this machine (set PODWALL_POD_ROUTES=0.0.0.0/0 to give pods a default route via the node).
   */
  podRoutes?: string[];
  /** Directory of the built-in image programs (tests pass a fresh bundle). */
  programDir?: string;
  /** Container restart back-off (kubelet defaults when unset). */
  backoff?: Partial<BackoffOptions>;
  /** How long pod status changes are collected before one status write. */
  statusFlushMs: number;
  /** Period of the node heartbeat (Ready condition's lastHeartbeatTime). */
  heartbeatMs: number;
  /** Pods started at once by the kubelet loop. */
  podWorkers: number;
}

/** A DNS-1123 subdomain made from the hostname, or `podwall`. */
export function defaultNodeName(host = hostname()): string {
  const n = host
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63);
  return n === '' ? 'podwall' : n;
}

/** `PODWALL_NODE_NAME`, `PODWALL_POD_CIDR`, `PODWALL_NETNS_PREFIX`, `PODWALL_POD_ROUTES` (comma list), `PODWALL_PROGRAM_DIR`. */
export function nodeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<NodeConfig> {
  const out: Partial<NodeConfig> = {};
  if (env.PODWALL_NODE_NAME) out.nodeName = env.PODWALL_NODE_NAME;
  if (env.PODWALL_POD_CIDR) out.podCIDR = env.PODWALL_POD_CIDR;
  if (env.PODWALL_NETNS_PREFIX) out.netnsPrefix = env.PODWALL_NETNS_PREFIX;
  if (env.PODWALL_POD_ROUTES)
    out.podRoutes = env.PODWALL_POD_ROUTES.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  if (env.PODWALL_PROGRAM_DIR) out.programDir = env.PODWALL_PROGRAM_DIR;
  return out;
}

export function resolveNodeConfig(home: string, partial: Partial<NodeConfig> = {}): NodeConfig {
  const cfg: NodeConfig = {
    nodeName: defaultNodeName(),
    podCIDR: DEFAULT_POD_CIDR,
    clusterDNS: CLUSTER_DNS_IP,
    clusterDomain: CLUSTER_DOMAIN,
    netnsPrefix: defaultNetnsPrefix(home),
    podRoutes: [SERVICE_CIDR],
    statusFlushMs: 25,
    heartbeatMs: 30_000,
    // Starting a pod spawns several processes, and each spawn blocks the daemon's event loop until the child has
    // exec'd (~8 ms on the reference VM): more concurrent starts only delay the first pods (see README).
    podWorkers: Math.max(2, cpus().length),
    ...partial,
  };
  if (!/^pw-[A-Za-z0-9._-]*$/.test(cfg.netnsPrefix))
    throw new Error(`netns prefix "${cfg.netnsPrefix}" must start with "pw-"`);
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(cfg.podCIDR)) throw new Error(`invalid pod CIDR "${cfg.podCIDR}"`);
  return cfg;
}

/** What `podwall down` needs to find the node's pods again. */
export interface NodeRecord {
  nodeName: string;
  podCIDR: string;
  netnsPrefix: string;
}

export function nodeRecordPath(home: string): string {
  return join(home, 'node.json');
}

export function readNodeRecord(home: string): NodeRecord | undefined {
  try {
    const v = JSON.parse(readFileSync(nodeRecordPath(home), 'utf8')) as NodeRecord;
    return typeof v.netnsPrefix === 'string' && typeof v.podCIDR === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export async function writeNodeRecord(home: string, rec: NodeRecord): Promise<void> {
  await mkdir(home, { recursive: true });
  const p = nodeRecordPath(home);
  await writeFile(`${p}.tmp`, `${JSON.stringify(rec, null, 2)}\n`);
  await rename(`${p}.tmp`, p);
}
