/**
 * The differences between what the probe learned and a base profile, as data and in words:
 * "AT+KPRIVKSTORE? answers +CME ERROR: 918 where 2.6.3 says a list". Checks (documented error
 * codes with no profile field) that came back different are listed after the fields.
 */
import type { Profile } from '../sim/index.ts';
import type { Check, Learned } from './context.ts';
import { FIELDS, sameValue, valueAt } from './fields.ts';

export interface Difference {
  /** Dotted profile field, or `check` for a documented answer with no field. */
  field: string;
  probed: unknown;
  base: unknown;
  words: string;
}

export function diffLearned(learned: Iterable<Learned>, base: Profile, checks: readonly Check[] = []): Difference[] {
  const out: Difference[] = [];
  for (const l of learned) {
    const was = valueAt(base, l.field);
    if (sameValue(was, l.value)) continue;
    const w = FIELDS[l.field];
    const words = w
      ? `${w.subject}${w.verb ? ` ${w.verb}` : ''} ${w.show(l.value)} where ${base.name} says ${w.show(was)}`
      : `${l.field} is ${JSON.stringify(l.value)} where ${base.name} says ${JSON.stringify(was)}`;
    out.push({ field: l.field, probed: l.value, base: was, words });
  }
  for (const c of checks) {
    if (c.got === c.expected) continue;
    out.push({
      field: 'check',
      probed: c.got,
      base: c.expected,
      words: `${c.what} answers ${c.got} where docs/reference/bx310x-at.md §1 says ${c.expected}`,
    });
  }
  return out;
}
