/**
 * `AT+KMQTTSUB=<session_id>,"<topic>",<qos>` → OK (then `+KMQTT_IND: <id>,2` on SUBACK where the
 * profile says so [HL-Z]); retained messages follow [BX-T KMQTTCFG_0002]. One subscription past
 * the profile's limit gives ERROR [BX-T KMQTTSUB_0005]. docs/reference/bx310x-at.md §6.4.
 */
import { intParam } from '../atline.ts';
import { isReply, prelude, strParam } from './args.ts';
import { cme, error, ok, type CommandHandler, type Reply } from './types.ts';

export const kmqttsub: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 3, max: 3, session: true });
    if (isReply(pre)) return pre;
    const [, topicP, qosP] = pre.params;
    const topic = strParam(topicP!);
    if (topic === undefined) return error();
    const qos = intParam(qosP, 0, 2);
    if (qos === undefined || qos > ctx.profile.mqtt.maxQos) return cme(916);
    if (topic === '' || Buffer.byteLength(topic, 'latin1') > ctx.profile.mqtt.topicBytes) return cme(916);
    const session = ctx.sessions.get(pre.id!)!;
    if (session.state !== 'connected') return cme(ctx.profile.mqtt.notConnected);
    if (!session.subscriptions.has(topic) && session.subscriptions.size >= ctx.profile.mqtt.subscriptionsPerSession)
      return error();
    return ok(undefined, () => session.subscribe(topic, qos));
  },
};
