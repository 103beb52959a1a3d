/**
 * The list of `bx-hil` commands. One line per command file; each exports `register(program)`.
 */
import type { Command } from 'commander';
import * as broker from './broker.ts';
import * as certs from './certs.ts';
import * as compare from './compare.ts';
import * as doctor from './doctor.ts';
import * as preflight from './preflight.ts';
import * as run from './run.ts';
import * as scenarios from './scenarios.ts';
import * as sim from './sim.ts';

export interface CommandModule {
  register(program: Command): void;
}

export const commandModules: CommandModule[] = [
  compare,
  run,
  preflight,
  sim,
  scenarios,
  certs,
  doctor,
  broker,
];
