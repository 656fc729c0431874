/** Every podwall command registers itself here; one import and one line per command. */
import type { Command } from 'commander';
import { registerConformance } from './conformance.js';
import { registerDemo } from './demo.js';
import { registerDown } from './down.js';
import { registerLint } from './lint.js';
import { registerObserve } from './observe.js';
import { registerPolicy } from './policy.js';
import { registerStatus } from './status.js';
import { registerUp } from './up.js';
import { registerValidate } from './validate.js';

type Register = (program: Command) => void;

const COMMANDS: Register[] = [
  registerValidate,
  registerPolicy,
  registerConformance,
  registerLint,
  registerUp,
  registerDown,
  registerStatus,
  // (commands are added below, one line each)
  registerObserve,
  registerDemo,
];

export function registerCommands(program: Command): void {
  for (const register of COMMANDS) register(program);
}
