/** Every podwall command registers itself here; one import and one line per command. */
import type { Command } from 'commander';
import { registerConformance } from './conformance.js';
import { registerLint } from './lint.js';
import { registerPolicy } from './policy.js';
import { registerValidate } from './validate.js';

type Register = (program: Command) => void;

const COMMANDS: Register[] = [
  registerValidate,
  registerPolicy,
  registerConformance,
  registerLint,
  // (commands are added below, one line each)
];

export function registerCommands(program: Command): void {
  for (const register of COMMANDS) register(program);
}
