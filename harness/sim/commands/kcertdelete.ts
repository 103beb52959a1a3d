/**
 * `AT+KCERTDELETE=<data_type>[,<index>]` [BX-T KCERTDELETE_0001/0002; BX-L]. docs/reference/bx310x-at.md §3.2.
 * A numeric index out of range gives 918 (not 916) [BX-T]; deleting an empty slot gives OK
 * [guess]; `AT+KCERTDELETE=1` without an index deletes local slot 0 [guess; BX-L sends it].
 */
import { flashWriteMs } from '../../timing.ts';
import { intParam } from '../atline.ts';
import { LOCAL_SLOTS } from '../stores.ts';
import { isReply, optional, prelude } from './args.ts';
import { cme, ok, type CommandHandler, type Reply } from './types.ts';

export const kcertdelete: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 2 });
    if (isReply(pre)) return pre;
    const [typeP, indexP] = pre.params;
    const type = intParam(typeP, 0, 1);
    if (type === undefined) return cme(916);
    const indexOpt = optional(ctx, indexP);
    let index = 0;
    if (indexOpt === 'error') return cme(916);
    if (indexOpt !== 'absent') {
      if (!/^-?\d+$/.test(indexOpt.raw)) return cme(916); // not a number [BX-T]
      const n = Number(indexOpt.raw);
      if (n < 0 || n >= (type === 0 ? 1 : LOCAL_SLOTS)) return cme(918); // -1, 3, 3001 [BX-T]
      index = n;
    }
    if (type === 0) ctx.stores.root = undefined;
    else ctx.stores.local[index] = undefined;
    ctx.stores.persist();
    return { ...ok(), delayMs: flashWriteMs(ctx.timing, 0) }; // an erase costs one flash item
  },
};
