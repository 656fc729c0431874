/**
 * What podwall-prefixed objects exist on the host right now: netns, links, routes via those links, /etc/netns
 * dirs. `podwall down` and the tests compare two inventories to prove nothing leaked. Read-only.
 */
import { readdir } from 'node:fs/promises';
import { run } from './exec.js';
import { NETNS_ETC_DIR, NETNS_RUN_DIR } from './netns.js';

export interface HostInventory {
  netns: string[];
  links: string[];
  routes: string[];
  etcNetns: string[];
}

async function ls(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Objects whose name starts with `prefix` (netns, links, /etc/netns), and routes through such links or in `cidrPrefix`. */
export async function hostInventory(prefix: string, cidrPrefix?: string): Promise<HostInventory> {
  const netns = (await ls(NETNS_RUN_DIR)).filter((n) => n.startsWith(prefix)).sort();
  const etcNetns = (await ls(NETNS_ETC_DIR)).filter((n) => n.startsWith(prefix)).sort();
  const linkOut = await run('ip', ['-o', 'link', 'show']);
  const links = linkOut.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n?.startsWith(prefix) === true)
    .sort();
  const routeOut = await run('ip', ['-4', 'route', 'show']);
  const routes = routeOut.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .filter(
      (l) =>
        links.some((n) => l.includes(` dev ${n} `) || l.endsWith(` dev ${n}`)) ||
        (cidrPrefix !== undefined && l.startsWith(cidrPrefix)),
    )
    .sort();
  return { netns, links, routes, etcNetns };
}
