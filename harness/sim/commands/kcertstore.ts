/**
 * `AT+KCERTSTORE=<data_type>[,<NbData>[,<index>]]` → CONNECT … +++ → OK, and the read form
 * [BX-T A_BX_EmbeddedSW_KCERTSTORE_0001, KCERTDELETE_0002; BX-L setCA]. docs/reference/bx310x-at.md §3.1.
 */
import { intParam } from '../atline.ts';
import { LOCAL_SLOTS } from '../stores.ts';
import { isReply, optional, prelude } from './args.ts';
import { cme, ok, type CommandHandler, type Reply } from './types.ts';
import { uploadSink } from './upload.ts';

export const kcertstore: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 3 });
    if (isReply(pre)) return pre;
    const [typeP, nbP, indexP] = pre.params;
    const type = intParam(typeP, 0, 1);
    if (type === undefined) return cme(916); // -1, 2, letters [BX-T]
    const nbOpt = optional(ctx, nbP);
    const indexOpt = optional(ctx, indexP);
    // The index is required for a local certificate: AT+KCERTSTORE=1 gives 917 [BX-T]
    if (type === 1 && indexOpt === 'absent') return cme(917);
    if (nbOpt === 'error' || indexOpt === 'error') return cme(916);
    // NbData is optional on the BX: AT+KCERTSTORE=1,,<index> gives CONNECT [BX-T]; BX-L sends none
    const nbData = nbOpt === 'absent' ? undefined : intParam(nbOpt, 1, ctx.profile.uploads.maxBytes);
    if (nbOpt !== 'absent' && nbData === undefined) return cme(916);
    // For type 0 the index is range-checked but the root is always slot 0 [BX-T]
    const index = indexOpt === 'absent' ? 0 : intParam(indexOpt, 0, LOCAL_SLOTS - 1);
    if (index === undefined) return cme(916);
    return {
      connect: uploadSink(ctx, 'cert', nbData, (data) => {
        if (type === 0) ctx.stores.root = data;
        else ctx.stores.local[index] = data;
      }),
    };
  },
  read(ctx): Reply {
    // Bare header line, then per stored certificate "<kind>,<idx>,<len>" and the PEM exactly as
    // stored [BX-T KCERTDELETE_0002]; no blank lines between them [guess].
    const lines = ['+KCERTSTORE'];
    const root = ctx.stores.root;
    if (root) lines.push(`root_cert,0,${root.length}`, root.toString('latin1'));
    ctx.stores.local.forEach((c, i) => {
      if (c) lines.push(`local_cert,${i},${c.length}`, c.toString('latin1'));
    });
    return ok(lines);
  },
};
