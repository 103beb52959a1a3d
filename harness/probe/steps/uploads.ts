/**
 * Uploads (`--allow-writes` only; docs/reference/bx310x-at.md §3, §4): which line endings an
 * uploaded PEM may have, what the module checks of its content, whether NbData must match the
 * bytes sent, and the largest NbData. Each is learned with throwaway uploads of a public
 * certificate (Amazon Root CA 1) into ONE local-certificate slot:
 *
 * - the slot is chosen from what `AT+KCERTSTORE?` says is stored: the first empty local slot,
 *   or a slot the user named with `--slots local:<i>`; a slot that holds something is never
 *   written unless named;
 * - a module whose read form gives nothing back (no list) is said so in the notes, and then
 *   only a named slot is written;
 * - the slot is deleted at the end (`AT+KCERTDELETE=1,<i>`), so an empty slot stays empty.
 *
 * The raw wire is used rather than the driver's upload: the driver lays out PEM text correctly
 * (LF, NbData = the byte count), and the probe must send it wrongly on purpose.
 */
import { AMAZON_ROOT_CA_1_PEM } from '../../pki/index.ts';
import { cmeOf, uploadGuardMs, type Step, type StepContext } from '../context.ts';
import type { Answer, Exchange } from '../wire.ts';

const LOCAL_SLOTS = 3; // local_cert 0..2 [BX-T]
const MAX_NBDATA = 65_536; // the schema's largest uploads.maxBytes

const pem = AMAZON_ROOT_CA_1_PEM.replace(/\r\n?/g, '\n').trimEnd() + '\n';
const withEndings = (ending: string): string => pem.replace(/\n/g, ending);

async function upload(
  ctx: StepContext,
  slot: number,
  data: string,
  nbData: number = data.length,
): Promise<{ store: Answer; data?: Answer }> {
  const store = await ctx.wire.command(`AT+KCERTSTORE=1,${nbData},${slot}`);
  if (store.final !== 'CONNECT') return { store };
  const guard = uploadGuardMs(ctx.base);
  return { store, data: await ctx.wire.dataPhase(data, guard) };
}

/** Which slot to write, or why none. */
function chooseSlot(ctx: StepContext, stored: Set<number> | undefined): number | string {
  const named = ctx.slots.map((s) => /^local:(\d)$/.exec(s)).filter((m) => m && Number(m[1]) < LOCAL_SLOTS);
  if (named.length > 0) return Number(named[0]![1]);
  if (!stored)
    return 'AT+KCERTSTORE? gives no list of what is stored, so no slot is known to be empty: name one with --slots local:<i>';
  for (let i = 0; i < LOCAL_SLOTS; i++) if (!stored.has(i)) return i;
  return 'every local certificate slot holds something: name one to overwrite with --slots local:<i>';
}

export const uploads: Step = {
  name: 'uploads',
  fields: ['uploads.lineEndings', 'uploads.check', 'uploads.nbDataMismatch', 'uploads.maxBytes'],
  async run(ctx) {
    if (!ctx.allowWrites) return;
    const { wire } = ctx;
    const read = await wire.command('AT+KCERTSTORE?');
    let stored: Set<number> | undefined;
    if (read.final === 'OK') {
      stored = new Set();
      for (const l of read.info) {
        const m = /^local_cert,(\d+),\d+$/.exec(l);
        if (m) stored.add(Number(m[1]));
      }
    }
    // Certificates are public, but they are long: the evidence keeps the listing lines only.
    read.exchange.lines = read.exchange.lines.filter((l) => !/^[A-Za-z0-9+/=]+$/.test(l) && !l.startsWith('-----'));
    const slot = chooseSlot(ctx, stored);
    if (typeof slot === 'string') {
      ctx.notes.push(`uploads not probed: ${slot}`);
      return;
    }
    ctx.notes.push(
      `uploads: writing local certificate slot ${slot} (${stored?.has(slot) ? 'it held a certificate; named with --slots' : 'empty before'}); deleted at the end`,
    );
    try {
      const endings: string[] = [];
      const ex: Exchange[] = [];
      let decided = true;
      for (const [name, text] of [
        ['lf', '\n'],
        ['crlf', '\r\n'],
        ['cr', '\r'],
      ] as const) {
        const u = await upload(ctx, slot, withEndings(text));
        ex.push(u.store.exchange, ...(u.data ? [u.data.exchange] : []));
        if (u.data?.final === 'OK') endings.push(name);
        else if (u.data?.final !== 'ERROR') decided = false;
      }
      if (decided && endings.length > 0)
        ctx.learn(
          'uploads.lineEndings',
          endings,
          ex,
          `a PEM with ${endings.join(', ')} line endings is stored, others answer ERROR`,
        );

      // The content and NbData probes use a line ending the module takes.
      const eol = endings[0] === 'crlf' ? '\r\n' : endings[0] === 'cr' ? '\r' : '\n';
      const junk = await upload(ctx, slot, `bx-hil probe: not a certificate${eol}`);
      if (junk.data?.final === 'OK')
        ctx.learn('uploads.check', 'none', [junk.data.exchange], 'bytes without PEM armor are stored');
      else if (junk.data && cmeOf(junk.data.final) === 930) {
        const armored = await upload(
          ctx,
          slot,
          ['-----BEGIN CERTIFICATE-----', 'YngtaGlsIHByb2Jl', '-----END CERTIFICATE-----', ''].join(eol),
        );
        if (armored.data?.final === 'OK')
          ctx.learn(
            'uploads.check',
            'armor',
            [junk.data.exchange, armored.data.exchange],
            'armor is checked, content is not',
          );
        else if (armored.data && cmeOf(armored.data.final) === 930)
          ctx.learn(
            'uploads.check',
            'parse',
            [junk.data.exchange, armored.data.exchange],
            'armored junk answers 930: the PEM is parsed',
          );
      }

      const good0 = withEndings(eol);
      const mismatch = await upload(ctx, slot, good0, good0.length + 5);
      if (mismatch.data?.final === 'OK')
        ctx.learn(
          'uploads.nbDataMismatch',
          'ignore',
          [mismatch.data.exchange],
          'NbData 5 above the bytes sent is stored',
        );
      else if (mismatch.data && cmeOf(mismatch.data.final) === 931)
        ctx.learn(
          'uploads.nbDataMismatch',
          'error',
          [mismatch.data.exchange],
          'NbData 5 above the bytes sent answers 931',
        );

      // Largest NbData: CONNECT (then the data phase ends with +++ alone: nothing stored) or 916.
      const used: Exchange[] = [];
      const accepts = async (n: number): Promise<boolean | undefined> => {
        const a = await wire.command(`AT+KCERTSTORE=1,${n},${slot}`);
        used.push(a.exchange);
        if (a.final === 'CONNECT') {
          used.push((await wire.dataPhase('', uploadGuardMs(ctx.base))).exchange);
          return true;
        }
        return cmeOf(a.final) === 916 ? false : undefined;
      };
      let good = 1;
      let bad: number | undefined;
      if ((await accepts(good)) !== true) return;
      for (let n = 1024; n <= MAX_NBDATA; n *= 2) {
        const r = await accepts(n);
        if (r === undefined) return;
        if (!r) {
          bad = n;
          break;
        }
        good = n;
      }
      if (bad === undefined) return;
      while (bad - good > 1) {
        const mid = Math.floor((good + bad) / 2);
        const r = await accepts(mid);
        if (r === undefined) return;
        if (r) good = mid;
        else bad = mid;
      }
      ctx.learn('uploads.maxBytes', good, used, `NbData ${good} answers CONNECT, ${bad} answers 916`);
    } finally {
      const del = await wire.command(`AT+KCERTDELETE=1,${slot}`);
      if (del.final !== 'OK')
        ctx.notes.push(
          `AT+KCERTDELETE=1,${slot} answered ${del.final}: the slot may still hold the probe's certificate`,
        );
    }
  },
};
