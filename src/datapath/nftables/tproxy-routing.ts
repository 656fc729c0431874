/**
 * The policy routing TPROXY needs: packets carrying the podwall fwmark bit are delivered locally
 *   ip rule add pref <pref> fwmark <bit>/<bit> lookup <table>
 *   ip route add local 0.0.0.0/0 dev lo table <table>
 * Both objects are recorded when created and removed exactly (never by pattern). An identical rule/route left by
 * a crashed run with the same parameters is adopted; anything else at that pref/table is someone else's and is an
 * error, not something to overwrite.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TproxyRoutingSpec {
  mark: number;
  table: number;
  pref: number;
}

export const DEFAULT_TPROXY_ROUTING: TproxyRoutingSpec = { mark: 0x80000000, table: 2004, pref: 9 };

interface IpRule {
  priority?: number;
  fwmark?: string;
  fwmask?: string;
  table?: string;
}

async function ip(args: string[]): Promise<string> {
  const { stdout } = await run('ip', args);
  return stdout;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

export class TproxyRouting {
  private ruleInstalled = false;
  private routeInstalled = false;

  constructor(readonly spec: TproxyRoutingSpec) {}

  private ruleArgs(): string[] {
    const m = hex(this.spec.mark);
    return ['pref', String(this.spec.pref), 'fwmark', `${m}/${m}`, 'lookup', String(this.spec.table)];
  }

  async install(): Promise<void> {
    const { mark, table, pref } = this.spec;
    if (!this.ruleInstalled) {
      const rules = JSON.parse((await ip(['-j', '-4', 'rule', 'show', 'pref', String(pref)])) || '[]') as IpRule[];
      const same = (r: IpRule) =>
        r.table === String(table) && Number(r.fwmark) === mark && Number(r.fwmask ?? r.fwmark) === mark;
      if (rules.length > 0 && !rules.every(same))
        throw new Error(`ip rule pref ${pref} is in use by something else: ${JSON.stringify(rules)}`);
      if (rules.length === 0) await ip(['-4', 'rule', 'add', ...this.ruleArgs()]);
      this.ruleInstalled = true;
    }
    if (!this.routeInstalled) {
      // A table that was never used does not exist yet: `ip route show table N` fails, which means empty.
      const listed = await ip(['-j', '-4', 'route', 'show', 'table', String(table)]).catch(() => '[]');
      const routes = JSON.parse(listed || '[]') as {
        dst: string;
        type?: string;
        dev?: string;
      }[];
      const ours = (r: (typeof routes)[number]) => r.type === 'local' && r.dst === 'default' && r.dev === 'lo';
      if (routes.length > 0 && !routes.every(ours))
        throw new Error(`route table ${table} is in use by something else: ${JSON.stringify(routes)}`);
      if (routes.length === 0)
        await ip(['-4', 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', String(table)]);
      this.routeInstalled = true;
    }
  }

  async remove(): Promise<void> {
    if (this.ruleInstalled) {
      await ip(['-4', 'rule', 'del', ...this.ruleArgs()]).catch(() => undefined);
      this.ruleInstalled = false;
    }
    if (this.routeInstalled) {
      await ip(['-4', 'route', 'del', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', String(this.spec.table)]).catch(
        () => undefined,
      );
      this.routeInstalled = false;
    }
  }
}
