/**
 * `podwall status`: like `cilium status`: each component OK or not, counts of namespaces, pods and policies,
 * versions and uptime; `-o json` for scripts. Reads everything through the API, as any client would.
 */
import type { Command } from 'commander';
import { PODWALL_VERSION } from '../../agent/daemon.js';
import { checkReady, homePaths, isAlive, readState, resolveHome } from '../../agent/lifecycle.js';
import { KubeClient, loadKubeconfig } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { checkOutput, printJson } from '../output.js';

interface ComponentReport {
  name: string;
  ok: boolean;
  message: string;
}

export interface StatusReport {
  running: boolean;
  pid?: number;
  url?: string;
  uptimeSeconds?: number;
  versions: { podwall: string; kubernetes?: string; node: string };
  components: ComponentReport[];
  counts?: Record<string, number>;
}

function formatUptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return d ? `${d}d${h}h` : h ? `${h}h${m}m` : m ? `${m}m${sec}s` : `${sec}s`;
}

export async function collectStatus(home: string): Promise<StatusReport> {
  const report: StatusReport = {
    running: false,
    versions: { podwall: PODWALL_VERSION, node: process.version },
    components: [],
  };
  const state = readState(home);
  const alive = state !== undefined && isAlive(state.pid);
  report.components.push({
    name: 'daemon',
    ok: alive,
    message: alive ? `pid ${state?.pid}` : 'not running',
  });
  if (!state || !alive) return report;
  report.pid = state.pid;
  report.url = state.url;
  report.uptimeSeconds = Math.max(0, Math.round((Date.now() - Date.parse(state.startedAt)) / 1000));
  const ready = await checkReady(state.url, undefined).catch(() => false);
  let client: KubeClient | undefined;
  try {
    client = new KubeClient(loadKubeconfig({ path: homePaths(home).kubeconfig }));
    const v = await client.request<{ gitVersion: string }>('GET', '/version');
    report.versions.kubernetes = v.gitVersion;
    const counts: Record<string, number> = {};
    for (const [label, ref] of [
      ['namespaces', RESOURCE_REFS.namespaces],
      ['pods', RESOURCE_REFS.pods],
      ['services', RESOURCE_REFS.services],
      ['networkpolicies', RESOURCE_REFS.networkpolicies],
      ['ciliumnetworkpolicies', RESOURCE_REFS.ciliumnetworkpolicies],
      ['ciliumclusterwidenetworkpolicies', RESOURCE_REFS.ciliumclusterwidenetworkpolicies],
    ] as const) {
      counts[label] = (await client.listAll(ref)).items.length;
    }
    report.counts = counts;
    report.components.push({ name: 'apiserver', ok: true, message: `${state.url} (${ready ? 'ready' : 'not ready'})` });
    report.components.push({ name: 'store', ok: true, message: `sqlite ${homePaths(home).db}` });
  } catch (e) {
    report.components.push({ name: 'apiserver', ok: false, message: (e as Error).message });
  } finally {
    client?.close();
  }
  for (const c of state.components.filter((n) => n !== 'apiserver'))
    report.components.push({ name: c, ok: true, message: 'running' });
  report.running = report.components.every((c) => c.ok);
  return report;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show whether podwall runs: components, object counts, versions, uptime')
    .option('--home <dir>', 'state directory (default $PODWALL_HOME or /var/lib/podwall)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { home?: string; output: string }) => {
      const output = checkOutput(o.output, ['text', 'json'] as const);
      const home = resolveHome(o.home);
      const r = await collectStatus(home);
      if (output === 'json') printJson(r);
      else {
        const lines: string[] = [];
        for (const c of r.components) lines.push(`${`${c.name}:`.padEnd(24)}${c.ok ? 'OK' : 'error'}   ${c.message}`);
        if (r.counts) {
          lines.push(`${'namespaces:'.padEnd(24)}${r.counts.namespaces}`);
          lines.push(`${'pods:'.padEnd(24)}${r.counts.pods}`);
          lines.push(`${'services:'.padEnd(24)}${r.counts.services}`);
          const pol =
            r.counts.networkpolicies + r.counts.ciliumnetworkpolicies + r.counts.ciliumclusterwidenetworkpolicies;
          lines.push(
            `${'policies:'.padEnd(24)}${pol} (NetworkPolicy ${r.counts.networkpolicies}, CiliumNetworkPolicy ${r.counts.ciliumnetworkpolicies}, CiliumClusterwideNetworkPolicy ${r.counts.ciliumclusterwidenetworkpolicies})`,
          );
        }
        lines.push(
          `${'versions:'.padEnd(24)}podwall ${r.versions.podwall}, kubernetes ${r.versions.kubernetes ?? '-'}, node ${r.versions.node}`,
        );
        if (r.uptimeSeconds !== undefined) lines.push(`${'uptime:'.padEnd(24)}${formatUptime(r.uptimeSeconds)}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      process.exitCode = r.running ? 0 : 1;
    });
}
