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

export interface EnforcementSettings {
  /** nft table (family inet). */
  table: string;
  nflogGroup: number;
  /** Preferred proxy port; 0 = any free port (the rendered rules use the port actually bound). */
  proxyPort: number;
  tproxy: TproxyRoutingSpec;
}

export const PRODUCTION_SETTINGS: EnforcementSettings = {
  table: 'podwall',
  nflogGroup: 100,
  proxyPort: 15001,
  tproxy: DEFAULT_TPROXY_ROUTING,
};

export function settingsForHome(home: string): EnforcementSettings {
  const abs = resolve(home);
  if (abs === resolve(DEFAULT_HOME)) return { ...PRODUCTION_SETTINGS, tproxy: { ...DEFAULT_TPROXY_ROUTING } };
  const h = fnv1a(abs);
  return {
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
