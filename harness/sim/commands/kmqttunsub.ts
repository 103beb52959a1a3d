/**
 * `AT+KMQTTUNSUB=<session_id>,"<topic>"` → OK (then `+KMQTT_IND: <id>,3` on UNSUBACK where the
 * profile says so [HL-Z]). docs/reference/bx310x-at.md §6.4.
 */
import { isReply, prelude, strParam } from './args.ts';
import { cme, error, ok, type CommandHandler, type Reply } from './types.ts';

export const kmqttunsub: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 2, max: 2, session: true });
    if (isReply(pre)) return pre;
    const topic = strParam(pre.params[1]!);
    if (topic === undefined) return error();
    if (topic === '' || Buffer.byteLength(topic, 'latin1') > ctx.profile.mqtt.topicBytes) return cme(916);
    const session = ctx.sessions.get(pre.id!)!;
    if (session.state !== 'connected') return cme(ctx.profile.mqtt.notConnected);
    return ok(undefined, () => session.unsubscribe(topic));
  },
};
