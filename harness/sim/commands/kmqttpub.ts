/**
 * `AT+KMQTTPUB=<session_id>,"<topic>",<qos>,<retained>,"<message>"` → OK, then for QoS ≥ 1
 * `+KMQTT_IND: <id>,4` on PUBACK/PUBCOMP [BX-T KMQTTPUB_0001/0002; BX-L]. docs/reference/bx310x-at.md §6.3.
 * Quotes inside the payload cannot be sent (ERROR) [BX-T]. Limits and "not connected" are
 * profile knobs [guess].
 */
import { intParam } from '../atline.ts';
import { isReply, prelude, strParam } from './args.ts';
import { cme, error, ok, type CommandHandler, type Reply } from './types.ts';

export const kmqttpub: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 5, max: 5, session: true });
    if (isReply(pre)) return pre;
    const [, topicP, qosP, retainP, msgP] = pre.params;
    const topic = strParam(topicP!);
    if (topic === undefined) return error();
    const qos = intParam(qosP, 0, 2);
    if (qos === undefined || qos > ctx.profile.mqtt.maxQos) return cme(916);
    const retain = intParam(retainP, 0, 1);
    if (retain === undefined) return cme(916);
    const message = strParam(msgP!);
    if (message === undefined) return error();
    const m = ctx.profile.mqtt;
    if (topic === '' || /[#+]/.test(topic) || Buffer.byteLength(topic, 'latin1') > m.topicBytes) return cme(916);
    if (Buffer.byteLength(message, 'latin1') > m.payloadBytes) return cme(916);
    const session = ctx.sessions.get(pre.id!)!;
    if (session.state !== 'connected') return cme(m.notConnected);
    return ok(undefined, () => session.publish(topic, message, qos, retain === 1));
  },
};
