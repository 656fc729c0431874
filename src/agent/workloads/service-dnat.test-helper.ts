/**
 * Test-only stand-in for the enforcement datapath's Service load balancing: one nftables table (`ip <name>`,
 * the name carries the test's `pw-` tag) that DNATs ClusterIP:port of every Service to its ready EndpointSlice
 * endpoints, for packets from the test's pod CIDR only (recipe Q3). It proves the EndpointSlices this folder
 * writes are enough for a generic DNAT, and lets the tests resolve names through 10.96.0.10 before the
 * real datapath lands. `remove()` deletes the table.
 */
import type { Service } from '../../api/types.js';
import type { KubeClient } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { run } from '../../runtime/exec.js';
import { SERVICE_NAME_LABEL } from './endpoints.js';
import type { EndpointSliceObject } from './endpoints-controller.js';

export interface ServiceDnat {
  /** Re-renders the table from the current Services and EndpointSlices. */
  sync(): Promise<void>;
  remove(): Promise<void>;
}

export function serviceDnat(client: KubeClient, table: string, podCIDR: string): ServiceDnat {
  if (!table.startsWith('pw-')) throw new Error('table name must start with pw-');
  return {
    async sync() {
      const services = (await client.listAll<Service>(RESOURCE_REFS.services)).items;
      const slices = (await client.listAll<EndpointSliceObject>(RESOURCE_REFS.endpointslices)).items;
      const lines = [
        `add table ip ${table}`,
        `delete table ip ${table}`,
        `table ip ${table} {`,
        '  chain pre {',
        '    type nat hook prerouting priority dstnat; policy accept;',
      ];
      const chains: string[] = [];
      let n = 0;
      for (const svc of services) {
        const ip = svc.spec.clusterIP;
        if (!ip || ip === 'None') continue;
        const mine = slices.filter(
          (s) =>
            s.metadata.namespace === svc.metadata.namespace &&
            s.metadata.labels?.[SERVICE_NAME_LABEL] === svc.metadata.name,
        );
        for (const sp of svc.spec.ports ?? []) {
          const proto = (sp.protocol ?? 'TCP').toLowerCase();
          const backends: string[] = [];
          for (const s of mine) {
            const port = (s.ports ?? []).find((p) => (p.name ?? '') === (sp.name ?? ''))?.port;
            if (port === undefined) continue;
            for (const e of s.endpoints ?? [])
              if (e.conditions?.ready !== false) for (const a of e.addresses) backends.push(`${a}:${port}`);
          }
          if (backends.length === 0) continue;
          const c = `s${n++}`;
          lines.push(`    ip saddr ${podCIDR} ip daddr ${ip} ${proto} dport ${sp.port} goto ${c}`);
          const arms = backends.map((_b, i) => `${i} : goto ${c}_${i}`).join(', ');
          chains.push(`  chain ${c} { numgen random mod ${backends.length} vmap { ${arms} }; }`);
          backends.forEach((b, i) => {
            chains.push(`  chain ${c}_${i} { meta l4proto ${proto} dnat to ${b}; }`);
          });
        }
      }
      lines.push('  }', ...chains, '}');
      const r = await run('nft', ['-f', '-'], { input: `${lines.join('\n')}\n` });
      if (r.code !== 0) throw new Error(`nft: ${r.stderr}\n${lines.join('\n')}`);
    },
    async remove() {
      await run('nft', ['delete', 'table', 'ip', table]);
    },
  };
}
