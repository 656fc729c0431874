/** Every podwall command registers itself here; one import and one line per command. */
import type { Command } from 'commander';

type Register = (program: Command) => void;

const COMMANDS: Register[] = [
  // (commands are added below, one line each)
];

export function registerCommands(program: Command): void {
  for (const register of COMMANDS) register(program);
}
