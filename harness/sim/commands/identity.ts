/** Identity commands [BX-T, BX-L] docs/reference/bx310x-at.md §1: `AT+CGMR`, `AT+FMM`, `AT+MACADDR?`. */
import { ok, type CommandHandler } from './types.ts';

/** `AT+CGMR` → the firmware version line, then OK. */
export const cgmr: CommandHandler = { action: (ctx) => ok([ctx.profile.identity.cgmr]) };

/** `AT+FMM` → `BX310x`, then OK. */
export const fmm: CommandHandler = { action: (ctx) => ok([ctx.profile.identity.fmm]) };

/** `AT+MACADDR?` → `+MACADDR: "xx:.."`. */
export const macaddr: CommandHandler = { read: (ctx) => ok([`+MACADDR: "${ctx.profile.identity.mac}"`]) };
