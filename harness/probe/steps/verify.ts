/**
 * What the module checks of a server certificate (docs/reference/bx310x-at.md §5), against TLS
 * rigs the probe starts with certificates it makes for the occasion (harness/pki):
 *
 * - `mqtt.noRootCa`: a secure connect while root slot 0 is empty (read-only: known from
 *   `AT+KCERTSTORE?`) fails (`fail`) or connects without checking (`noverify`);
 * - with `--allow-writes`, the probe's own CA goes into root slot 0 (only when the slot is empty,
 *   or named with `--slots root:0`), then four connects: a good server certificate (must connect,
 *   else nothing is decided: e.g. the module clock is not set), an expired one
 *   (`tls.verify.dates`), one for another name (`tls.verify.name`), one from a CA the module does
 *   not trust (`tls.verify.chain`). Root slot 0 is deleted at the end (`AT+KCERTDELETE=0`).
 */
import { startBrokerRig } from '../../broker/index.ts';
import { createBasicPki, issueCertificate, KeyPool, type Issued } from '../../pki/index.ts';
import { uploadGuardMs, type StepContext } from '../context.ts';
import type { Exchange } from '../wire.ts';
import { configure, remove } from './sessions.ts';
import type { BrokerReach } from './broker.ts';

const CONNECT_MS = 20_000; // 20 s, as the broker step
const DAY_MS = 86_400_000;

/** One secure connect to a rig presenting `server`: connected (true), refused (false), undecided. */
async function connectsTo(
  ctx: StepContext,
  reach: BrokerReach,
  pki: { ca: Issued; server: Issued },
  server: Issued,
  used: Exchange[],
): Promise<boolean | undefined> {
  const rig = await startBrokerRig({
    host: reach.address,
    profile: 'tls-server-only',
    pki: { ca: pki.ca, server: pki.server },
    serverCertChainPem: server.certPem,
    serverKeyPem: server.keyPem,
    tls: { minVersion: 'TLSv1', maxVersion: 'TLSv1.3' },
  });
  try {
    const s = await configure(ctx, `1,"${reach.name ?? reach.address}",${rig.port},${ctx.version},"bxprobe-verify"`);
    if (s.id === undefined) return undefined;
    const cnx = await ctx.wire.command(`AT+KMQTTCNX=${s.id}`);
    used.push(s.answer.exchange, cnx.exchange);
    let result: boolean | undefined;
    if (cnx.final === 'OK') {
      const ind = await ctx.wire.urc(new RegExp(`^\\+KMQTT_IND: ?${s.id},[01]$`), CONNECT_MS);
      result = ind === undefined ? undefined : ind.endsWith(',1');
      if (result) await ctx.wire.command(`AT+KMQTTCLOSE=${s.id}`);
    }
    await remove(ctx, s.id);
    return result;
  } finally {
    await rig.close();
  }
}

/** Root slot 0 per `AT+KCERTSTORE?`: held, empty, or unknown (no list). */
export async function rootSlot(ctx: StepContext): Promise<'held' | 'empty' | 'unknown'> {
  const read = await ctx.wire.command('AT+KCERTSTORE?');
  // Certificates are public but long: the evidence keeps the listing lines only.
  read.exchange.lines = read.exchange.lines.filter((l) => !/^[A-Za-z0-9+/=]+$/.test(l) && !l.startsWith('-----'));
  if (read.final !== 'OK') return 'unknown';
  return read.info.some((l) => /^root_cert,0,\d+$/.test(l)) ? 'held' : 'empty';
}

export async function learnVerification(ctx: StepContext, reach: BrokerReach): Promise<void> {
  const root = await rootSlot(ctx);
  const named = ctx.slots.includes('root:0');
  if (!ctx.allowWrites) return;
  if (root !== 'empty' && !named) {
    ctx.notes.push(
      root === 'held'
        ? 'server verification not probed: root slot 0 holds a certificate; name it with --slots root:0 to let the probe replace it'
        : 'server verification not probed: AT+KCERTSTORE? gives no list, so root slot 0 may hold something; name it with --slots root:0',
    );
    return;
  }
  const host = reach.name ?? reach.address;
  const pool = new KeyPool();
  const pki = await createBasicPki({ pool, serverNames: [host] });
  const other = await createBasicPki({ pool: new KeyPool(), serverNames: [host] });
  const now = Date.now();
  const make = (altNames: string[], notBefore: Date, notAfter: Date) =>
    issueCertificate({
      subject: `CN=${altNames[0]}`,
      key: pki.server.key,
      issuer: pki.ca,
      altNames,
      extendedKeyUsage: ['serverAuth'],
      notBefore,
      notAfter,
    });
  const expired = await make([host], new Date(now - 60 * DAY_MS), new Date(now - 30 * DAY_MS));
  const wrongName = await make(['wrong-name.bx-hil.test'], new Date(now - DAY_MS), new Date(now + 30 * DAY_MS));

  ctx.notes.push(
    `server verification: writing the probe's CA into root slot 0 (${root === 'empty' ? 'empty before' : 'named with --slots'}); deleted at the end`,
  );
  // In a line ending the module takes (the uploads step ran first; else the base's).
  const endings =
    (ctx.learned.get('uploads.lineEndings')?.value as string[] | undefined) ?? ctx.base.uploads.lineEndings;
  const eol = endings[0] === 'crlf' ? '\r\n' : endings[0] === 'cr' ? '\r' : '\n';
  const caPem = pki.ca.certPem.replace(/\r?\n/g, eol);
  const store = await ctx.wire.command(`AT+KCERTSTORE=0,${caPem.length}`);
  if (store.final !== 'CONNECT') {
    ctx.notes.push(`AT+KCERTSTORE=0 answered ${store.final}: server verification not probed`);
    return;
  }
  try {
    const stored = await ctx.wire.dataPhase(caPem, uploadGuardMs(ctx.base));
    if (stored.final !== 'OK') {
      ctx.notes.push(`uploading the probe's CA answered ${stored.final}: server verification not probed`);
      return;
    }
    const used: Exchange[] = [store.exchange, stored.exchange];
    const good = await connectsTo(ctx, reach, pki, pki.server, used);
    if (good !== true) {
      ctx.notes.push(
        'a valid server certificate did not connect (is the module clock set?): server verification not decided',
      );
      return;
    }
    for (const [field, cert, what] of [
      ['tls.verify.dates', expired, 'an expired server certificate'],
      ['tls.verify.name', wrongName, 'a server certificate for another name'],
      ['tls.verify.chain', other.server, 'a server certificate from a CA not in root slot 0'],
    ] as const) {
      if (field === 'tls.verify.name' && !reach.name) continue; // an IP literal: the name check is not what it is for a host
      const r = await connectsTo(ctx, reach, pki, cert, used);
      if (r !== undefined)
        ctx.learn(field, !r, used, `${what} ${r ? 'connects' : 'is refused'} (a valid one connects)`);
    }
  } finally {
    await ctx.wire.command('AT+KCERTDELETE=0');
  }
}
