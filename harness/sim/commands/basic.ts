/**
 * The one-letter and `&` commands, each a few lines: `AT`, `ATI`, `ATE0/1`, `AT&K`.
 * [BX-T, BX-L] docs/reference/bx310x-at.md §1.
 */
import { error, ok, type CommandHandler } from './types.ts';

/** `AT` → OK. */
export const at: CommandHandler = { action: () => ok() };

/** `ATI` → the module type (`BX3105` on a BX3105 board, [BX-T/tseiman]). */
export const ati: CommandHandler = {
  action: (ctx) => ok([ctx.profile.identity.ati]),
  set: (ctx, args) => (args === '0' ? ok([ctx.profile.identity.ati]) : error()),
};

/** `ATE0` / `ATE1`: echo off / on; `ATE` = `ATE0` as on Hayes modems [guess]. */
export const ate: CommandHandler = {
  action: (ctx) => {
    ctx.echo = false;
    return ok();
  },
  set: (ctx, args) => {
    if (args !== '0' && args !== '1') return error();
    ctx.echo = args === '1';
    return ok();
  },
};

/** `AT&K0` / `AT&K3`: flow control. Accepted, not simulated (the link has no RTS/CTS) [BX-T AT&K_0005]. */
export const andK: CommandHandler = {
  set: (_ctx, args) => (args === '0' || args === '3' ? ok() : error()),
};
