/**
 * `AT+RST` and `AT&F`: `OK`, then `READY` once the module has rebooted [BX-T, BX-L].
 * What a reboot keeps: the certificate and key stores (flash) [BX-T KCERTDELETE_0002 reads back
 * after reset]; what it loses: MQTT session configurations and connections, echo setting
 * [guess]. AT&F also restores factory settings; whether it erases the stores is unknown, and
 * this simulator keeps them [guess].
 */
import { ok, type CommandHandler } from './types.ts';

export const rst: CommandHandler = { action: (ctx) => ok(undefined, () => ctx.reboot('rst')) };

export const andF: CommandHandler = {
  action: (ctx) => ok(undefined, () => ctx.reboot('factory')),
  set: (ctx, args) => (args === '0' ? ok(undefined, () => ctx.reboot('factory')) : { final: 'ERROR' }),
};
