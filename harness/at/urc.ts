/**
 * The URC registry: which lines are unsolicited result codes, and their parameters.
 *
 * A URC can arrive at ANY time, also between a command and its final result, and is never taken
 * as part of a command's answer. Information lines that carry the in-flight command's own prefix
 * (`+KMQTTCFG: 1` for `AT+KMQTTCFG=...`) belong to the command instead, unless the definition is
 * `alwaysUrc` (the legacy `+KMQTTSUB: "<topic>","<message>"` [BX-T]: the command `AT+KMQTTSUB`
 * has no information response, so that line is always an incoming message).
 *
 * The engine takes a registry in its options; `defaultUrcRegistry()` knows the K-family and
 * SRW URCs named in docs/reference/bx310x-at.md §6-§8. The typed meaning of each URC's parameters (e.g.
 * `+KMQTT_IND` codes) is the driver's business (`harness/bx310x/urc.ts`).
 */

/** A parsed parameter: a number when it is an unquoted integer, else a string; '' when empty. */
export type AtParam = string | number;

export interface UrcDefinition {
  /** The URC's name as it appears on the line, e.g. `+KMQTT_IND` or `READY`. */
  name: string;
  /**
   * True when the line is a URC even while a command with the same prefix is in flight.
   * Default false (the command's information line wins).
   */
  alwaysUrc?: boolean;
  /** Extra check on the whole line (e.g. "first parameter is quoted"). Default: none. */
  match?: (line: string) => boolean;
}

export interface Urc {
  /** Registered name, e.g. `+KMQTT_IND`. */
  name: string;
  /** Parameters after `<name>: `, parsed with `parseParams`. Empty for bare URCs (`READY`). */
  params: AtParam[];
  /** The whole line as received (latin1). */
  line: string;
  /** Monotonic sequence number within one engine, from 1. */
  seq: number;
  /** Monotonic ms (the engine's clock) when the line completed. */
  t: number;
}

/** The prefix of a line: `+KMQTT_IND` for `+KMQTT_IND: 1,4`, the whole line for bare words. */
export function linePrefix(line: string): string {
  const i = line.indexOf(':');
  return i < 0 ? line.trim() : line.slice(0, i).trim();
}

/** The prefix the information lines of a command carry: `+KMQTTCFG` for `AT+KMQTTCFG=1,...`. */
export function commandPrefix(command: string): string | undefined {
  const m = /^AT([+#$%][A-Z0-9_]+)/i.exec(command.trim());
  return m ? m[1]!.toUpperCase() : undefined;
}

/**
 * Split AT parameters: comma separated, strings in double quotes (which may contain commas).
 * A quoted field ends at a `"` followed by a comma or the end of the line, so a stray quote
 * inside a payload does not derail the split (Libelium's `+KMQTT_DATA` parser takes the payload
 * up to the closing quote [BX-L]). Unquoted integers become numbers; empty fields become ''.
 */
export function parseParams(text: string): AtParam[] {
  const out: AtParam[] = [];
  let i = 0;
  const n = text.length;
  if (n === 0) return out;
  for (;;) {
    while (i < n && text[i] === ' ') i++;
    if (text[i] === '"') {
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) {
          out.push(text.slice(i + 1));
          return out;
        }
        let k = q + 1;
        while (k < n && text[k] === ' ') k++;
        if (k >= n || text[k] === ',') {
          out.push(text.slice(i + 1, q));
          if (k >= n) return out;
          i = k + 1;
          break;
        }
        j = q + 1;
      }
    } else {
      const c = text.indexOf(',', i);
      const raw = (c < 0 ? text.slice(i) : text.slice(i, c)).trim();
      out.push(/^-?\d+$/.test(raw) && raw.length < 16 ? Number(raw) : raw);
      if (c < 0) return out;
      i = c + 1;
    }
  }
}

export class UrcRegistry {
  readonly #defs = new Map<string, UrcDefinition>();

  constructor(defs: Iterable<UrcDefinition> = []) {
    for (const d of defs) this.register(d);
  }

  register(def: UrcDefinition): this {
    if (!def.name) throw new TypeError('"name" of a URC definition must be a non-empty string');
    this.#defs.set(def.name, def);
    return this;
  }

  has(name: string): boolean {
    return this.#defs.has(name);
  }

  names(): string[] {
    return [...this.#defs.keys()];
  }

  /**
   * The definition a line matches, or undefined. `inFlightPrefix` is the prefix of the command
   * in flight: its information lines are not URCs unless the definition is `alwaysUrc`.
   */
  match(line: string, inFlightPrefix?: string): UrcDefinition | undefined {
    const prefix = linePrefix(line);
    const def = this.#defs.get(prefix);
    if (!def) return undefined;
    const bare = !line.includes(':');
    if (bare && line.trim() !== def.name) return undefined;
    if (!bare && !line.startsWith(`${def.name}:`)) return undefined;
    if (def.match && !def.match(line)) return undefined;
    if (!def.alwaysUrc && inFlightPrefix !== undefined && inFlightPrefix === prefix) return undefined;
    return def;
  }

  /** Parse a line known to match `def`. */
  parse(def: UrcDefinition, line: string, seq: number, t: number): Urc {
    const i = line.indexOf(':');
    const params = i < 0 ? [] : parseParams(line.slice(i + 1).replace(/^ /, ''));
    return { name: def.name, params, line, seq, t };
  }
}

/** URCs of the BX310x K-family and SRW Wi-Fi commands (docs/reference/bx310x-at.md §1, §6.5, §6.7, §7, §8). */
export function defaultUrcRegistry(): UrcRegistry {
  return new UrcRegistry([
    { name: 'READY' }, // after AT+RST / AT&F and power-up [BX-T, BX-L]
    { name: '+KMQTT_IND' }, // <id>,<code> [HL-Z fork, BX-L]
    { name: '+KMQTT_DATA' }, // <id>,"<topic>","<payload>" [BX-L]
    // Legacy incoming message [BX-T]: the first parameter is a quoted topic. AT+KMQTTSUB has no
    // information response, so this is a URC even while AT+KMQTTSUB is in flight.
    { name: '+KMQTTSUB', alwaysUrc: true, match: (line) => /^\+KMQTTSUB: ?"/.test(line) },
    { name: '+KTCP_NOTIF' }, // <id>,<code> [HL-Z, BX-T]
    { name: '+KTCP_DATA' }, // <id>,<n>,<data> inline [BX-L]
    { name: '+KTCP_SRVREQ' },
    { name: '+KUDP_DATA' },
    { name: '+KUDP_NOTIF' },
    { name: '+KHTTP_ERROR' },
    { name: '+KHTTPS_ERROR' },
    { name: '+SRWSTASTATUS' }, // 1,"<ssid>",... / 0,<reason> [BX-L]
    { name: '+SRWSTAIP' }, // "<ip>","<mask>","<gw>" [BX-L]
    { name: '+KPING' },
    { name: '+KPINGSTAT' },
  ]);
}
