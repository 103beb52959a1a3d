/**
 * `bx-hil scenarios [--json] [--category <name>]`: the certificate scenario catalogue
 * (harness/pki/scenarios.ts). `--json` prints the entries as a JSON array.
 */
import type { Command } from 'commander';
import { scenarios, type ScenarioEntry } from '../pki/index.ts';
import { processIo, type CliIo } from './doctor.ts';

const CATEGORIES = ['server-cert', 'client-auth', 'tls-params', 'device-input', 'transport'];

export function register(program: Command, io: CliIo = processIo): void {
  program
    .command('scenarios')
    .description('List the certificate/TLS scenarios (id, expected outcome, title)')
    .option('--json', 'print the catalogue entries as a JSON array')
    .option('--category <name>', `only one category: ${CATEGORIES.join(', ')}`)
    .action((flags: { json?: boolean; category?: string }) => {
      if (flags.category !== undefined && !CATEGORIES.includes(flags.category)) {
        io.err(`bx-hil scenarios: unknown --category "${flags.category}"; use one of ${CATEGORIES.join(', ')}\n`);
        io.exit(2);
        return;
      }
      const list = scenarios.filter((s) => !flags.category || s.category === flags.category);
      io.out(flags.json ? `${JSON.stringify(list, null, 2)}\n` : formatScenarios(list));
      io.exit(0);
    });
}

export function formatScenarios(list: readonly ScenarioEntry[]): string {
  const rows = list.map((s) => [s.id, s.expected, s.category, s.title]);
  const widths = [0, 1, 2].map((i) =>
    Math.max(...rows.map((r) => r[i]!.length), ['ID', 'EXPECTED', 'CATEGORY'][i]!.length),
  );
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ');
  return [
    line(['ID', 'EXPECTED', 'CATEGORY', 'TITLE']),
    ...rows.map(line),
    '',
    `${list.length} scenario(s). Files for one: bx-hil certs --scenario <id> --out certs/<id>`,
    '',
  ].join('\n');
}
