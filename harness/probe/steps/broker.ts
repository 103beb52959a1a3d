/**
 * The dialect a broker shows (docs/reference/bx310x-at.md §5, §6): the probe starts two broker
 * rigs (harness/broker) the module can reach, one plain MQTT and one TLS, and reads
 *
 * - from the module: the incoming-message URC (`+KMQTT_DATA: <id>,...` or legacy
 *   `+KMQTTSUB: "<topic>",...`), and whether `+KMQTT_IND: <id>,2` follows a subscribe and
 *   `+KMQTT_IND: <id>,4` a QoS 0 publish. The module subscribes, then publishes at QoS 0 to the
 *   same topic on the same connection: the broker answers SUBACK before it forwards the message
 *   (one TCP stream, in order), and a QoS 0 indication is raised when the packet is sent, so every
 *   indication comes before the message comes back, and the message is the event that ends the
 *   wait (no quiet window);
 * - from the ClientHello the TLS rig records: the highest TLS version offered, the lowest when
 *   the supported_versions extension lists them, the cipher suites (OpenSSL names, in order), and
 *   SNI when the module was given a host name.
 *
 * Then what the module verifies of a server certificate (steps/verify.ts; writes root slot 0,
 * so only with `--allow-writes`).
 */
import { startBrokerRig, type BrokerRig } from '../../broker/index.ts';
import { createBasicPki } from '../../pki/index.ts';
import type { StepContext, Step } from '../context.ts';
import type { Exchange } from '../wire.ts';
import { configure, remove } from './sessions.ts';
import { learnVerification, rootSlot } from './verify.ts';

/** Bound on a connect (`+KMQTT_IND: <id>,1` or `,0`), ms. */
const CONNECT_MS = 20_000; // 20 s: DNS, TCP, a TLS handshake on a slow module
/** Bound on the message coming back, ms. */
const MESSAGE_MS = 10_000; // 10 s

/** Where the module finds the rigs. */
export interface BrokerReach {
  /** The address the rigs bind and the module connects to (127.0.0.1 for the virtual module). */
  address: string;
  /** A host name the module resolves to `address` (a `sim:` resolve or the lab's DNS); gives SNI. */
  name?: string;
}

/** IANA suite name → OpenSSL name, by the naming rules both follow for the suites a BX can offer. */
export function opensslCipherName(iana: string): string | undefined {
  if (/^TLS_(AES|CHACHA20)_/.test(iana)) return iana; // TLS 1.3 suites keep their names
  const m = /^TLS_(?:(ECDHE|DHE)_(RSA|ECDSA)|RSA)_WITH_(.+)$/.exec(iana);
  if (!m) return undefined;
  const kx = m[1] ? `${m[1]}-${m[2]}-` : '';
  const bulk = m[3]!;
  if (bulk === '3DES_EDE_CBC_SHA') return `${m[1] ? `${m[1]}-${m[2]}-` : ''}DES-CBC3-SHA`;
  if (bulk === 'CHACHA20_POLY1305_SHA256') return `${kx}CHACHA20-POLY1305`;
  const b = /^AES_(128|256)_(GCM|CBC|CCM)(?:_(SHA|SHA256|SHA384))?$/.exec(bulk);
  if (!b) return undefined;
  if (b[2] === 'GCM') return `${kx}AES${b[1]}-GCM-${b[3]}`;
  if (b[2] === 'CCM') return `${kx}AES${b[1]}-CCM`;
  return `${kx}AES${b[1]}-${b[3]}`;
}

const VERSION: Record<string, string> = {
  'TLS1.0': 'TLSv1',
  'TLS1.1': 'TLSv1.1',
  'TLS1.2': 'TLSv1.2',
  'TLS1.3': 'TLSv1.3',
};
const RANK = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

async function connected(ctx: StepContext, id: number): Promise<{ ok: boolean; exchange: Exchange } | undefined> {
  const cnx = await ctx.wire.command(`AT+KMQTTCNX=${id}`);
  if (cnx.final !== 'OK') return undefined;
  const ind = await ctx.wire.urc(new RegExp(`^\\+KMQTT_IND: ?${id},[01]$`), CONNECT_MS);
  if (!ind) ctx.notes.push(`AT+KMQTTCNX=${id}: no +KMQTT_IND within ${CONNECT_MS} ms`);
  return ind ? { ok: ind.endsWith(',1'), exchange: cnx.exchange } : undefined;
}

async function urcDialect(ctx: StepContext, rig: BrokerRig, address: string): Promise<void> {
  const { wire } = ctx;
  const s = await configure(ctx, `0,"${address}",${rig.port},${ctx.version},"bxprobe-urc"`);
  if (s.id === undefined) return;
  const id = s.id;
  const c = await connected(ctx, id);
  if (!c?.ok) {
    ctx.notes.push('the module did not connect to the plain MQTT rig: the URC dialect was not probed');
    await remove(ctx, id);
    return;
  }
  wire.urcLines.length = 0;
  const sub = await wire.command(`AT+KMQTTSUB=${id},"bxprobe/urc",0`);
  const pub = await wire.command(`AT+KMQTTPUB=${id},"bxprobe/urc",0,0,"bxprobe"`);
  if (sub.final === 'OK' && pub.final === 'OK') {
    const message = await wire.urc(/^\+KMQTT_DATA: |^\+KMQTTSUB: ?"/, MESSAGE_MS);
    if (message) {
      const seen = [...wire.urcLines];
      const how = `after AT+KMQTTSUB and a QoS 0 AT+KMQTTPUB to the same topic: ${[...seen, message].join(' / ')}`;
      const ex = [sub.exchange, pub.exchange];
      ctx.learn('mqtt.incomingUrc', message.startsWith('+KMQTT_DATA') ? 'kmqtt_data' : 'kmqttsub', ex, how);
      ctx.learn('mqtt.indOnSubscribe', seen.includes(`+KMQTT_IND: ${id},2`), ex, how);
      ctx.learn('mqtt.indOnQos0Publish', seen.includes(`+KMQTT_IND: ${id},4`), ex, how);
    } else ctx.notes.push(`the module's own QoS 0 message did not come back within ${MESSAGE_MS} ms`);
  }
  await wire.command(`AT+KMQTTCLOSE=${id}`);
  await remove(ctx, id);
}

async function clientHello(ctx: StepContext, rig: BrokerRig, reach: BrokerReach): Promise<void> {
  const server = reach.name ?? reach.address;
  const root = await rootSlot(ctx);
  const s = await configure(ctx, `1,"${server}",${rig.port},${ctx.version},"bxprobe-tls"`);
  if (s.id === undefined) return;
  const id = s.id;
  const before = rig.records.length;
  const c = await connected(ctx, id);
  if (c?.ok) await ctx.wire.command(`AT+KMQTTCLOSE=${id}`);
  await remove(ctx, id);
  const hello = rig.records.slice(before).find((r) => r.clientHello)?.clientHello;
  if (!hello || !c) {
    ctx.notes.push('the TLS rig recorded no ClientHello: TLS versions, ciphers and SNI kept from the base');
    return;
  }
  const ex = [s.answer.exchange, c.exchange];
  if (root === 'empty')
    ctx.learn(
      'mqtt.noRootCa',
      c.ok ? 'noverify' : 'fail',
      ex,
      `a secure connect with root slot 0 empty ${c.ok ? 'connects' : 'fails'}`,
    );
  const offered = hello.supportedVersions.map((v) => VERSION[v]).filter((v): v is string => v !== undefined);
  const sorted = offered.sort((a, b) => RANK.indexOf(a) - RANK.indexOf(b));
  const shown = `ClientHello at the rig: versions ${hello.supportedVersions.join(', ')}`;
  if (sorted.length > 0) ctx.learn('tls.maxVersion', sorted.at(-1), ex, shown);
  // Only the supported_versions extension lists every version; legacy_version names the highest.
  if (hello.extensions.includes('supported_versions') && sorted.length > 0)
    ctx.learn('tls.minVersion', sorted[0], ex, shown);
  const names = hello.cipherSuites.filter((n) => !n.endsWith('_SCSV')).map(opensslCipherName);
  if (names.length > 0 && names.every((n) => n !== undefined))
    ctx.learn('tls.ciphers', names.join(':'), ex, `ClientHello at the rig: ${hello.cipherSuites.join(', ')}`);
  else
    ctx.notes.push(
      `a cipher suite without an OpenSSL name: ${hello.cipherSuites.join(', ')}; tls.ciphers kept from the base`,
    );
  if (reach.name)
    ctx.learn('tls.sni', hello.sni === reach.name, ex, `ClientHello SNI: ${hello.sni ?? 'none'} (host ${reach.name})`);
}

export function brokerStep(reach: BrokerReach | undefined): Step {
  return {
    name: 'broker',
    fields: [
      'mqtt.incomingUrc',
      'mqtt.indOnSubscribe',
      'mqtt.indOnQos0Publish',
      'tls.maxVersion',
      'tls.minVersion',
      'tls.ciphers',
      'tls.sni',
      'mqtt.noRootCa',
      'tls.verify.dates',
      'tls.verify.name',
      'tls.verify.chain',
    ],
    async run(ctx) {
      if (!reach) {
        ctx.notes.push(
          'no broker rig (give the address the module reaches this host at): URCs and TLS kept from the base',
        );
        return;
      }
      const pki = await createBasicPki();
      const plain = await startBrokerRig({ host: reach.address, profile: 'plain', pki });
      try {
        await urcDialect(ctx, plain, reach.address);
      } finally {
        await plain.close();
      }
      const tls = await startBrokerRig({
        host: reach.address,
        profile: 'tls-server-only',
        pki,
        tls: { minVersion: 'TLSv1', maxVersion: 'TLSv1.3' },
      });
      try {
        await clientHello(ctx, tls, reach);
      } finally {
        await tls.close();
      }
      await learnVerification(ctx, reach);
    },
  };
}
