/**
 * `podwall down`'s cleaner for the node: after the daemon has stopped, it opens the pod runtime on the same
 * home and removes every pod the runtime's state file records (processes, CNI attachment and host veth with its
 * route, netns, /etc/netns dir, logs), stray netns with this home's prefix, and undoes ip_forward if the runtime
 * turned it on. Homes whose node never ran are left alone.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PodRuntime } from '../../runtime/pod-runtime.js';
import { readNodeRecord } from './config.js';

export interface NodeHostCleaner {
  name: string;
  clean(home: string): Promise<string[]>;
}

export const nodeHostCleaner: NodeHostCleaner = {
  name: 'pods',
  async clean(home: string): Promise<string[]> {
    const rec = readNodeRecord(home);
    if (!rec || !existsSync(join(home, 'runtime', 'state.json'))) return [];
    const rt = await PodRuntime.open({
      home,
      podCIDR: rec.podCIDR,
      netnsPrefix: rec.netnsPrefix,
      manageIpForward: false,
    });
    const left = await rt.listLeftovers();
    const report = await rt.reconcile([]);
    await rt.shutdown();
    const done: string[] = [];
    for (const p of left.pods)
      done.push(`removed pod ${p.namespace}/${p.name} (netns ${p.netns}${p.ip ? `, ${p.ip}` : ''})`);
    for (const n of report.strayNetnsRemoved) done.push(`removed stray netns ${n}`);
    for (const m of report.problems) done.push(`pods: ${m}`);
    return done;
  },
};
