/**
 * `AT+KPRIVKDELETE=<index>` [BX-T KPRIVKDELETE_0001/0002]. docs/reference/bx310x-at.md §3.4: an invalid index
 * (-1, 3, 3001, a) gives plain ERROR, not a CME code; `=` gives 917; a second parameter 915.
 */
import { flashWriteMs } from '../../timing.ts';
import { intParam } from '../atline.ts';
import { KEY_SLOTS } from '../stores.ts';
import { isReply, prelude } from './args.ts';
import { error, ok, type CommandHandler, type Reply } from './types.ts';

export const kprivkdelete: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 1 });
    if (isReply(pre)) return pre;
    const index = intParam(pre.params[0], 0, KEY_SLOTS - 1);
    if (index === undefined) return error();
    ctx.stores.keys[index] = undefined;
    ctx.stores.persist();
    return { ...ok(), delayMs: flashWriteMs(ctx.timing, 0) }; // an erase costs one flash item
  },
};
