/**
 * `podwall observe`: flows from the running node, like `hubble observe`: the kernel's policy verdicts (from NFLOG)
 * and the L7 proxy's HTTP requests, with the policy that decided. Filters are ORed within a flag and ANDed across
 * flags; `--pod [ns/]name-prefix` defaults to namespace `default`. Reads $PODWALL_HOME/run/observer.sock (root).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { homePaths, resolveHome } from '../../agent/lifecycle.js';
import { formatCompact } from '../../observer/compact.js';
import { checkFilter, type FlowFilter } from '../../observer/filter.js';
import { fetchFlows } from '../../observer/server.js';
import { UserError } from '../errors.js';
import { checkOutput } from '../output.js';

interface ObserveOptions {
  home?: string;
  last?: string;
  follow?: boolean;
  verdict?: string[];
  pod?: string[];
  fromPod?: string[];
  toPod?: string[];
  namespace?: string[];
  protocol?: string[];
  type?: string[];
  httpStatus?: string[];
  dropReasonDesc?: string[];
  printPolicyNames?: boolean;
  output: string;
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

export function observeSocket(home: string): string {
  return join(homePaths(home).runDir, 'observer.sock');
}

export function filterFromOptions(o: Partial<ObserveOptions>): FlowFilter {
  const f: FlowFilter = {};
  const put = <K extends keyof FlowFilter>(k: K, v: string[] | undefined) => {
    if (v && v.length > 0) (f as Record<string, unknown>)[k] = v;
  };
  put('verdict', o.verdict);
  put('pod', o.pod);
  put('fromPod', o.fromPod);
  put('toPod', o.toPod);
  put('namespace', o.namespace);
  put('protocol', o.protocol);
  put('type', o.type);
  put('httpStatus', o.httpStatus);
  put('dropReasonDesc', o.dropReasonDesc);
  return f;
}

export function registerObserve(program: Command): void {
  program
    .command('observe')
    .description('show flows and their verdicts (kernel L3/L4 verdicts and L7 HTTP requests), like hubble observe')
    .option('--home <dir>', 'state directory (default $PODWALL_HOME or /var/lib/podwall)')
    .option('--last <n>', 'show the newest N matching flows (default 20; with --follow: 0)')
    .option('-f, --follow', 'keep printing new flows as they happen')
    .option('--verdict <verdict>', 'FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR (repeatable)', collect)
    .option('--pod <[ns/]name>', 'flows from or to pods whose name starts with this (repeatable)', collect)
    .option('--from-pod <[ns/]name>', 'flows from these pods (repeatable)', collect)
    .option('--to-pod <[ns/]name>', 'flows to these pods (repeatable)', collect)
    .option('-n, --namespace <ns>', 'flows from or to this namespace (repeatable)', collect)
    .option('--protocol <proto>', 'tcp, udp, sctp, icmp or http (repeatable)', collect)
    .option('-t, --type <type>', 'l7, policy-verdict or drop (repeatable)', collect)
    .option('--http-status <code>', 'HTTP status code, or a prefix like 5+ (repeatable)', collect)
    .option(
      '--drop-reason-desc <reason>',
      'drop reason, as Hubble names it: POLICY_DENIED, POLICY_DENY, INVALID_SOURCE_IP, ... (repeatable)',
      collect,
    )
    .option('--print-policy-names', 'append the policies that allowed or denied each flow')
    .option('-o, --output <format>', 'compact, json or jsonpb (one {"flow": ...} per line)', 'compact')
    .action(async (o: ObserveOptions) => {
      const output = checkOutput(o.output, ['compact', 'json', 'jsonpb'] as const);
      const filter = filterFromOptions(o);
      const errs = checkFilter(filter);
      if (errs.length > 0) throw new UserError(errs.join('\n'));
      let last: number | undefined;
      if (o.last !== undefined) {
        last = Number(o.last);
        if (!Number.isInteger(last) || last < 0) throw new UserError(`invalid --last ${JSON.stringify(o.last)}`);
      }
      const home = resolveHome(o.home);
      const socketPath = observeSocket(home);
      if (!existsSync(socketPath))
        throw new UserError(`podwall is not running for ${home} (no ${socketPath}); start it with: podwall up`);
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await fetchFlows({
          socketPath,
          filter,
          last: last ?? (o.follow ? 0 : 20),
          follow: o.follow,
          signal: abort.signal,
          onFlow: (r) => {
            const line =
              output === 'compact'
                ? formatCompact(r.flow, { printPolicyNames: o.printPolicyNames })
                : JSON.stringify(r);
            process.stdout.write(`${line}\n`);
          },
        });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EACCES')
          throw new UserError(`permission denied on ${socketPath}: flows are readable by root only`);
        if (code === 'ECONNREFUSED' || code === 'ENOENT')
          throw new UserError(`podwall is not running for ${home}; start it with: podwall up`);
        throw new UserError((e as Error).message);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
