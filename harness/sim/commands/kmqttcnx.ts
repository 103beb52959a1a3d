/**
 * `AT+KMQTTCNX=<session_id>` → `OK`, then `+KMQTT_IND: <id>,1` once CONNACK arrives or
 * `+KMQTT_IND: <id>,0` when any step fails [BX-T KMQTTCNX_0003: OK; BX-L: URC after OK; HL-Z].
 * The steps themselves are `connectSteps` in net/session.ts.
 */
import { isReply, prelude } from './args.ts';
import { cme, ok, type CommandHandler, type Reply } from './types.ts';

export const kmqttcnx: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 1, max: 1, session: true });
    if (isReply(pre)) return pre;
    const session = ctx.sessions.get(pre.id!)!;
    // [3P] HL7811: 911 for a CNX on a session already connected (profile mqtt.cnxWhenConnected)
    if (session.state !== 'configured') return cme(ctx.profile.mqtt.cnxWhenConnected);
    if (ctx.profile.wifi.requiredForMqtt && !ctx.wifi.joined) return cme(ctx.profile.wifi.notJoined);
    return ok(undefined, () => session.connect());
  },
};
