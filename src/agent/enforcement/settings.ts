/**
 * Names and numbers of the host objects enforcement creates, per $PODWALL_HOME. The default home gets the
 * production names (`inet podwall`, NFLOG group 100, ip rule pref 9 → table 2004, proxy port 15001); any other home
 * (tests, a second instance) gets its own, derived from a hash of the home path, so daemons never share or fight over
 * a table, an NFLOG group or a routing rule. Every name carries the `podwall` prefix.
 */
import { resolve } from 'node:path';
import type { TproxyRoutingSpec } from '../../datapath/nftables/tproxy-routing.js';
import { DEFAULT_TPROXY_ROUTING } from '../../datapath/nftables/tproxy-routing.js';
import { fnv1a } from '../../identity/allocator.js';
import { DEFAULT_HOME } from '../lifecycle.js';

/**
 * The kernel datapath: the eBPF programs (no netfilter, no conntrack; the default), or the nftables table (also the
 * fallback where the eBPF datapath cannot run: see src/datapath/ebpf/preflight.ts).
 */
export const DATAPATH_KINDS = ['nftables', 'ebpf'] as const;
export type DatapathKind = (typeof DATAPATH_KINDS)[number];
export const DEFAULT_DATAPATH: DatapathKind = 'ebpf';

/** One of `choices` from `$name` (set by a `podwall up` flag), checked; unset or empty is `fallback`. */
function choiceFromEnv<T extends string>(env: NodeJS.ProcessEnv, name: string, choices: readonly T[], fallback: T): T {
  const v = env[name];
  if (!v) return fallback;
  if ((choices as readonly string[]).includes(v)) return v as T;
  throw new Error(`invalid ${name} ${JSON.stringify(v)}: expected ${choices.join(' or ')}`);
}

/** `$PODWALL_DATAPATH` (set by `podwall up --datapath`), checked; unset or empty is the default. */
export function datapathFromEnv(env: NodeJS.ProcessEnv = process.env): DatapathKind {
  return choiceFromEnv(env, 'PODWALL_DATAPATH', DATAPATH_KINDS, DEFAULT_DATAPATH);
}

/**
 * How the eBPF datapath delivers pod → local pod traffic: `bpf` hands it straight to the destination pod
 * (bpf_redirect_peer; the default), `legacy` routes it through the host's stack, so the host's own firewall and
 * captures see it (Cilium's `bpf.hostLegacyRouting`). The nftables datapath always routes through the host.
 */
export const HOST_ROUTING_MODES = ['bpf', 'legacy'] as const;
export type HostRoutingMode = (typeof HOST_ROUTING_MODES)[number];

/** `$PODWALL_HOST_ROUTING` (set by `podwall up --host-routing`), checked; unset or empty is `bpf`. */
export function hostRoutingFromEnv(env: NodeJS.ProcessEnv = process.env): HostRoutingMode {
  return choiceFromEnv(env, 'PODWALL_HOST_ROUTING', HOST_ROUTING_MODES, 'bpf');
}

export interface EnforcementSettings {
  datapath: DatapathKind;
  hostRouting: HostRoutingMode;
  /** nft table (family inet). */
  table: string;
  nflogGroup: number;
  /** Preferred proxy port; 0 = any free port (the rendered rules use the port actually bound). */
  proxyPort: number;
  tproxy: TproxyRoutingSpec;
}

export const PRODUCTION_SETTINGS: EnforcementSettings = {
  datapath: DEFAULT_DATAPATH,
  hostRouting: 'bpf',
  table: 'podwall',
  nflogGroup: 100,
  proxyPort: 15001,
  tproxy: DEFAULT_TPROXY_ROUTING,
};

export function settingsForHome(
  home: string,
  datapath: DatapathKind = datapathFromEnv(),
  hostRouting: HostRoutingMode = hostRoutingFromEnv(),
): EnforcementSettings {
  const abs = resolve(home);
  if (abs === resolve(DEFAULT_HOME))
    return { ...PRODUCTION_SETTINGS, datapath, hostRouting, tproxy: { ...DEFAULT_TPROXY_ROUTING } };
  const h = fnv1a(abs);
  return {
    datapath,
    hostRouting,
    table: `podwall-${h.toString(16).padStart(8, '0')}`,
    nflogGroup: 1000 + (h % 60000),
    proxyPort: 0,
    tproxy: {
      mark: DEFAULT_TPROXY_ROUTING.mark,
      // route tables 10000–59999, rule prefs 1000–30999: clear of main/local/default and of pref 0/32766/32767.
      table: 10000 + ((h >>> 3) % 50000),
      pref: 1000 + ((h >>> 7) % 30000),
    },
  };
}
