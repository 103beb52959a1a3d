/**
 * Helpers for the steps that need an MQTT session: sessions live in the module's RAM (a reboot
 * drops them), are created with `AT+KMQTTCFG` and deleted with `AT+KMQTTDEL`; the probe deletes
 * every session it created before it ends. `AT+KMQTTCFG?` lists every session with its password
 * in clear [BX-T], so the probe keeps only its own sessions' lines in the evidence.
 */
import type { StepContext } from '../context.ts';
import type { Answer } from '../wire.ts';

/** The target of every session the probe creates: the module's own loopback, port 1 (refused at once). */
export const PROBE_SERVER = '"127.0.0.1",1';

/** `AT+KMQTTCFG=<args>`; a created session is remembered for deletion. */
export async function configure(ctx: StepContext, args: string): Promise<{ answer: Answer; id?: number }> {
  const answer = await ctx.wire.command(`AT+KMQTTCFG=${args}`);
  const m = /^\+KMQTTCFG: ?(\d+)$/.exec(answer.info[0] ?? '');
  if (answer.final === 'OK' && m) {
    const id = Number(m[1]);
    ctx.sessions.add(id);
    return { answer, id };
  }
  return { answer };
}

/** `AT+KMQTTDEL=<id>` for a session the probe created. */
export async function remove(ctx: StepContext, id: number): Promise<Answer> {
  const a = await ctx.wire.command(`AT+KMQTTDEL=${id}`);
  if (a.final === 'OK') ctx.sessions.delete(id);
  return a;
}

/** `AT+KMQTTCFG?` with the lines of sessions the probe did not create withheld from the evidence. */
export async function readSessions(ctx: StepContext): Promise<{ answer: Answer; lines: Map<number, string> }> {
  const answer = await ctx.wire.command('AT+KMQTTCFG?');
  const lines = new Map<number, string>();
  for (const l of answer.info) {
    const m = /^\+KMQTTCFG: ?(\d+),/.exec(l);
    if (m) lines.set(Number(m[1]), l);
  }
  const own = (l: string): boolean => {
    const m = /^\+KMQTTCFG: ?(\d+),/.exec(l);
    return m !== null && ctx.sessions.has(Number(m[1]));
  };
  answer.exchange.lines = answer.exchange.lines.map((l) =>
    /^\+KMQTTCFG: ?\d+,/.test(l) && !own(l) ? `${l.slice(0, l.indexOf(','))},<withheld: not the probe's session>` : l,
  );
  return { answer, lines };
}
