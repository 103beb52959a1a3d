/**
 * Identity: `ATI`, `AT+FMM`, `AT+CGMR`, `AT+MACADDR?` (docs/reference/bx310x-at.md §1). A device
 * whose ATI answer is not a BX31xx is refused unless forced: the rest of the probe would send
 * BX commands to a module that may read them differently.
 */
import type { Step } from '../context.ts';
import { ProbeRefusedError } from '../errors.ts';

const BX = /\bBX31\d\d\b/i;

export const identity: Step = {
  name: 'identity',
  fields: ['identity.ati', 'identity.fmm', 'identity.cgmr', 'identity.mac'],
  async run(ctx) {
    const { wire } = ctx;
    // Whatever the module was doing (a half line, a late answer): one AT and its answer first.
    await wire.command('AT');
    wire.drain();
    const ati = await wire.command('ATI');
    const text = ati.info[0];
    if (ati.final !== 'OK' || text === undefined) throw new ProbeRefusedError(ati.final);
    if (!BX.test(text) && !ctx.force) throw new ProbeRefusedError(text);
    ctx.ati = text;
    ctx.learn('identity.ati', text, [ati.exchange], 'the ATI answer');
    for (const [field, cmd] of [
      ['identity.fmm', 'AT+FMM'],
      ['identity.cgmr', 'AT+CGMR'],
    ] as const) {
      const a = await wire.command(cmd);
      if (a.final === 'OK' && a.info.length === 1) ctx.learn(field, a.info[0], [a.exchange], `the ${cmd} answer`);
      else ctx.notes.push(`${cmd} answered ${[...a.info, a.final].join(' / ')}: ${field} kept from the base`);
    }
    const mac = await wire.command('AT+MACADDR?');
    const m = /^\+MACADDR: ?"?([^"]*)"?$/.exec(mac.info[0] ?? '');
    if (mac.final === 'OK' && m) ctx.learn('identity.mac', m[1], [mac.exchange], 'the AT+MACADDR? answer');
  },
};
