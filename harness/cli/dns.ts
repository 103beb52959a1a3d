/**
 * `bx-hil dns`: the lab's DNS responder on a bench (harness/lab/dns.ts), so a real module on the
 * lab's Wi-Fi resolves the broker's (or a cloud endpoint's) name to the rig's address.
 *
 *   bx-hil dns --listen 192.168.4.1:53 --name abc-ats.iot.eu-west-1.amazonaws.com=192.168.4.1 --forward 1.1.1.1
 *
 * Prints ONE line once ready: `bx-hil dns: listening on udp://<ip>:<port> (...)`, then one line
 * per query (the name escaped: the module chose it). Runs until SIGINT (exit 130) or SIGTERM
 * (exit 0). Bad input, a port in use or a port that needs privileges: one line, exit 2.
 */
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { parseDnsAddress, parseDnsName, startDnsResponder, type LabDnsConfig } from '../lab/index.ts';
import { loadLabFile } from '../run/index.ts';
import { oneLine, writeOut } from './console.ts';

interface DnsOptions {
  listen?: string;
  name: string[];
  forward?: string;
  lab?: string;
}

/** Where to listen when neither --listen nor the lab file says: every interface, the DNS port. */
const DEFAULT_LISTEN = '0.0.0.0:53';

export async function runDns(o: DnsOptions): Promise<void> {
  // The lab file's network.dns is the base; flags given on the command line win over it.
  let fromLab: LabDnsConfig | undefined;
  if (o.lab !== undefined) {
    fromLab = (await loadLabFile(o.lab)).network?.dns;
    if (!fromLab)
      throw new ConfigError('--lab', o.lab, `--lab ${o.lab}: the lab file has no network.dns (see docs/lab.md)`);
  }
  const { host, port } =
    o.listen !== undefined
      ? parseDnsAddress(o.listen, '--listen')
      : (fromLab?.listen ?? parseDnsAddress(DEFAULT_LISTEN, '--listen'));
  const names = { ...fromLab?.names, ...Object.fromEntries(o.name.map((n) => parseDnsName(n, '--name'))) };
  const forward =
    o.forward !== undefined
      ? parseDnsAddress(o.forward, '--forward')
      : fromLab?.forward !== undefined
        ? parseDnsAddress(fromLab.forward, 'network.dns.forward')
        : undefined;
  const responder = await startDnsResponder({
    host,
    port,
    names,
    ...(forward ? { forward: `${forward.host}:${forward.port}` } : {}),
    field: '--listen',
  });
  const stopped = new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once('SIGINT', resolveSignal);
    process.once('SIGTERM', resolveSignal);
  });
  const count = Object.keys(names).length;
  const rest = forward ? `others forwarded to ${forward.host}:${forward.port}` : 'others NXDOMAIN';
  writeOut(`bx-hil dns: listening on udp://${responder.address} (${count} name${count === 1 ? '' : 's'}, ${rest})\n`);
  // One line per query, as it is answered; the name comes from the network, so it is escaped.
  responder.onQuery((q) => {
    const said = q.addresses.length ? q.addresses.join(', ') : q.rcode;
    const via = q.by === 'forward' ? ' (forwarded)' : '';
    writeOut(`${new Date().toISOString()} ${oneLine(q.type)} ${oneLine(q.name)} from ${q.from}: ${said}${via}\n`);
  });
  const signal = await stopped;
  await responder.close();
  process.exitCode = signal === 'SIGINT' ? 130 : 0;
}

export function register(program: Command): void {
  program
    .command('dns')
    .description("answer the lab's DNS: the run's host names with the rig's address, the rest NXDOMAIN or forwarded")
    .option(
      '--listen <ip[:port]>',
      `where to answer: the address the modules' DHCP names as DNS server (port 53 needs privileges, see docs/lab.md; default: the lab file's, else ${DEFAULT_LISTEN})`,
    )
    .option(
      '--lab <file>',
      "take listen, names and forward from the lab file's network.dns (flags add to / override it)",
    )
    .option(
      '--name <host=ip>',
      'a name to answer with an A record, repeatable (case-insensitive)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--forward <ip[:port]>', 'relay every other name to this resolver (default: answer NXDOMAIN)')
    .action(async (o: DnsOptions) => runDns(o));
}
