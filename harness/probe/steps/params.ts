/**
 * Parameters (docs/reference/bx310x-at.md §1, §6.1): which MQTT versions AT+KMQTTCFG takes, how many parameters AT+KMQTTCFG takes, what
 * an empty optional parameter does, how the read form shows an unquoted will topic; and the
 * documented error codes, which have no profile field and are reported as checks: missing 917,
 * too many 915, out of range 916, unknown session 910, broken quoting plain ERROR.
 */
import { cmeOf, type Step, type StepContext } from '../context.ts';
import type { Answer, Exchange } from '../wire.ts';
import { configure, PROBE_SERVER, readSessions, remove } from './sessions.ts';

function check(ctx: StepContext, what: string, expected: string, a: Answer): void {
  ctx.checks.push({ what, expected, got: a.final, exchange: a.exchange.n });
}

/** 15 or 16 parameters with an out-of-range port: 915 = too many, 916 = the count passed. */
function overCount(n: number): string {
  const p = ['0', '"127.0.0.1"', '70000', '4', '"bxprobe"', '60', '1', '0', '"t"', '"m"', '0', '0', '""', '""'];
  while (p.length < n) p.push('0');
  return p.join(',');
}

export const params: Step = {
  name: 'params',
  fields: ['mqtt.versions', 'params.kmqttcfgMaxParams', 'params.trailingEmptyOptional', 'params.willTopicEcho'],
  async run(ctx) {
    const { wire } = ctx;
    // Which <version> values AT+KMQTTCFG takes (3 = MQTT 3.1, 4 = 3.1.1): first, so the sessions
    // below use one the module takes.
    const versions: number[] = [];
    const vx: Exchange[] = [];
    let decided = true;
    for (const v of [3, 4]) {
      const c = await configure(ctx, `0,${PROBE_SERVER},${v},"bxprobe"`);
      vx.push(c.answer.exchange);
      if (c.id !== undefined) {
        versions.push(v);
        await remove(ctx, c.id);
      } else if (cmeOf(c.answer.final) !== 916) decided = false;
    }
    if (decided)
      ctx.learn('mqtt.versions', versions, vx, `AT+KMQTTCFG takes <version> ${versions.join(', ') || 'none of 3, 4'}`);
    ctx.version = versions.at(-1) ?? 4;

    // Count limit (schema 14..16) without creating a session: the bad port answers 916 once
    // the count passed.
    const a15 = await wire.command(`AT+KMQTTCFG=${overCount(15)}`);
    if (cmeOf(a15.final) === 915) ctx.learn('params.kmqttcfgMaxParams', 14, [a15.exchange], '15 parameters answer 915');
    else if (cmeOf(a15.final) === 916) {
      const a16 = await wire.command(`AT+KMQTTCFG=${overCount(16)}`);
      if (cmeOf(a16.final) === 915)
        ctx.learn(
          'params.kmqttcfgMaxParams',
          15,
          [a15.exchange, a16.exchange],
          '15 parameters pass the count, 16 answer 915',
        );
      else if (cmeOf(a16.final) === 916)
        ctx.learn('params.kmqttcfgMaxParams', 16, [a15.exchange, a16.exchange], '16 parameters pass the count');
    }

    const trailing = await configure(ctx, `0,${PROBE_SERVER},${ctx.version},"bxprobe",`);
    if (trailing.id !== undefined) {
      ctx.learn(
        'params.trailingEmptyOptional',
        'default',
        [trailing.answer.exchange],
        'a trailing comma after the client id is accepted',
      );
      await remove(ctx, trailing.id);
    } else if (cmeOf(trailing.answer.final) === 916)
      ctx.learn(
        'params.trailingEmptyOptional',
        'error',
        [trailing.answer.exchange],
        'a trailing comma after the client id answers 916',
      );

    const will = await configure(ctx, `0,${PROBE_SERVER},${ctx.version},"bxprobe",60,1,1,bxprobe/will,"bye",0,0`);
    if (will.id === undefined) {
      ctx.notes.push(
        `AT+KMQTTCFG with a will answered ${will.answer.final}: params.willTopicEcho and the error checks skipped`,
      );
      return;
    }
    const id = will.id;
    const read = await readSessions(ctx);
    const topic = read.lines.get(id)?.split(',')[8];
    if (topic === '"bxprobe/will"')
      ctx.learn(
        'params.willTopicEcho',
        'quoted',
        [will.answer.exchange, read.answer.exchange],
        'the unquoted will topic reads back quoted',
      );
    else if (topic === 'bxprobe/will')
      ctx.learn(
        'params.willTopicEcho',
        'as-given',
        [will.answer.exchange, read.answer.exchange],
        'the unquoted will topic reads back unquoted',
      );

    check(ctx, 'AT+KMQTTCLOSE= (no parameter)', '+CME ERROR: 917', await wire.command('AT+KMQTTCLOSE='));
    check(
      ctx,
      'AT+KMQTTCLOSE=<id>,1 (one parameter too many)',
      '+CME ERROR: 915',
      await wire.command(`AT+KMQTTCLOSE=${id},1`),
    );
    check(ctx, 'AT+KMQTTCLOSE=70000 (out of range)', '+CME ERROR: 916', await wire.command('AT+KMQTTCLOSE=70000'));
    check(ctx, 'AT+KMQTTCLOSE=65535 (no such session)', '+CME ERROR: 910', await wire.command('AT+KMQTTCLOSE=65535'));
    check(
      ctx,
      'AT+KMQTTCFG with an odd number of quotes',
      'ERROR',
      await wire.command('AT+KMQTTCFG=0,"127.0.0.1,1,4,"bxprobe"'),
    );
    await remove(ctx, id);
  },
};
