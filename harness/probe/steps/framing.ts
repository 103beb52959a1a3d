/**
 * Framing (docs/reference/bx310x-at.md §1): echo after a reboot, what an LF after the CR does,
 * what a line without `AT` gets, and the longest line by bisection.
 *
 * The step reboots the module once (`AT+RST`: stores are kept, sessions are dropped) so "echo at
 * boot" is the boot setting and not what someone left; it then turns echo off (`ATE0`) so the
 * raw exchanges below read the answers alone. The probe turns echo back on at the end when the
 * module booted with it.
 */
import { finalKindOf } from '../../at/index.ts';
import type { Step, StepContext } from '../context.ts';
import type { Exchange } from '../wire.ts';

/** Bound of the reboot, ms: a module boots in about a second [guess]; the base's bootMs when longer. */
const BOOT_BOUND_MS = 15_000; // 15 s

/** The padded line: a command that answers a +CME ERROR (unknown session 910) at any length that fits. */
const HEAD = 'AT+KMQTTCLOSE=65535,"';
const TAIL = '"';
export const MIN_LINE = HEAD.length + TAIL.length;
/** The schema's largest `framing.lineBytes`: no line longer than this is sent. */
const MAX_LINE = 65_536;

function paddedLine(length: number): string {
  return HEAD + 'x'.repeat(length - MIN_LINE) + TAIL;
}

async function fits(ctx: StepContext, length: number, used: Exchange[]): Promise<boolean | undefined> {
  const line = paddedLine(length);
  const a = await ctx.wire.command(line);
  used.push(a.exchange);
  if (a.final === 'ERROR') return false;
  if (finalKindOf(a.final)?.kind === 'CME') return true;
  return undefined;
}

export const framing: Step = {
  name: 'framing',
  fields: ['framing.echoAtBoot', 'framing.lfAfterCr', 'framing.garbageLine', 'framing.lineBytes'],
  async run(ctx) {
    const { wire } = ctx;
    const boot = await wire.transact(
      'AT+RST\r',
      (lines) => {
        const i = lines.indexOf('READY');
        return i < 0 ? undefined : i + 1;
      },
      Math.max(BOOT_BOUND_MS, ctx.base.framing.bootMs * 3),
    );
    const at = await wire.command('AT');
    ctx.learn('framing.echoAtBoot', at.echoed, [boot, at.exchange], 'AT after AT+RST: echoed or not');
    const e0 = await wire.command('ATE0');
    if (e0.final !== 'OK') ctx.notes.push(`ATE0 answered ${e0.final}: the answers below may hold echo`);

    const lf = await wire.withSentinel('AT\r\n', ctx.ati);
    if (lf.lines.join() === 'OK')
      ctx.learn('framing.lfAfterCr', 'ignore', [lf.exchange], 'AT<CR><LF> answered OK alone');
    else if (lf.lines.join() === 'OK,ERROR')
      ctx.learn('framing.lfAfterCr', 'error', [lf.exchange], 'AT<CR><LF> answered OK then ERROR');

    const junk = await wire.withSentinel('XYZZY\r', ctx.ati);
    if (junk.lines.length === 0) ctx.learn('framing.garbageLine', 'ignore', [junk.exchange], 'XYZZY<CR> got no answer');
    else if (junk.lines.join() === 'ERROR')
      ctx.learn('framing.garbageLine', 'error', [junk.exchange], 'XYZZY<CR> answered ERROR');

    // Longest line: double until a line is refused with plain ERROR, then bisect (each probe
    // line answers +CME ERROR: 910 while it fits). Bounded by the schema's 65536.
    const used: Exchange[] = [];
    if ((await fits(ctx, MIN_LINE, used)) !== true) {
      ctx.notes.push(`a ${MIN_LINE}-byte line did not answer a +CME ERROR: framing.lineBytes kept from the base`);
      return;
    }
    let good = MIN_LINE;
    let bad: number | undefined;
    for (let len = 64; len <= MAX_LINE; len *= 2) {
      const r = await fits(ctx, len, used);
      if (r === undefined) return;
      if (!r) {
        bad = len;
        break;
      }
      good = len;
    }
    if (bad === undefined) {
      ctx.learn('framing.lineBytes', MAX_LINE, used, `a ${MAX_LINE}-byte line still fits (the schema's largest)`);
      return;
    }
    while (bad - good > 1) {
      const mid = Math.floor((good + bad) / 2);
      const r = await fits(ctx, mid, used);
      if (r === undefined) return;
      if (r) good = mid;
      else bad = mid;
    }
    ctx.learn('framing.lineBytes', good, used, `a ${good}-byte line answers +CME ERROR, a ${bad}-byte line ERROR`);
  },
};
