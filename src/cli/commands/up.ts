/**
 * `podwall up`: starts the control plane and agent as a background daemon (logs in $PODWALL_HOME/logs), waits
 * until the API answers /readyz and prints `export KUBECONFIG=...`. `--foreground` runs the daemon in this
 * process (for a supervisor, and as the child `up` forks). A second `up` says it is already running.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { startDaemon } from '../../agent/daemon.js';
import { DATAPATH_KINDS, DEFAULT_DATAPATH, HOST_ROUTING_MODES } from '../../agent/enforcement/settings.js';
import { homePaths, isAlive, resolveHome, runningDaemon, waitReady } from '../../agent/lifecycle.js';
import { UserError } from '../errors.js';

interface UpOptions {
  home?: string;
  foreground?: boolean;
  port?: string;
  timeout: string;
  datapath?: string;
  hostRouting?: string;
}

/** A flag's value, checked against its choices, into the environment variable the daemon reads. */
function passChoice(flag: string, value: string | undefined, choices: readonly string[], envName: string): void {
  if (value === undefined) return;
  if (!choices.includes(value))
    throw new UserError(`invalid ${flag} ${JSON.stringify(value)}: expected ${choices.join(' or ')}`);
  process.env[envName] = value;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function runForeground(home: string, port: number | undefined, toStderr: boolean): Promise<void> {
  const daemon = await startDaemon({ home, foreground: true, port, logToStderr: toStderr });
  if (toStderr)
    process.stderr.write(`podwall is running; API at ${daemon.url}\nexport KUBECONFIG=${daemon.kubeconfigPath}\n`);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      daemon.stop().then(resolve, resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start the podwall control plane and agent (background daemon) and print the KUBECONFIG to use')
    .option('--home <dir>', 'state directory (default $PODWALL_HOME or /var/lib/podwall)')
    .option('--foreground', 'run in this process instead of as a background daemon (for supervisors)')
    .option('--port <port>', 'API server port (default: last used, else 6443, else any free port)')
    .option('--timeout <seconds>', 'how long to wait for the daemon to become ready', '60')
    .option(
      '--datapath <kind>',
      `kernel datapath: ${DATAPATH_KINDS.join(' or ')} (default $PODWALL_DATAPATH or ${DEFAULT_DATAPATH})`,
    )
    .option(
      '--host-routing <mode>',
      `eBPF datapath, pod → local pod: ${HOST_ROUTING_MODES.join(' or ')} (default $PODWALL_HOST_ROUTING or bpf; legacy lets the host's firewall see it)`,
    )
    .action(async (o: UpOptions) => {
      const home = resolveHome(o.home);
      // Passed on to the daemon through its environment (the enforcement settings read them there).
      passChoice('--datapath', o.datapath, DATAPATH_KINDS, 'PODWALL_DATAPATH');
      passChoice('--host-routing', o.hostRouting, HOST_ROUTING_MODES, 'PODWALL_HOST_ROUTING');
      const port = o.port !== undefined ? Number(o.port) : undefined;
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
        throw new UserError(`invalid --port ${JSON.stringify(o.port)}`);
      const running = await runningDaemon(home);
      if (running) {
        process.stdout.write(`podwall is already running (pid ${running.pid}, API ${running.url})\n`);
        process.stdout.write(`export KUBECONFIG=${homePaths(home).kubeconfig}\n`);
        return;
      }
      if (o.foreground) {
        await runForeground(home, port, process.env.PODWALL_DAEMONIZED !== '1');
        return;
      }
      const p = homePaths(home);
      mkdirSync(p.logDir, { recursive: true });
      const out = openSync(p.logFile, 'a');
      const args = [process.argv[1], 'up', '--foreground', '--home', home];
      if (port !== undefined) args.push('--port', String(port));
      const child = spawn(process.execPath, args, {
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...process.env, PODWALL_HOME: home, PODWALL_DAEMONIZED: '1' },
      });
      closeSync(out);
      let exited: string | undefined;
      child.on('exit', (code, sig) => {
        exited = `podwall daemon exited during start-up (${sig ?? `code ${code}`}); last log lines:\n${tail(p.logFile)}`;
      });
      child.unref();
      try {
        await waitReady(home, { timeoutMs: Number(o.timeout) * 1000, abort: () => exited });
      } catch (e) {
        if (child.pid && isAlive(child.pid)) child.kill('SIGTERM');
        throw new UserError((e as Error).message);
      }
      const state = await runningDaemon(home);
      process.stdout.write(`podwall is running (pid ${state?.pid ?? child.pid}, API ${state?.url ?? ''})\n`);
      process.stdout.write(`export KUBECONFIG=${p.kubeconfig}\n`);
    });
}
