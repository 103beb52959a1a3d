/**
 * `bx-hil broker`: for a person at a bench with a real module. Starts the broker rig, writes the
 * certificates (CA, server, client certificate and key) into --out, prints the address and the AT
 * commands that store them and configure the session, then one line per connection attempt with
 * its verdict (with --json: one JSON object per line) until interrupted. Never prints key
 * material: the key is written to a 0600 file and only its path is printed.
 */
import { closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, HarnessError } from '../errors.ts';
import { checkHostAddress } from '../run/index.ts';
import { oneLine, writeOut } from './console.ts';
import { checkOutputDir, openAppendPrivate, writeFileAtomic } from '../files.ts';
import { CERTS_MARKER } from './certs.ts';
import {
  startBrokerRig,
  type BrokerRig,
  type BrokerRigOptions,
  type ProfileName,
  type Verdict,
} from '../broker/index.ts';
import { createBasicPki, buildScenario, getScenario, buildUploadAt, storeCommand } from '../pki/index.ts';

export interface BrokerCommandOptions {
  scenario?: string;
  /** Default `strict`. */
  profile?: string;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 8883; 0 picks a free port. */
  port?: string | number;
  /** Default `certs/broker`. */
  out?: string;
  keylog?: string;
  json?: boolean;
}

const PROFILES: ProfileName[] = ['strict', 'mosquitto-like', 'aws-iot', 'tls-server-only', 'plain'];

export interface BrokerSession {
  rig: BrokerRig;
  /** Files written, by role. */
  files: Record<string, string>;
  close(): Promise<void>;
}

function writeFile(dir: string, name: string, contents: string, secret: boolean): string {
  const p = join(dir, name);
  writeFileAtomic(p, contents, { mode: secret ? 0o600 : 0o644 }); // a planted symbolic link is replaced, not followed
  return p;
}

/** One verdict as the CLI prints it (`json`: one object per line). */
export function verdictLine(rig: BrokerRig, v: Verdict, json: boolean): string {
  const rec = rig.records.find((r) => r.id === v.connectionId);
  if (json) {
    const h = rec?.clientHello;
    return JSON.stringify({
      connectionId: v.connectionId,
      remote: rec?.remote,
      code: v.code,
      summary: v.summary,
      fix: v.fix,
      side: v.side,
      evidence: v.evidence,
      clientHello: h
        ? {
            version: h.version,
            supportedVersions: h.supportedVersions,
            cipherSuites: h.cipherSuites,
            sni: h.sni ?? null,
            alpn: h.alpn ?? null,
            groups: h.groups ?? null,
            signatureAlgorithms: h.signatureAlgorithms ?? null,
            maxFragmentLength: h.maxFragmentLength ?? null,
            sessionTicket: h.sessionTicket,
          }
        : null,
      tls: rec?.tls
        ? {
            version: rec.tls.version ?? null,
            cipher: rec.tls.cipher ?? null,
            peerCert: rec.tls.peerCert?.subject ?? null,
          }
        : null,
      clientId: rec?.mqtt.connect?.clientId ?? null,
    });
  }
  // The SNI and the summary quote what a TLS client sent: oneLine() escapes control characters,
  // so a rogue client cannot forge a verdict line or drive the terminal.
  const sni = rec?.clientHello
    ? ` [SNI ${oneLine(rec.clientHello.sni ?? 'none')}, ${rec.clientHello.supportedVersions.join('/')}]`
    : '';
  return `${v.connectionId ?? '-'} ${oneLine(rec?.remote ?? '')} ${v.code}${sni}: ${oneLine(v.summary)}\n    what to change: ${oneLine(v.fix)}`;
}

/**
 * Start the rig and write the material; `print` receives every line (the command prints them to
 * stdout). Exported for tests; the command wraps it and waits for SIGINT.
 */
export async function startBrokerSession(
  o: BrokerCommandOptions,
  print: (line: string) => void,
): Promise<BrokerSession> {
  const profile = (o.profile ?? 'strict') as ProfileName;
  if (!PROFILES.includes(profile))
    throw new ConfigError('--profile', o.profile, `unknown profile "${o.profile}": use one of ${PROFILES.join(', ')}`);
  const port = o.port === undefined ? 8883 : Number(o.port);
  if (!/^\d+$/.test(String(o.port ?? 8883)) || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError('--port', o.port, `--port must be 0..65535 (0 = any free port), got "${String(o.port)}"`);
  const host = checkHostAddress(o.host ?? '127.0.0.1', '--host');
  // Known before any key is made or file written (exit 2, not a start failure).
  if (o.scenario !== undefined) {
    try {
      getScenario(o.scenario);
    } catch (cause) {
      if (!(cause instanceof HarnessError)) throw cause;
      throw new ConfigError('--scenario', o.scenario, `--scenario: ${cause.message}`, { cause });
    }
  }
  // Output paths checked at start, before any key is made or port opened.
  // --out first: a key log inside it may need the folder made.
  const out = checkOutputDir(o.out ?? 'certs/broker', '--out', { marker: CERTS_MARKER });
  const keylogPath = o.keylog ? resolve(o.keylog) : undefined;
  if (keylogPath) closeSync(openAppendPrivate(keylogPath, '--keylog')); // created 0600; a wider mode is refused
  const files: Record<string, string> = {};
  const rigOptions: BrokerRigOptions = { host, port, profile };
  if (keylogPath) rigOptions.keylogPath = keylogPath;
  // The name the module dials: the host unless it is a wildcard bind.
  const dialHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host === '127.0.0.1' ? 'localhost' : host;

  let storeLines: string[];
  if (o.scenario) {
    const m = await buildScenario(o.scenario, { hostName: dialHost });
    for (const f of m.files) files[f.name] = writeFile(out, f.name, f.contents, f.secret);
    rigOptions.pki = { ca: m.root, server: m.serverLeaf ?? m.root, extraCa: m.caCerts };
    if (m.serverLeaf) {
      rigOptions.serverCertChainPem = m.serverCert;
      rigOptions.serverKeyPem = m.serverKey;
    }
    rigOptions.clientCaPem = m.clientCa;
    if (m.entry.server.checksClientCrl && m.clientCrl) rigOptions.crlPem = m.clientCrl;
    rigOptions.tls = { ...m.tls, requestCert: m.entry.server.requiresClientCert };
    const b = m.entry.server.behaviour;
    if (b === 'stall-handshake') rigOptions.faults = { stallHandshakeMs: Infinity };
    if (b === 'plain-tcp') rigOptions.profile = 'plain';
    if (b === 'require-sni') rigOptions.aws = { sniMode: 'required' };
    if (b === 'close-after-handshake') rigOptions.faults = { closeAfterPackets: 1 };
    if (b === 'psk' || b === 'max-size-records')
      print(`note: scenario behaviour "${b}" is not emulated by the broker rig yet; it runs as a normal TLS server`);
    print(`scenario ${m.id}: ${m.entry.title} (expected: ${m.entry.expected})`);
    storeLines = [
      `AT+KCERTSTORE=0 ... see ${join(out, 'upload.at')} for the exact byte counts and data (root, device certificate, key)`,
    ];
  } else {
    const pki = await createBasicPki({
      serverNames: [
        ...new Set([dialHost, 'localhost', '127.0.0.1', ...(host !== '0.0.0.0' && host !== '::' ? [host] : [])]),
      ],
    });
    rigOptions.pki = pki;
    files['ca.pem'] = writeFile(out, 'ca.pem', pki.ca.certPem, false);
    files['server.pem'] = writeFile(out, 'server.pem', pki.server.certPem, false);
    files['client.pem'] = writeFile(out, 'client.pem', pki.client.certPem, false);
    files['client.key'] = writeFile(out, 'client.key', pki.client.keyPem, true);
    const items = [
      { kind: 'root' as const, data: pki.ca.certPem },
      { kind: 'client-cert' as const, data: pki.client.certPem },
      { kind: 'key' as const, data: pki.client.keyPem },
    ];
    storeLines = items.map(
      (i) =>
        `${storeCommand(i)}   then send the bytes of ${i.kind === 'root' ? 'ca.pem' : i.kind === 'key' ? 'client.key' : 'client.pem'}, pause, +++`,
    );
    files['upload.at'] = writeFile(
      out,
      'upload.at',
      buildUploadAt({ title: 'bx-hil broker', items, session: { host: dialHost, port, clientId: 'bx-hil-device' } }),
      true,
    );
  }

  const rig = await startBrokerRig(rigOptions).catch((err: unknown) => {
    // The address or port cannot be listened on: bad input (exit 2), named with its fix.
    const code = ((err as { cause?: NodeJS.ErrnoException }).cause ?? {}).code ?? '';
    if (err instanceof HarnessError && ['EADDRINUSE', 'EACCES'].includes(code))
      throw new ConfigError('--port', o.port, err.message, { cause: err });
    if (err instanceof HarnessError && ['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAFNOSUPPORT'].includes(code))
      throw new ConfigError(
        '--host',
        host,
        `--host ${host} is not an address of this machine (${code}); use 127.0.0.1, 0.0.0.0 or one of its own addresses`,
        { cause: err },
      );
    throw err;
  });
  const tlsOn = rig.profile !== 'plain';
  print(`broker rig (${rig.profile}) listening on ${rig.url}${rig.alpnPort ? ` and ALPN port ${rig.alpnPort}` : ''}`);
  print(`certificates written to ${out}: ${Object.keys(files).join(', ')} (keys are mode 0600 and are not printed)`);
  if (rigOptions.keylogPath) print(`TLS key log (secret) appended to ${rigOptions.keylogPath}`);
  print('store them on the module:');
  for (const l of storeLines) print(`  ${l}`);
  print('configure and open the session:');
  print(
    `  AT+KMQTTCFG=1,"${dialHost}",${rig.port},4,"bx-hil-device",60,1${tlsOn ? '' : '   (plain profile: use the non-TLS session type of your firmware)'}`,
  );
  print('  AT+KMQTTCNX=1');
  print('waiting for connections (Ctrl-C to stop)...');
  const off = rig.onVerdict((v) => print(verdictLine(rig, v, o.json ?? false)));
  return {
    rig,
    files,
    close: async () => {
      off();
      await rig.close();
    },
  };
}

export function register(program: Command): void {
  program
    .command('broker')
    .description(
      'Start the TLS/MQTT broker rig for a real module: writes certificates, prints the AT commands, then one verdict per connection attempt',
    )
    .option('--scenario <id>', 'certificate scenario from the catalogue (bx-hil scenarios), e.g. S1')
    .option('--profile <name>', `broker profile: ${PROFILES.join(', ')}`, 'strict')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', '8883')
    .option('--out <dir>', 'where to write the certificates', 'certs/broker')
    .option('--keylog <file>', 'append the TLS key log (NSS format, secret) to this file')
    .option('--json', 'one JSON object per verdict line')
    .action(async (opts: BrokerCommandOptions) => {
      // Handlers first: a signal sent as soon as "waiting for connections" is read stops cleanly.
      const stopped = new Promise<void>((res) => {
        process.once('SIGINT', () => res());
        process.once('SIGTERM', () => res());
      });
      const session = await startBrokerSession(opts, (line) => writeOut(`${line}\n`));
      await stopped;
      await session.close();
      process.exitCode = 130;
    });
}
