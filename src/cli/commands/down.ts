/**
 * `podwall down`: stops the daemon and removes what podwall created on the host (processes, sockets, runtime
 * files, and whatever later components register as host cleaners). Applied objects stay in the store unless
 * `--purge`, which also removes the database, certificates, kubeconfig, logs and every component's state files.
 */
import type { Command } from 'commander';
import { purgeHome, resolveHome, stopDaemon } from '../../agent/lifecycle.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description('stop podwall and remove everything it created on the host (objects stay unless --purge)')
    .option('--home <dir>', 'state directory (default $PODWALL_HOME or /var/lib/podwall)')
    .option('--purge', 'also delete the stored objects, certificates, kubeconfig, logs and component state')
    .option('--timeout <seconds>', 'grace period before the daemon is killed', '10')
    .action(async (o: { home?: string; purge?: boolean; timeout: string }) => {
      const home = resolveHome(o.home);
      const done = await stopDaemon(home, Number(o.timeout) * 1000);
      if (o.purge) done.push(...purgeHome(home));
      for (const line of done) process.stdout.write(`${line}\n`);
      process.stdout.write(done.length ? 'podwall is down\n' : 'podwall was not running\n');
    });
}
