/**
 * `AT+KMQTTCFG=<secure>,<server>,<port>,<version>,<clientid>[,<keepAlive>[,<cleanSession>
 * [,<willFlag>[,<willTopic>[,<willMessage>[,<willRetain>[,<willQos>[,<username>[,<password>]]]]]]]]]`
 * → `+KMQTTCFG: <id>` OK [BX-T A_BX_EmbeddedSW_KMQTTCFG_0001/0002; BX-L]. docs/reference/bx310x-at.md §6.1.
 */
import { intParam, type Param } from '../atline.ts';
import type { SessionConfig } from '../net/session.ts';
import { isReply, optional, prelude, strParam } from './args.ts';
import { cme, error, ok, type CommandHandler, type Reply, type SimContext } from './types.ts';

// A host name or an IPv4 address; a path or junk after the host gives 916 [BX-T]
const SERVER = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

type Parsed<T> = T | Reply;
const isFail = <T>(x: Parsed<T>): x is Reply => typeof x === 'object' && x !== null && ('final' in x || 'connect' in x);

function optInt(ctx: SimContext, p: Param | undefined, min: number, max: number, dflt: number): Parsed<number> {
  const o = optional(ctx, p);
  if (o === 'absent') return dflt;
  if (o === 'error') return cme(916);
  return intParam(o, min, max) ?? cme(916);
}

function optStr(ctx: SimContext, p: Param | undefined): Parsed<{ value: string; quoted: boolean }> {
  const o = optional(ctx, p);
  if (o === 'absent') return { value: '', quoted: false };
  if (o === 'error') return cme(916);
  const v = strParam(o);
  return v === undefined ? error() : { value: v, quoted: o.quoted };
}

function field(value: string, quoted = true): string {
  return value === '' ? '' : quoted ? `"${value}"` : value;
}

export const kmqttcfg: CommandHandler = {
  set(ctx, args): Reply {
    const pre = prelude(ctx, args, { min: 5, max: ctx.profile.params.kmqttcfgMaxParams });
    if (isReply(pre)) return pre;
    const p = pre.params;
    const secure = intParam(p[0], 0, 1);
    if (secure === undefined) return cme(916);
    const server = p[1]!;
    if (server.malformed || !SERVER.test(server.value)) return cme(916);
    const port = intParam(p[2], 0, 65_535); // 0 and 1 are accepted [BX-T]
    if (port === undefined) return cme(916);
    const version = intParam(p[3], 0, 9);
    if (version === undefined || !ctx.profile.mqtt.versions.includes(version)) return cme(916);
    const clientId = strParam(p[4]!);
    if (clientId === undefined) return error();
    const keepAlive = optInt(ctx, p[5], 0, 65_535, 60);
    if (isFail(keepAlive)) return keepAlive;
    const clean = optInt(ctx, p[6], 0, 1, 1);
    if (isFail(clean)) return clean;
    const willFlag = optInt(ctx, p[7], 0, 1, 0);
    if (isFail(willFlag)) return willFlag;
    const willTopic = optStr(ctx, p[8]);
    if (isFail(willTopic)) return willTopic;
    const willMessage = optStr(ctx, p[9]);
    if (isFail(willMessage)) return willMessage;
    const willRetain = optInt(ctx, p[10], 0, 1, 0);
    if (isFail(willRetain)) return willRetain;
    const willQos = optInt(ctx, p[11], 0, 2, 0);
    if (isFail(willQos)) return willQos;
    const username = optStr(ctx, p[12]);
    if (isFail(username)) return username;
    const password = optStr(ctx, p[13]);
    if (isFail(password)) return password;
    const config: SessionConfig = {
      secure: secure === 1,
      server: server.value,
      port,
      version,
      clientId,
      keepAlive,
      clean: clean === 1,
      willFlag: willFlag === 1,
      willTopic: willTopic.value,
      willTopicQuoted: willTopic.quoted,
      willMessage: willMessage.value,
      willRetain: willRetain === 1,
      willQos,
      username: username.value,
      password: password.value,
    };
    const session = ctx.sessions.create(config);
    // [HL-G] 912 = no more sessions can be used [guess for the BX]
    if (!session) return cme(912);
    return ok([`+KMQTTCFG: ${session.id}`]);
  },
  read(ctx): Reply {
    // <secure> is not echoed; set strings quoted, empty ones as nothing; password in clear [BX-T]
    const asGiven = ctx.profile.params.willTopicEcho === 'as-given';
    return ok(
      ctx.sessions
        .all()
        .map(({ id, config: c }) =>
          [
            `+KMQTTCFG: ${id}`,
            `"${c.server}"`,
            c.port,
            c.version,
            `"${c.clientId}"`,
            c.keepAlive,
            c.clean ? 1 : 0,
            c.willFlag ? 1 : 0,
            field(c.willTopic, !asGiven || c.willTopicQuoted),
            field(c.willMessage),
            c.willRetain ? 1 : 0,
            c.willQos,
            field(c.username),
            field(c.password),
          ].join(','),
        ),
    );
  },
};
