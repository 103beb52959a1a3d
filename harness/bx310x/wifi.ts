/**
 * Wi-Fi settings (docs/reference/bx310x-at.md §8): modes and countries by name or number, and the
 * `AT+SRWCFG` command built from them.
 */
import { intIn } from './params.ts';

/** The module's Wi-Fi mode, by number or name (`AT+SRWCFG`). */
export type WifiMode = 0 | 1 | 2 | 3 | 'off' | 'station' | 'ap' | 'station+ap';
/** The module's Wi-Fi country (regulatory domain), by number or name. */
export type WifiCountry = 0 | 1 | 2 | 3 | 'CN' | 'JP' | 'US' | 'EU';

const MODE: Record<string, number> = { off: 0, station: 1, ap: 2, 'station+ap': 3 };
const COUNTRY: Record<string, number> = { CN: 0, JP: 1, US: 2, EU: 3 };

/** `AT+SRWCFG=<mode>[,<country>]`: 0 off, 1 station, 2 AP, 3 both; country 0 CN, 1 JP, 2 US, 3 EU. */
export function srwcfgCommand(mode: WifiMode, country?: WifiCountry): string {
  const m = intIn('mode', typeof mode === 'string' ? MODE[mode] : mode, 0, 3, 'docs/reference/bx310x-at.md §8');
  const c =
    country === undefined
      ? undefined
      : intIn(
          'country',
          typeof country === 'string' ? COUNTRY[country] : country,
          0,
          3,
          'docs/reference/bx310x-at.md §8',
        );
  return `AT+SRWCFG=${m}${c !== undefined ? `,${c}` : ''}`;
}
