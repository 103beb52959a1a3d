/**
 * The list of `bx-hil` commands. One line per command file; each exports `register(program)`.
 */
import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

export const commandModules: CommandModule[] = [];
