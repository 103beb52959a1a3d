/**
 * `bx-hil sim`: serve the virtual module on a TCP port like ser2net (raw), or on a
 * pseudo-terminal through socat, so a person can point their own terminal or tool at it.
 *
 *   bx-hil sim --profile 2.6.3 --listen tcp://127.0.0.1:0 --resolve host=127.0.0.1:8883
 *
 * Prints ONE line once ready: `bx-hil sim: listening on tcp://127.0.0.1:40123 (profile 2.6.3)`
 * (with `--pty`: `... and <path> ...`). Runs until SIGINT/SIGTERM. A bad profile is refused with
 * the field named (exit 2).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { checkOutputFile } from '../files.ts';
import { parseDnsAddress } from '../lab/index.ts';
import { checkTimingText, serveModule, type SimServer } from '../sim/index.ts';
import { createSimModule, parseClockSetting, parseResolveArg } from '../targets.ts';

interface SimOptions {
  profile: string;
  listen: string;
  resolve: string[];
  pty?: string;
  clock?: string;
  store?: string;
  echo?: string;
  dns?: string;
  timing?: string;
}

const PTY_WAIT_MS = 15_000; // 15 s for socat to create the pty and connect (a busy CI machine)

export function parseListen(text: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      '--listen',
      text,
      `--listen must be tcp://<ip>:<port>, e.g. tcp://127.0.0.1:0, not "${text}"`,
    );
  }
  const port = url.port === '' ? NaN : Number(url.port);
  if (
    url.protocol !== 'tcp:' ||
    !url.hostname ||
    !(port >= 0 && port <= 65_535) ||
    (url.pathname && url.pathname !== '/')
  ) {
    throw new ConfigError(
      '--listen',
      text,
      `--listen must be tcp://<ip>:<port> (port 0 picks a free one), not "${text}"`,
    );
  }
  if (url.port === '0' || text.endsWith(':0')) return { host: url.hostname.replace(/^\[|\]$/g, ''), port: 0 };
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

async function startSocat(path: string, server: SimServer): Promise<ChildProcess> {
  const port = server.port;
  if (spawnSync('socat', ['-V'], { stdio: 'ignore' }).error) {
    throw new ConfigError(
      '--pty',
      path,
      '--pty needs socat on PATH: install it (apt-get install socat) or use --listen alone',
    );
  }
  const child = spawn('socat', [`pty,raw,echo=0,link=${path}`, `tcp:127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + PTY_WAIT_MS;
  // Ready when the pty exists AND socat holds the TCP client slot: a client that came first
  // would take the slot and socat would get the busy line.
  while (!existsSync(path) || !server.hasClient) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new ConfigError('--pty', path, `socat could not create the pty ${path}: ${stderr.trim() || 'timed out'}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

export async function runSim(o: SimOptions): Promise<void> {
  const { host, port } = parseListen(o.listen);
  // Output paths at start: the store is rewritten on every upload; socat replaces the pty path
  // and removes it at exit, so an existing file there is refused rather than lost.
  if (o.store !== undefined) checkOutputFile(o.store, '--store');
  if (o.pty !== undefined) checkOutputFile(o.pty, '--pty', { ifExists: 'refuse' });
  const resolve = Object.fromEntries(o.resolve.map((r) => parseResolveArg(r, '--resolve')));
  if (o.echo !== undefined && o.echo !== '0' && o.echo !== '1')
    throw new ConfigError('--echo', o.echo, `--echo must be 0 or 1, not "${o.echo}"`);
  const dns = o.dns === undefined ? undefined : parseDnsAddress(o.dns, '--dns');
  if (o.timing !== undefined) checkTimingText(o.timing, '--timing');
  // A malformed --store file is bad input (exit 2), like a bad --profile.
  const module = createSimModule(
    {
      profile: o.profile,
      resolve,
      clock: o.clock ? parseClockSetting(o.clock, '--clock') : undefined,
      storePath: o.store,
      // Run by a person: names without an override are looked up in DNS (tests always map).
      allowExternalDns: true,
      ...(dns ? { dns: `${dns.host}:${dns.port}` } : {}),
      ...(o.timing === undefined ? {} : { timing: o.timing }),
    },
    '--store',
    '--timing',
  );
  if (o.echo !== undefined) module.echo = o.echo === '1';
  const server = await serveModule(module, { host, port }).catch(async (cause: Error) => {
    await module.close();
    throw new ConfigError('--listen', o.listen, `cannot listen on ${o.listen}: ${cause.message}`, { cause });
  });
  let socat: ChildProcess | undefined;
  const killSocat = () => {
    if (socat && socat.exitCode === null) socat.kill();
  };
  process.on('exit', killSocat);
  try {
    if (o.pty) socat = await startSocat(o.pty, server);
  } catch (err) {
    await server.close();
    await module.close();
    throw err;
  }
  const where = o.pty ? `${server.url} and ${o.pty}` : server.url;
  // The handlers are in place before the ready line: a script that signals as soon as it reads
  // the line gets a clean stop, not a kill by the default handler.
  const stopped = new Promise<NodeJS.Signals>((resolveSignal) => {
    const done = (s: NodeJS.Signals) => resolveSignal(s);
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    socat?.once('exit', () => resolveSignal('SIGTERM'));
  });
  const timing = module.timing.name === 'instant' ? '' : `, timing ${module.timing.name}`;
  process.stdout.write(`bx-hil sim: listening on ${where} (profile ${module.profile.name}${timing})\n`);
  const signal = await stopped;
  killSocat();
  await server.close();
  await module.close();
  process.off('exit', killSocat);
  process.exitCode = signal === 'SIGINT' ? 130 : 0;
}

export function register(program: Command): void {
  program
    .command('sim')
    .description('serve the virtual BX310x module on a TCP port (like ser2net) or a pseudo-terminal (through socat)')
    .option('--profile <name|path>', 'firmware profile: 2.6.3, legacy, reference, or a JSON profile file', '2.6.3')
    .option('--listen <url>', 'where to listen: tcp://<ip>:<port> (port 0 picks a free one)', 'tcp://127.0.0.1:0')
    .option(
      '--resolve <host=ip[:port]>',
      'host override, repeatable: the module connects there but still uses <host> for SNI and the name check',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--pty <path>',
      'also expose the module as a pseudo-terminal at <path> (needs socat; it becomes the one TCP client)',
    )
    .option('--clock <host|1970|iso>', 'module clock: host time, counting from 1970 at boot, or from an ISO date')
    .option('--store <file>', 'keep certificates and keys in this JSON file across runs, as flash would (mode 0600)')
    .option('--echo <0|1>', 'echo after start (default: the profile, on)')
    .option(
      '--dns <ip[:port]>',
      'DNS server the module resolves names through (as DHCP would give it), e.g. the one `bx-hil dns` runs',
    )
    .option(
      '--timing <instant|realistic|file.json>',
      "how fast the module is: instant (default), realistic (the profile's timing: 115200 baud, boot, flash, TLS, MQTT, Wi-Fi latencies) or a JSON timing block over it",
    )
    .action(async (o: SimOptions) => runSim(o));
}
