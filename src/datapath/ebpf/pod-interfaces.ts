/**
 * Which host interface leads to each local endpoint: the eBPF programs attach there. The CNI result names it
 * (`EndpointState.hostIfname`) when the agent knows it; otherwise it is the device of the endpoint's /32 route —
 * accepted only when that device carries podwall's `pw-` prefix (podwall renames every host veth it creates), so a
 * route through some other interface (a default route, the host's uplink) never gets programs attached to it.
 */
import { readFileSync } from 'node:fs';
import type { EndpointState } from '../types.js';
import { ifindexOf } from './kernel/attach.js';

/** A route as this module reads it: destination (`a.b.c.d` or `a.b.c.d/len`) and device. */
interface RouteRow {
  dst?: string;
  dev?: string;
}

/**
 * The main table's routes from /proc/net/route (a file read: no `ip` process per apply). Destination and mask are
 * hex in host byte order (little-endian here).
 */
export function parseProcNetRoute(text: string): RouteRow[] {
  const rows: RouteRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const ip = Number.parseInt(f[1]!, 16);
    const mask = Number.parseInt(f[7]!, 16);
    if (Number.isNaN(ip) || Number.isNaN(mask)) continue;
    const quad = [ip & 255, (ip >>> 8) & 255, (ip >>> 16) & 255, ip >>> 24].join('.');
    const len = mask.toString(2).replace(/0/g, '').length;
    rows.push({ dst: len === 32 ? quad : `${quad}/${len}`, dev: f[0] });
  }
  return rows;
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

/** An endpoint's host-side interface: its ifindex (0: none found) and whether it has a peer in the pod. */
export interface PodInterface {
  ifindex: number;
  /** A veth (or any device whose link is another device): bpf_redirect_peer can hand packets to the pod. */
  peer: boolean;
}

export class PodInterfaces {
  private routes = new Map<string, string>();
  /** `name@ifindex` → peer, so sysfs is read once per interface, not on every apply. */
  private peers = new Map<string, boolean>();

  constructor(private readonly named?: (ep: EndpointState) => string | undefined) {}

  /** The interface per endpoint name (ifindex 0: none found; the endpoint is judged as a destination only). */
  resolve(endpoints: readonly EndpointState[]): Map<string, PodInterface> {
    const out = new Map<string, PodInterface>();
    const missing: EndpointState[] = [];
    for (const ep of endpoints) {
      // Looked up on every apply (one if_nametoindex per local endpoint): a pod recreated under the same
      // interface name gets a new ifindex.
      const name = (this.named ? this.named(ep) : ep.hostIfname) ?? this.routes.get(ep.ip);
      const i = name ? ifindexOf(name) : 0;
      if (i > 0) out.set(ep.name, this.found(name!, i));
      else missing.push(ep);
    }
    if (missing.length === 0 || this.named) return out;
    // Read the routes once per apply that has endpoints without a known interface (a new pod, a recreated one).
    this.routes = podRoutes(readRoutes());
    for (const ep of missing) {
      const name = this.routes.get(ep.ip);
      const i = name ? ifindexOf(name) : 0;
      out.set(ep.name, i > 0 ? this.found(name!, i) : { ifindex: 0, peer: false });
    }
    return out;
  }

  private found(name: string, ifindex: number): PodInterface {
    const key = `${name}@${ifindex}`;
    let peer = this.peers.get(key);
    if (peer === undefined) {
      peer = hasPeer(name, ifindex);
      if (this.peers.size > 65536) this.peers.clear();
      this.peers.set(key, peer);
    }
    return { ifindex, peer };
  }
}

/**
 * Whether an interface is linked to another device (`iflink` names a different ifindex): true for a veth (its
 * peer, in the pod) and false for a physical, dummy, bridge or tun device. Host routing relies on it: a packet
 * handed to a device without a peer would be dropped by the kernel.
 */
export function hasPeer(name: string, ifindex: number): boolean {
  try {
    const link = Number(readFileSync(`/sys/class/net/${name}/iflink`, 'utf8').trim());
    return Number.isInteger(link) && link > 0 && link !== ifindex;
  } catch {
    return false;
  }
}

function readRoutes(): RouteRow[] {
  try {
    return parseProcNetRoute(readFileSync('/proc/net/route', 'utf8'));
  } catch {
    return [];
  }
}
