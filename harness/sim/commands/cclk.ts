/**
 * `AT+CCLK="yy/MM/dd,hh:mm:ss±zz"` / `AT+CCLK?` (zz in quarter hours) as on the HL78xx [3P]; no
 * BX source sets the clock (docs/reference/bx310x-at.md §8), so only profiles with `clock.settable` have it.
 */
import { isReply, prelude, strParam } from './args.ts';
import { cme, error, ok, type CommandHandler, type Reply } from './types.ts';

const CCLK = /^(\d\d)\/(\d\d)\/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)?$/;
const pad = (n: number) => String(n).padStart(2, '0');

export const cclk: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 1 });
    if (isReply(pre)) return pre;
    const text = strParam(pre.params[0]!);
    if (text === undefined) return error();
    const m = CCLK.exec(text);
    if (!m) return cme(916);
    const [yy, mo, dd, hh, mi, ss] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const quarters = Number(m[7] ?? 0);
    if (mo < 1 || mo > 12 || dd < 1 || hh > 23 || mi > 59 || ss > 59) return cme(916);
    const local = new Date(Date.UTC(2000 + yy, mo - 1, dd, hh, mi, ss));
    if (local.getUTCDate() !== dd) return cme(916); // 02/30 and the like
    const d = new Date(local.getTime() - quarters * 15 * 60_000);
    ctx.clock.set(d);
    return ok();
  },
  read(ctx): Reply {
    const d = ctx.clock.now();
    const text = `${pad(d.getUTCFullYear() % 100)}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())},${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}+00`;
    return ok([`+CCLK: "${text}"`]);
  },
};
