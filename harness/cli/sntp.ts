/**
 * `bx-hil sntp`: the lab's SNTP responder on a bench (harness/lab/sntp.ts) [guess: no source
 * says the BX sets its clock from SNTP; first contact settles it]. Serves the time a scenario
 * wants: `1970` for "not yet valid", a date past the broker's certificate for "expired".
 *
 *   bx-hil sntp --listen 192.168.4.1:123 --time 1970
 *
 * Prints ONE line once ready, then one line per request. SIGINT: exit 130; SIGTERM: 0; bad
 * input, a port in use or one that needs privileges: one line, exit 2.
 */
import type { Command } from 'commander';
import { parseDnsAddress, startSntpResponder } from '../lab/index.ts';
import { parseClockSetting } from '../targets.ts';
import { writeOut } from './console.ts';

interface SntpOptions {
  listen: string;
  time: string;
}

export async function runSntp(o: SntpOptions): Promise<void> {
  const { host, port } = parseDnsAddress(o.listen, '--listen', 123);
  const setting = parseClockSetting(o.time, '--time');
  const responder = await startSntpResponder({
    host,
    port,
    time: setting === 'host' ? 'host' : setting === '1970' ? new Date(0) : setting,
    field: '--listen',
    timeField: '--time',
  });
  const stopped = new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGINT', resolveSignal);
    process.once('SIGTERM', resolveSignal);
  });
  writeOut(`bx-hil sntp: listening on udp://${responder.address} (serving ${responder.now().toISOString()})\n`);
  responder.onQuery((q) => writeOut(`${new Date().toISOString()} SNTP from ${q.from}: served ${q.served}\n`));
  const signal = await stopped;
  await responder.close();
  process.exitCode = signal === 'SIGINT' ? 130 : 0;
}

export function register(program: Command): void {
  program
    .command('sntp')
    .description('[guess] serve modules a chosen time over SNTP (1970 for "not yet valid", a late date for "expired")')
    .option(
      '--listen <ip[:port]>',
      'where to answer (DHCP option 42 carries no port: modules ask port 123)',
      '0.0.0.0:123',
    )
    .option(
      '--time <host|1970|iso>',
      'the time served: the host clock, 1970, or an ISO date that then counts on',
      'host',
    )
    .action(async (o: SntpOptions) => runSntp(o));
}
