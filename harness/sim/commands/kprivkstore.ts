/**
 * `AT+KPRIVKSTORE=<index>,<NbData>` → CONNECT … +++ → OK; NbData is mandatory here
 * [BX-T A_BX_EmbeddedSW_KPRIVKSTORE_0001]. The read form lists `private_key,<i>,<len>` and never
 * the key [BX-T KPRIVKDELETE_0002], or answers +CME ERROR: 918 on 2.6.3 ([report], profile
 * `keys.readForm`). docs/reference/bx310x-at.md §3.3.
 */
import { intParam } from '../atline.ts';
import { KEY_SLOTS } from '../stores.ts';
import { isReply, prelude } from './args.ts';
import { cme, ok, type CommandHandler, type Reply } from './types.ts';
import { uploadSink } from './upload.ts';

export const kprivkstore: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 2, max: 2 });
    if (isReply(pre)) return pre;
    const [indexP, nbP] = pre.params;
    const index = intParam(indexP, 0, KEY_SLOTS - 1);
    if (index === undefined) return cme(916);
    const nbData = intParam(nbP, 1, ctx.profile.uploads.maxBytes);
    if (nbData === undefined) return cme(916);
    return { connect: uploadSink(ctx, 'key', nbData, (data) => (ctx.stores.keys[index] = data)) };
  },
  read(ctx): Reply {
    if (ctx.profile.keys.readForm === 'cme918') return cme(918);
    const lines = ['+KPRIVKSTORE'];
    ctx.stores.keys.forEach((k, i) => {
      if (k) lines.push(`private_key,${i},${k.length}`);
    });
    return ok(lines);
  },
};
