/**
 * Read forms that tell a dialect apart without writing anything: `AT+KPRIVKSTORE?` (a list of
 * `private_key,<i>,<len>`, never key bytes, or +CME ERROR: 918), `AT+SRWCFG?` (the Wi-Fi
 * commands exist), `AT+CCLK?` (the clock command exists). docs/reference/bx310x-at.md §3.3, §8.
 */
import { cmeOf, type Step } from '../context.ts';

export const readForms: Step = {
  name: 'read-forms',
  fields: ['keys.readForm', 'wifi.enabled', 'clock.settable'],
  async run(ctx) {
    const { wire } = ctx;
    const keys = await wire.command('AT+KPRIVKSTORE?');
    if (keys.final === 'OK') ctx.learn('keys.readForm', 'list', [keys.exchange], 'AT+KPRIVKSTORE? answers a list');
    else if (cmeOf(keys.final) === 918)
      ctx.learn('keys.readForm', 'cme918', [keys.exchange], 'AT+KPRIVKSTORE? answers +CME ERROR: 918');
    const wifi = await wire.command('AT+SRWCFG?');
    if (wifi.final === 'OK' || wifi.final === 'ERROR')
      ctx.learn('wifi.enabled', wifi.final === 'OK', [wifi.exchange], `AT+SRWCFG? answers ${wifi.final}`);
    const clock = await wire.command('AT+CCLK?');
    if (clock.final === 'OK' || clock.final === 'ERROR')
      ctx.learn('clock.settable', clock.final === 'OK', [clock.exchange], `AT+CCLK? answers ${clock.final}`);
  },
};
