/**
 * `AT+SRWSTACFG="<ssid>","<password>"[,<autoconnect 0|1>]`; read
 * `+SRWSTACFG: "<ssid>","<pw>",<autoconnect>` [BX-T, BX-L]. docs/reference/bx310x-at.md §8.
 */
import { intParam } from '../atline.ts';
import { isReply, optional, prelude, strParam } from './args.ts';
import { cme, error, ok, type CommandHandler, type Reply } from './types.ts';

export const srwstacfg: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 2, max: 3 });
    if (isReply(pre)) return pre;
    const ssid = strParam(pre.params[0]!);
    const password = strParam(pre.params[1]!);
    if (ssid === undefined || password === undefined) return error();
    if (ssid === '' || ssid.length > 32) return cme(916); // 802.11 SSIDs are 1..32 bytes
    const a = optional(ctx, pre.params[2]);
    const autoconnect = a === 'absent' ? 0 : a === 'error' ? undefined : intParam(a, 0, 1);
    if (autoconnect === undefined) return cme(916);
    Object.assign(ctx.wifi, { ssid, password, autoconnect });
    return ok();
  },
  read(ctx): Reply {
    const w = ctx.wifi;
    return ok([`+SRWSTACFG: "${w.ssid}","${w.password}",${w.autoconnect}`]);
  },
};
