/**
 * The command table: name → handler (aedes' handlers idea, docs/STYLE.md §13). Names are upper case
 * as `parseCommand` gives them: `` for bare `AT`, one letter for basic commands, `&X`, `+XXX`.
 * Commands a profile lacks (Wi-Fi when `wifi.enabled` is false, AT+CCLK unless
 * `clock.settable`) are absent, so they answer ERROR like any unknown command.
 */
import type { Profile } from '../profile.ts';
import { andK, at, ate, ati } from './basic.ts';
import { cclk } from './cclk.ts';
import { cgmr, fmm, macaddr } from './identity.ts';
import { kcertdelete } from './kcertdelete.ts';
import { kcertstore } from './kcertstore.ts';
import { kmqttcfg } from './kmqttcfg.ts';
import { kmqttclose } from './kmqttclose.ts';
import { kmqttcnx } from './kmqttcnx.ts';
import { kmqttdel } from './kmqttdel.ts';
import { kmqttpub } from './kmqttpub.ts';
import { kmqttsub } from './kmqttsub.ts';
import { kmqttunsub } from './kmqttunsub.ts';
import { kprivkdelete } from './kprivkdelete.ts';
import { kprivkstore } from './kprivkstore.ts';
import { andF, rst } from './reset.ts';
import { srwcfg } from './srwcfg.ts';
import { srwstacfg } from './srwstacfg.ts';
import { srwstacon } from './srwstacon.ts';
import type { CommandHandler } from './types.ts';

export const commands: Readonly<Record<string, CommandHandler>> = Object.freeze({
  '': at,
  I: ati,
  E: ate,
  '&K': andK,
  '&F': andF,
  '+RST': rst,
  '+CGMR': cgmr,
  '+FMM': fmm,
  '+MACADDR': macaddr,
  '+KCERTSTORE': kcertstore,
  '+KCERTDELETE': kcertdelete,
  '+KPRIVKSTORE': kprivkstore,
  '+KPRIVKDELETE': kprivkdelete,
  '+KMQTTCFG': kmqttcfg,
  '+KMQTTCNX': kmqttcnx,
  '+KMQTTPUB': kmqttpub,
  '+KMQTTSUB': kmqttsub,
  '+KMQTTUNSUB': kmqttunsub,
  '+KMQTTCLOSE': kmqttclose,
  '+KMQTTDEL': kmqttdel,
  '+SRWCFG': srwcfg,
  '+SRWSTACFG': srwstacfg,
  '+SRWSTACON': srwstacon,
  '+CCLK': cclk,
});

const WIFI = new Set(['+SRWCFG', '+SRWSTACFG', '+SRWSTACON']);

/** The handler for a command name under a profile, or undefined (→ ERROR). */
export function handlerFor(name: string, profile: Profile): CommandHandler | undefined {
  if (WIFI.has(name) && !profile.wifi.enabled) return undefined;
  if (name === '+CCLK' && !profile.clock.settable) return undefined;
  return Object.hasOwn(commands, name) ? commands[name] : undefined;
}

export type { CommandHandler, Reply, SimContext } from './types.ts';
