/**
 * `AT+SRWCFG=<mode>[,<country>]`; read `+SRWCFG: <mode>,<country>,"<sta_mac>","<ap_mac>"`
 * [BX-T, BX-L]. docs/reference/bx310x-at.md §8. Error codes follow the K-command scheme [guess].
 */
import { intParam } from '../atline.ts';
import { isReply, optional, prelude } from './args.ts';
import { cme, ok, type CommandHandler, type Reply } from './types.ts';

export const srwcfg: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 2 });
    if (isReply(pre)) return pre;
    const mode = intParam(pre.params[0], 0, 3);
    if (mode === undefined) return cme(916);
    const c = optional(ctx, pre.params[1]);
    const country = c === 'absent' ? ctx.wifi.country : c === 'error' ? undefined : intParam(c, 0, 3);
    if (country === undefined) return cme(916);
    ctx.wifi.mode = mode;
    ctx.wifi.country = country;
    return ok();
  },
  read(ctx): Reply {
    const sta = ctx.profile.identity.mac;
    // The AP MAC is the station MAC + 1 on ESP32-based modules [guess]
    const ap = sta.replace(/[0-9a-f]{2}$/i, (b) => ((parseInt(b, 16) + 1) & 0xff).toString(16).padStart(2, '0'));
    return ok([`+SRWCFG: ${ctx.wifi.mode},${ctx.wifi.country},"${sta}","${ap}"`]);
  },
};
