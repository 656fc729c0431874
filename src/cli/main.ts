#!/usr/bin/env node
/**
 * podwall command line: one commander program, one file per command under ./commands.
 * User errors print a clear message and exit non-zero; never a stack trace (set PODWALL_DEBUG=1 for one).
 */
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.js';
import { UserError } from './errors.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('podwall')
    .description('identity-aware network policy for Kubernetes workloads')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  registerCommands(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message (unknown option, missing argument, --help, --version)
      return err.exitCode;
    }
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.PODWALL_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return 70;
  }
}

const code = await main(process.argv.slice(2));
// Let long-running commands (up --foreground, observe -f) keep the loop alive; others exit with their code.
process.exitCode = code;
