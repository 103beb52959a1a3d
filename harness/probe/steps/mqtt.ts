/**
 * MQTT session codes without a broker (docs/reference/bx310x-at.md §6): the code for CLOSE on a
 * session that is not connected, for a second CNX while the first connects, what DEL does to a
 * connecting session, and how many sessions fit.
 *
 * "Connecting" is made by sending CNX, CNX, DEL in one write to a session whose server is the
 * module's own loopback port 1: the second CNX and the DEL arrive while the first connect is
 * still under way (the refusal comes back later, as `+KMQTT_IND: <id>,0`). Nothing leaves the
 * module.
 */
import { finalKindOf } from '../../at/index.ts';
import { cmeOf, type Step } from '../context.ts';
import type { Exchange } from '../wire.ts';
import { configure, PROBE_SERVER, remove } from './sessions.ts';

/** Sessions created at most while counting (the schema allows 65535; a BX has 10 [BX-T]). */
const MAX_SESSIONS_TRIED = 32;
/** Bound on the `+KMQTT_IND: <id>,0` that ends a refused connect, ms. */
const CONNECT_END_MS = 15_000; // 15 s

export const mqtt: Step = {
  name: 'mqtt',
  fields: ['mqtt.notConnected', 'mqtt.cnxWhenConnected', 'mqtt.delConnected', 'mqtt.sessions'],
  async run(ctx) {
    const { wire } = ctx;
    const s = await configure(ctx, `0,${PROBE_SERVER},${ctx.version},"bxprobe"`);
    if (s.id === undefined) {
      ctx.notes.push(`AT+KMQTTCFG answered ${s.answer.final}: the MQTT session codes were not probed`);
      return;
    }
    const id = s.id;
    const close = await wire.command(`AT+KMQTTCLOSE=${id}`);
    const nc = cmeOf(close.final);
    if (nc !== undefined)
      ctx.learn(
        'mqtt.notConnected',
        nc,
        [close.exchange],
        `AT+KMQTTCLOSE on a configured session answers ${close.final}`,
      );

    wire.urcLines.length = 0;
    const burst = await wire.transact(`AT+KMQTTCNX=${id}\rAT+KMQTTCNX=${id}\rAT+KMQTTDEL=${id}\r`, (lines) => {
      let finals = 0;
      for (let i = 0; i < lines.length; i++) if (finalKindOf(lines[i]!) && ++finals === 3) return i + 1;
      return undefined;
    });
    const [first, second, del] = burst.lines.filter((l) => finalKindOf(l));
    if (first === 'OK') {
      const code = cmeOf(second!);
      if (code !== undefined)
        ctx.learn('mqtt.cnxWhenConnected', code, [burst], `a second AT+KMQTTCNX while connecting answers ${second}`);
      if (del === 'OK') {
        ctx.sessions.delete(id);
        ctx.learn('mqtt.delConnected', 'close', [burst], 'AT+KMQTTDEL on a connecting session answers OK');
      } else if (cmeOf(del!) !== undefined) {
        ctx.learn('mqtt.delConnected', 'refuse', [burst], `AT+KMQTTDEL on a connecting session answers ${del}`);
      }
    } else ctx.notes.push(`AT+KMQTTCNX answered ${first}: cnxWhenConnected and delConnected kept from the base`);
    if (ctx.sessions.has(id)) {
      // The connect to port 1 is refused; then the session can go.
      await wire.urc(new RegExp(`^\\+KMQTT_IND: ?${id},0`), CONNECT_END_MS);
      await remove(ctx, id);
    }

    // Sessions: create until the module refuses (912 [HL-G]) or the bound.
    const made: number[] = [];
    const mx: Exchange[] = [];
    try {
      for (let i = 0; i < MAX_SESSIONS_TRIED; i++) {
        const c = await configure(ctx, `0,${PROBE_SERVER},${ctx.version},"bxprobe${i}"`);
        mx.push(c.answer.exchange);
        if (c.id === undefined) {
          if (finalKindOf(c.answer.final)?.kind === 'CME')
            ctx.learn('mqtt.sessions', made.length, mx, `session ${made.length + 1} answers ${c.answer.final}`);
          break;
        }
        made.push(c.id);
      }
      if (made.length === MAX_SESSIONS_TRIED)
        ctx.notes.push(`${MAX_SESSIONS_TRIED} sessions fit: mqtt.sessions kept from the base`);
    } finally {
      for (const m of made) if (ctx.sessions.has(m)) await remove(ctx, m);
    }
  },
};
