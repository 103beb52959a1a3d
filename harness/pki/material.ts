/**
 * `buildScenario(id)`: the certificates, keys, variants and `upload.at` of one catalogue entry,
 * generated at run time (relative to `now`, so nothing expires in CI). Keys come from a
 * KeyPool: each kind once per run, reused across scenarios (key generation is the slow
 * part); a scenario that needs "another key" asks the pool for another label.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.ts';
import {
  KeyPool,
  encodeKey,
  issueCertificate,
  issueCrl,
  pemChain,
  pemLayout,
  type Issued,
  type KeyPair,
  type KeySpec,
} from './factory.ts';
import { AMAZON_ROOT_CA_1_PEM } from './public-roots.ts';
import { getScenario, type ScenarioEntry, type TlsVersion } from './scenarios.ts';
import { buildUploadAt, type UploadItem } from './upload.ts';

/** Options of `buildScenario`: the key pool, the reference time, the host name, the port and client id of upload.at. */
export interface BuildScenarioOptions {
  /** Key pool shared across scenarios of a run. Default: a new pool (every key generated afresh). */
  pool?: KeyPool;
  /** Reference time for every validity period. Default: now. */
  now?: Date;
  /** Host name the module dials and the server certificate names. Default `localhost` (the rig listens on 127.0.0.1). */
  hostName?: string;
  /** Port written into the session example of upload.at. Default 8883 (the rig prints the real one). */
  port?: number;
  /** MQTT client id in the session example. Default `bx-hil-device`. */
  clientId?: string;
}

/** One file of a scenario, as `bx-hil certs` writes it. */
export interface ScenarioFile {
  name: string;
  /** Exact bytes to write (a string is written as UTF-8; PEM is ASCII). */
  contents: string;
  description: string;
  /** Private keys, passphrases, PSKs and anything embedding them: written with mode 0600, never printed. */
  secret: boolean;
}

/** A built scenario: every certificate and key of both sides (the module's exactly as it gets them), the server's TLS settings, the files and upload.at. */
export interface ScenarioMaterial {
  id: string;
  entry: ScenarioEntry;
  /** Host name the server certificate is made for. */
  hostName: string;
  /** What the module's session dials: `hostName`, or 127.0.0.1 when the entry says `connectTo: 'ip'`. */
  connectHost: string;
  /** Every CA certificate made for this scenario (roots first). */
  caCerts: Issued[];
  /** The scenario root: trust anchor of the valid server chain and of device certificates. */
  root: Issued;
  /** The server leaf (undefined when the server presents no certificate). */
  serverLeaf?: Issued;
  /** PEM chain exactly as the server should present it (leaf first); empty when it presents none. */
  serverCert: string;
  /** Server private key, PKCS#8 PEM. Secret. Empty when the server presents no certificate. */
  serverKey: string;
  /** PEM of the CA(s) the server trusts for device certificates (Node `tls` `ca`). */
  clientCa: string;
  /** CRL revoking the server leaf (S13), for a module or verifier that checks revocation. */
  serverCrl?: string;
  /** CRL revoking the device certificate (S21c); load it into the server's `crl` option when `entry.server.checksClientCrl`. */
  clientCrl?: string;
  /** The device certificate as issued (undefined when the module gets none or a malformed one). */
  clientLeaf?: Issued;
  /** Device certificate PEM exactly as the module gets it (line-ending layout applied); undefined when none. */
  clientCert?: string;
  /** Device key exactly as the module gets it (encoding and layout applied). Secret. */
  clientKey?: string;
  /** Passphrase of an encrypted device key (D6). Secret. */
  clientKeyPassphrase?: string;
  /** What the module should store as root (`AT+KCERTSTORE=0`), exactly as it gets it. */
  rootForDevice: string;
  /** The module's clock when the scenario sets one (D5). */
  deviceClock?: Date;
  /** TLS-PSK identity and key (hex) for the `psk` behaviour. Secret. */
  psk?: { identity: string; keyHex: string };
  /** Node `tls` options of the front door, copied from the entry. */
  tls: { minVersion?: TlsVersion; maxVersion?: TlsVersion; ciphers?: string };
  files: ScenarioFile[];
  /** Contents of upload.at: the AT sequence that stores the module's files. Secret when it includes a key. */
  upload: string;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const RSA2048: KeySpec = { type: 'rsa', bits: 2048 };
const WRONG_HOST = 'wrong.bx-hil.invalid';
const sharedCas = new WeakMap<KeyPool, Map<string, Promise<{ root: Issued; intermediate: Issued }>>>();

/** Key-pool label for a leaf key: RSA-2048 keys are per role, other kinds are rarer and shared. */
function leafLabel(spec: KeySpec, role: 'server' | 'client'): string {
  return spec.type === 'rsa' && spec.bits === 2048 ? role : `${role}-${spec.type === 'rsa' ? spec.bits : spec.curve}`;
}

function keyFor(pool: KeyPool, spec: KeySpec, role: 'server' | 'client'): Promise<KeyPair> {
  // RSA-4096 and RSA-1024 keys are slow or rare: one of each per run serves every role.
  if (spec.type === 'rsa' && spec.bits !== 2048) return pool.get(spec, 'shared');
  return pool.get(spec, leafLabel(spec, role));
}

/** Break a PEM certificate's DER by dropping body lines (S22): still PEM-shaped, no longer parseable. */
function truncatePem(pem: string): string {
  const lines = pem.trimEnd().split('\n');
  const body = lines.slice(1, -1);
  const kept = body.slice(0, Math.max(1, Math.floor(body.length / 2)));
  return [lines[0], ...kept, lines[lines.length - 1], ''].join('\n');
}

const DNS_NAME =
  /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Validate the options at the edge (docs/STYLE.md §6); throws ConfigError (BXHIL_CONFIG) naming the field. */
export function parseBuildScenarioOptions(options: BuildScenarioOptions): {
  hostName: string;
  port: number;
  clientId: string;
} {
  const hostName = options.hostName ?? 'localhost';
  if (!DNS_NAME.test(hostName) && !isIP(hostName)) {
    throw new ConfigError(
      'hostName',
      hostName,
      `host name "${hostName}" is neither a DNS name nor an IP address; use e.g. localhost or 127.0.0.1`,
    );
  }
  const port = options.port ?? 8883;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ConfigError('port', port, `port ${port} is not a TCP port (1..65535)`);
  const clientId = options.clientId ?? 'bx-hil-device';
  if (!/^[\x21\x23-\x2b\x2d-\x7e]{1,64}$/.test(clientId)) {
    throw new ConfigError(
      'clientId',
      clientId,
      `client id "${clientId}" must be 1-64 printable ASCII characters without quotes, commas or spaces (it goes into AT+KMQTTCFG)`,
    );
  }
  return { hostName, port, clientId };
}

/** Build the certificates, keys, files and upload.at of one scenario. */
export async function buildScenario(id: string, options: BuildScenarioOptions = {}): Promise<ScenarioMaterial> {
  const entry = getScenario(id);
  const { hostName, port, clientId } = parseBuildScenarioOptions(options);
  const pool = options.pool ?? new KeyPool();
  const now = options.now ?? new Date();
  const serverNames = [...new Set([hostName, 'localhost', '127.0.0.1'])];
  const past = { notBefore: new Date(now.getTime() - 60 * DAY_MS), notAfter: new Date(now.getTime() - 30 * DAY_MS) };
  const future = { notBefore: new Date(now.getTime() + 30 * DAY_MS), notAfter: new Date(now.getTime() + 60 * DAY_MS) };

  // 90 days: long enough that doctor does not warn "expires soon" about fresh material.
  const issue: typeof issueCertificate = (o) =>
    issueCertificate({ notAfter: new Date(now.getTime() + 90 * DAY_MS), ...o });
  const caFiles: Array<{ name: string; issued: Issued; description: string }> = [];
  const ca = async (
    name: string,
    description: string,
    subject: string,
    keyLabel: string,
    issuer?: Issued,
    pathLength?: number,
  ) => {
    const issued = await issue({
      subject,
      key: await pool.get(RSA2048, keyLabel),
      issuer,
      isCa: true,
      pathLength,
      now,
    });
    caFiles.push({ name, issued, description });
    return issued;
  };

  // The root and intermediate are the same for every scenario built from one pool (and `now`):
  // issuing them once per run is part of keeping the catalogue fast.
  let perPool = sharedCas.get(pool);
  if (!perPool) sharedCas.set(pool, (perPool = new Map()));
  const casKey = options.now ? String(options.now.getTime()) : 'now';
  let cas = perPool.get(casKey);
  if (!cas) {
    cas = (async () => {
      const r = await issue({
        subject: 'CN=bx-hil Root CA,O=bx-hil',
        key: await pool.get(RSA2048, 'root'),
        isCa: true,
        now,
      });
      const i = await issue({
        subject: 'CN=bx-hil Intermediate CA,O=bx-hil',
        key: await pool.get(RSA2048, 'intermediate'),
        issuer: r,
        isCa: true,
        pathLength: 1,
        now,
      });
      return { root: r, intermediate: i };
    })();
    perPool.set(casKey, cas);
  }
  const { root, intermediate } = await cas;
  caFiles.push(
    {
      name: 'root-ca.crt',
      issued: root,
      description: 'Scenario root CA: trust anchor of the valid server chain and issuer of the device certificate.',
    },
    {
      name: 'intermediate-ca.crt',
      issued: intermediate,
      description: 'Intermediate CA under the root; signs the server certificate.',
    },
  );

  // ---- server side
  let serverLeaf: Issued | undefined;
  let serverChain: Issued[] = [];
  let serverCrl: string | undefined;
  const p = entry.server.presents;
  if (p) {
    const key = await keyFor(pool, p.key, 'server');
    const base = { key, now, hash: p.hash, extendedKeyUsage: ['serverAuth' as const] };
    // S12: root → intermediate → intermediate 2 → leaf, sent out of order.
    const second =
      p.chain === 'out-of-order'
        ? await ca(
            'intermediate-2-ca.crt',
            'Second intermediate (root → intermediate → intermediate 2 → server) (S12).',
            'CN=bx-hil Intermediate CA 2,O=bx-hil',
            'other',
            intermediate,
            0,
          )
        : undefined;
    const valid = { ...base, subject: `CN=${hostName}`, altNames: serverNames, issuer: second ?? intermediate };
    let chainAfterLeaf: Issued[] = [intermediate];
    switch (p.cert) {
      case 'valid':
      case 'revoked':
        serverLeaf = await issue(valid);
        break;
      case 'expired':
        serverLeaf = await issue({ ...valid, ...past });
        break;
      case 'not-yet-valid':
        serverLeaf = await issue({ ...valid, ...future });
        break;
      case 'wrong-host':
        serverLeaf = await issue({ ...valid, subject: `CN=${WRONG_HOST}`, altNames: [WRONG_HOST] });
        break;
      case 'san-only':
        serverLeaf = await issue({ ...valid, subject: 'O=bx-hil,OU=SAN-only server' });
        break;
      case 'cn-only':
        serverLeaf = await issue({ ...valid, altNames: undefined });
        break;
      case 'ip-san-only':
        // CN is the IP too: OpenSSL and mbedTLS fall back to the CN when there is no DNS SAN.
        serverLeaf = await issue({ ...valid, subject: 'CN=127.0.0.1', altNames: ['127.0.0.1'] });
        break;
      case 'self-signed':
        serverLeaf = await issue({ ...valid, issuer: undefined });
        chainAfterLeaf = [];
        break;
      case 'untrusted-root': {
        const other = await ca(
          'other-root-ca.crt',
          'Another root CA the module is NOT given (S9).',
          'CN=bx-hil Other Root CA,O=bx-hil',
          'other',
        );
        const otherInt = await ca(
          'other-intermediate-ca.crt',
          'Intermediate under the other root; signs the server certificate (S9).',
          'CN=bx-hil Other Intermediate CA,O=bx-hil',
          'intermediate',
          other,
          0,
        );
        serverLeaf = await issue({ ...valid, issuer: otherInt });
        chainAfterLeaf = [otherInt];
        break;
      }
      case 'fake-root': {
        // Same DN as the real root, different key (Mosquitto test-fake-root-ca).
        const fake = await ca(
          'fake-root-ca.crt',
          'Fake root: the SAME subject as root-ca.crt but another key; signs the server certificate (S10).',
          'CN=bx-hil Root CA,O=bx-hil',
          'other',
        );
        serverLeaf = await issue({ ...valid, issuer: fake });
        chainAfterLeaf = [];
        break;
      }
      case 'large-sans': {
        const many = Array.from({ length: 1000 }, (_, i) => `san-${i}.bx-hil.invalid`);
        serverLeaf = await issue({ ...valid, altNames: [...serverNames, ...many] });
        break;
      }
    }
    switch (p.chain) {
      case 'intermediate':
        serverChain = [serverLeaf, ...chainAfterLeaf];
        break;
      case 'leaf-only':
        serverChain = [serverLeaf];
        break;
      case 'wrong-intermediate': {
        const alt = await ca(
          'alternate-intermediate-ca.crt',
          'Alternate intermediate of the same root; it did NOT sign the server certificate (S11).',
          'CN=bx-hil Alternate Intermediate CA,O=bx-hil',
          'other',
          root,
          0,
        );
        serverChain = [serverLeaf, alt];
        break;
      }
      case 'out-of-order':
        serverChain = [serverLeaf, intermediate, second!];
        break;
    }
    if (p.cert === 'revoked') serverCrl = (await issueCrl({ issuer: intermediate, revoked: [serverLeaf], now })).pem;
  }

  // ---- device side
  const d = entry.device;
  const layout = (pem: string) => pemLayout(pem, d.lineEndings);
  let clientLeaf: Issued | undefined;
  let clientCert: string | undefined;
  let clientKey: string | undefined;
  let clientKeyPassphrase: string | undefined;
  let clientCrl: string | undefined;
  if (d.clientCert !== 'none') {
    const key = await keyFor(pool, d.clientKey, 'client');
    const base = { subject: `CN=${clientId}`, key, issuer: root, now, extendedKeyUsage: ['clientAuth' as const] };
    switch (d.clientCert) {
      case 'valid':
      case 'revoked':
      case 'malformed':
        clientLeaf = await issue(base);
        break;
      case 'expired':
        clientLeaf = await issue({ ...base, ...past });
        break;
      case 'other-ca': {
        const otherCa = await ca(
          'other-device-ca.crt',
          'A device CA the server does NOT trust; signs the device certificate (S21).',
          'CN=bx-hil Other Device CA,O=bx-hil',
          'other',
        );
        clientLeaf = await issue({ ...base, issuer: otherCa });
        break;
      }
    }
    if (d.clientCert === 'revoked') clientCrl = (await issueCrl({ issuer: root, revoked: [clientLeaf], now })).pem;
    clientCert = layout(d.clientCert === 'malformed' ? truncatePem(clientLeaf.certPem) : clientLeaf.certPem);
    if (d.clientCert === 'malformed') clientLeaf = undefined;
    if (d.key !== 'none') {
      const deviceKey = d.key === 'matching' ? key : await pool.get(d.clientKey, 'other');
      if (d.keyEncoding === 'pkcs8-encrypted') clientKeyPassphrase = randomBytes(12).toString('hex');
      clientKey = layout(encodeKey(deviceKey, d.keyEncoding, clientKeyPassphrase));
    }
  }

  let rootForDevice: string;
  switch (d.root) {
    case 'scenario-root':
      rootForDevice = layout(root.certPem);
      break;
    case 'amazon-root-ca-1':
      rootForDevice = layout(AMAZON_ROOT_CA_1_PEM);
      break;
    case 'ca-bundle': {
      // Root plus every intermediate and a spare root: a "CA bundle" users paste into one slot.
      const spare = await ca(
        'spare-root-ca.crt',
        'A spare root CA, part of the oversized bundle (D3).',
        'CN=bx-hil Spare Root CA,O=bx-hil',
        'other',
      );
      rootForDevice = layout(pemChain([root, intermediate, spare]));
      break;
    }
  }

  const psk =
    entry.server.behaviour === 'psk' ? { identity: clientId, keyHex: randomBytes(16).toString('hex') } : undefined;
  const deviceClock = d.clock ? new Date(d.clock) : undefined;
  const connectHost = d.connectTo === 'ip' ? '127.0.0.1' : hostName;

  const uploadItems: UploadItem[] = [{ kind: 'root', data: rootForDevice }];
  if (clientCert !== undefined) uploadItems.push({ kind: 'client-cert', data: clientCert, index: 0 });
  if (clientKey !== undefined) uploadItems.push({ kind: 'key', data: clientKey, index: 0 });
  const upload = buildUploadAt({
    title: `scenario ${entry.id}: ${entry.title}`,
    items: uploadItems,
    session: { host: connectHost, port, clientId },
  });

  const files: ScenarioFile[] = [];
  const add = (name: string, contents: string, description: string, secret = false) =>
    files.push({ name, contents, description, secret });
  for (const c of caFiles) add(c.name, c.issued.certPem, c.description);
  if (serverLeaf) {
    add(
      'server.crt',
      pemChain(serverChain),
      `Server certificate chain as the server presents it (${serverChain.length} certificate(s), leaf first).`,
    );
    add('server.key', serverLeaf.keyPem, 'Server private key (PKCS#8).', true);
  }
  add('client-ca.crt', root.certPem, 'CA the server trusts for device certificates (the root).');
  if (serverCrl)
    add('server.crl', serverCrl, 'CRL of the intermediate CA listing the server certificate as revoked (S13).');
  if (clientCrl)
    add(
      'client.crl',
      clientCrl,
      'CRL of the root listing the device certificate as revoked; the server loads it (S21c).',
    );
  add('device-root.crt', rootForDevice, 'What the module stores as root (AT+KCERTSTORE=0), byte for byte.');
  if (clientCert !== undefined)
    add('device.crt', clientCert, 'Device certificate as the module gets it (AT+KCERTSTORE=1,..,0), byte for byte.');
  if (clientKey !== undefined)
    add(
      'device.key',
      clientKey,
      `Device private key (${d.keyEncoding}) as the module gets it (AT+KPRIVKSTORE=0), byte for byte.`,
      true,
    );
  if (clientKeyPassphrase)
    add('device.key.passphrase', `${clientKeyPassphrase}\n`, 'Passphrase of the encrypted device key.', true);
  if (psk)
    add(
      'psk.txt',
      `identity=${psk.identity}\nkey=${psk.keyHex}\n`,
      'TLS-PSK identity and key (hex) of the server.',
      true,
    );
  add(
    'upload.at',
    upload,
    'The AT sequence that stores the root, device certificate and key in the module, with exact byte counts, and a session example.',
    clientKey !== undefined,
  );
  add(
    'scenario.json',
    `${JSON.stringify(entry, null, 2)}\n`,
    'The catalogue entry: what the server does, what the module gets, the expected outcome and why.',
  );
  add('README.md', readme(entry, files, { hostName, connectHost, deviceClock }), 'This file.');

  return {
    id: entry.id,
    entry,
    hostName,
    connectHost,
    caCerts: caFiles.map((c) => c.issued),
    root,
    serverLeaf,
    serverCert: serverLeaf ? pemChain(serverChain) : '',
    serverKey: serverLeaf?.keyPem ?? '',
    clientCa: root.certPem,
    serverCrl,
    clientCrl,
    clientLeaf,
    clientCert,
    clientKey,
    clientKeyPassphrase,
    rootForDevice,
    deviceClock,
    psk,
    tls: { ...entry.server.tls },
    files,
    upload,
  };
}

function readme(
  entry: ScenarioEntry,
  files: ScenarioFile[],
  ctx: { hostName: string; connectHost: string; deviceClock?: Date },
): string {
  const lines = [
    `# bx-hil scenario ${entry.id}: ${entry.title}`,
    '',
    `Expected outcome (the secure one): **${entry.expected}**. ${entry.reason}`,
    '',
    `Category: ${entry.category}. Anchors: ${entry.anchors.join('; ')}.`,
    '',
    `The server certificate is made for \`${ctx.hostName}\`; the module dials \`${ctx.connectHost}\`.` +
      (ctx.deviceClock ? ` The module clock is set to ${ctx.deviceClock.toISOString()}.` : ''),
    `Server: presents ${entry.server.presents ? `${entry.server.presents.cert} certificate, chain "${entry.server.presents.chain}"` : 'no certificate'}; ` +
      `${entry.server.requiresClientCert ? 'requires' : 'does not require'} a client certificate; behaviour ${entry.server.behaviour}` +
      (Object.keys(entry.server.tls).length ? `; tls ${JSON.stringify(entry.server.tls)}` : '') +
      '.',
    '',
    'Generated material for manual use: certificates are valid relative to the time they were generated. Files marked secret are written with mode 0600; never paste them into logs or tickets.',
    '',
    '| File | What it is | Secret |',
    '|---|---|---|',
    ...files.map((f) => `| \`${f.name}\` | ${f.description} | ${f.secret ? 'yes' : ''} |`),
    '| `README.md` | This file. | |',
    '',
    'Check the files before uploading: `bx-hil doctor device-root.crt device.crt device.key --at upload.at --host ' +
      ctx.connectHost +
      '`.',
    '',
  ];
  return lines.join('\n');
}
