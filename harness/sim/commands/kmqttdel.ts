/**
 * `AT+KMQTTDEL=<session_id>` → OK, the session leaves `AT+KMQTTCFG?` and its id is free again
 * [BX-T; BX-L]. Unknown id → 910 [guess, as the other commands]. On a connected session the
 * profile decides (`mqtt.delConnected`): close it first, or refuse [guess: untested in BX].
 */
import { isReply, prelude } from './args.ts';
import { cme, ok, type CommandHandler, type Reply } from './types.ts';

export const kmqttdel: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 1, session: true });
    if (isReply(pre)) return pre;
    const session = ctx.sessions.get(pre.id!)!;
    if (session.state !== 'configured') {
      if (ctx.profile.mqtt.delConnected === 'refuse') return cme(ctx.profile.mqtt.notConnected);
      session.close();
    }
    ctx.sessions.delete(session.id);
    return ok();
  },
};
