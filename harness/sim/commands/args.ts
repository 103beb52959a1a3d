/**
 * The order in which the firmware reports parameter errors (docs/reference/bx310x-at.md §1 and §9.6), in one
 * place so every command applies it the same way:
 *
 * 1. broken quoting → plain `ERROR` [BX-T]
 * 2. `AT+X=` with nothing after `=` → 917 [BX-T]
 * 3. a well-formed session id that is not configured → 910, before the count checks
 *    ([BX-T] `KTCPCLOSE=1,1,1` on an unknown session gives 910, not 915)
 * 4. fewer parameters than required → 917; more than allowed → 915 [BX-T]
 * 5. the commands then check ranges (916) and state (922) themselves.
 */
import { intParam, splitParams, type Param } from '../atline.ts';
import { cme, error, type Reply, type SimContext } from './types.ts';

export interface Prelude {
  params: Param[];
  /** The session id when `session` was asked for and it is well formed and configured. */
  id?: number;
}

export interface PreludeOptions {
  min: number;
  max: number;
  /** The first parameter is an MQTT session id (0..65535). */
  session?: boolean;
}

export function prelude(ctx: SimContext, args: string, options: PreludeOptions): Prelude | Reply {
  const params = splitParams(args);
  if (!params) return error();
  if (args === '') return cme(917);
  let id: number | undefined;
  if (options.session) {
    id = intParam(params[0], 0, 65_535);
    if (id !== undefined && !ctx.sessions.get(id)) return cme(910);
  }
  if (params.length < options.min) return cme(917);
  if (params.length > options.max) return cme(915);
  if (options.session && id === undefined) return cme(916);
  return { params, id };
}

export function isReply(x: Prelude | Reply): x is Reply {
  return 'final' in x || 'connect' in x;
}

/** An optional parameter: absent or empty takes the default (profile `params.trailingEmptyOptional`). */
export function optional(ctx: SimContext, p: Param | undefined): 'absent' | 'error' | Param {
  if (!p) return 'absent';
  if (p.empty) return ctx.profile.params.trailingEmptyOptional === 'default' ? 'absent' : 'error';
  return p;
}

/** A string parameter's value; `undefined` when its quotes are misplaced (plain ERROR). [BX-T] */
export function strParam(p: Param): string | undefined {
  return p.malformed ? undefined : p.value;
}
