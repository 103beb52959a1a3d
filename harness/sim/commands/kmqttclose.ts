/**
 * `AT+KMQTTCLOSE=<session_id>` [BX-T A_BX_EmbeddedSW_KMQTTCLOSE_0001]: OK on a connected
 * session, 922 when configured but not connected (a second close), 910 unknown, 916 range,
 * 917 `=`, 915 two parameters. docs/reference/bx310x-at.md §6.6.
 */
import { isReply, prelude } from './args.ts';
import { cme, ok, type CommandHandler, type Reply } from './types.ts';

export const kmqttclose: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 1, session: true });
    if (isReply(pre)) return pre;
    const session = ctx.sessions.get(pre.id!)!;
    if (session.state === 'configured') return cme(ctx.profile.mqtt.notConnected);
    session.close();
    return ok();
  },
};
