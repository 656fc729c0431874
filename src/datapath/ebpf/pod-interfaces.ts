/**
 * Which host interface leads to each local endpoint: the eBPF programs attach there. The CNI result names it
 * (`EndpointState.hostIfname`) when the agent knows it; otherwise it is the device of the endpoint's /32 route —
 * accepted only when that device carries podwall's `pw-` prefix (podwall renames every host veth it creates), so a
 * route through some other interface (a default route, the host's uplink) never gets programs attached to it.
 */
import { execFileSync } from 'node:child_process';
import type { EndpointState } from '../types.js';
import { ifindexOf } from './kernel/attach.js';

/** `ip -j -4 route show` rows this module reads. */
interface RouteRow {
  dst?: string;
  dev?: string;
}

export const POD_INTERFACE_PREFIX = 'pw-';

/** Pod IP → host interface, from /32 routes through podwall-named devices. Pure, for tests. */
export function podRoutes(rows: readonly RouteRow[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of rows) {
    if (!r.dst || !r.dev?.startsWith(POD_INTERFACE_PREFIX)) continue;
    const ip = r.dst.endsWith('/32') ? r.dst.slice(0, -3) : r.dst;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) out.set(ip, r.dev);
  }
  return out;
}

export class PodInterfaces {
  private routes = new Map<string, string>();

  constructor(private readonly named?: (ep: EndpointState) => string | undefined) {}

  /** ifindex per endpoint name (0: no interface found; the endpoint is judged as a destination only). */
  resolve(endpoints: readonly EndpointState[]): Map<string, number> {
    const out = new Map<string, number>();
    const missing: EndpointState[] = [];
    for (const ep of endpoints) {
      // Looked up on every apply (one if_nametoindex per local endpoint): a pod recreated under the same
      // interface name gets a new ifindex.
      const name = (this.named ? this.named(ep) : ep.hostIfname) ?? this.routes.get(ep.ip);
      const i = name ? ifindexOf(name) : 0;
      if (i > 0) out.set(ep.name, i);
      else missing.push(ep);
    }
    if (missing.length === 0 || this.named) return out;
    // Read the routes once per apply that has endpoints without a known interface (a new pod, a recreated one).
    this.routes = podRoutes(readRoutes());
    for (const ep of missing) {
      const name = this.routes.get(ep.ip);
      out.set(ep.name, name ? ifindexOf(name) : 0);
    }
    return out;
  }
}

function readRoutes(): RouteRow[] {
  try {
    return JSON.parse(
      execFileSync('ip', ['-j', '-4', 'route', 'show'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
    );
  } catch {
    return [];
  }
}
