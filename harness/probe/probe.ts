/**
 * `probe(link, options)`: run the steps against a module and build a draft profile from what it
 * answers (docs/probe.md). The module is the source of truth: every value a step decides
 * replaces the base's value and gets the source tag `[probe <date> fw <AT+CGMR>]`; every other
 * value stays as in the base, with the base's tag.
 *
 * A module that stops answering ends the probe at that step (`failedStep`) with the values
 * learned so far; the result is still a loadable profile.
 */
import type { Link } from '../link/index.ts';
import { loadProfile, parseProfile, shippedProfiles, type Profile, type ProfileInput } from '../sim/index.ts';
import type { Check, Learned, Step, StepContext } from './context.ts';
import { diffLearned, type Difference } from './diff.ts';
import { ProbeSilentError } from './errors.ts';
import { FIELDS, sameValue, setAt, valueAt } from './fields.ts';
import { framing } from './steps/framing.ts';
import { identity } from './steps/identity.ts';
import { mqtt } from './steps/mqtt.ts';
import { params } from './steps/params.ts';
import { readForms } from './steps/read-forms.ts';
import { remove } from './steps/sessions.ts';
import { uploads } from './steps/uploads.ts';
import { brokerStep, type BrokerReach } from './steps/broker.ts';
import type { MeasuredTiming, TimingValue } from './timing.ts';
import { Wire, type Exchange } from './wire.ts';

/** The steps in the order they run (docs/probe.md "What it learns"); the broker step needs to know where the module finds the rigs. */
function steps(reach: BrokerReach | undefined): Step[] {
  return [identity, framing, params, readForms, mqtt, uploads, brokerStep(reach)];
}
export const STEPS: readonly Step[] = steps(undefined);

/** Every field some step can decide. */
export const LEARNABLE_FIELDS: readonly string[] = STEPS.flatMap((s) => s.fields);

export interface ProbeOptions {
  /** The profile whose values stand where the probe decides nothing. Default: the shipped profile whose AT+CGMR matches, else the one agreeing with most learned values. */
  base?: Profile;
  /** Probe a device whose ATI answer is not a BX31xx. Default false. */
  force?: boolean;
  /** Throwaway certificate uploads (flash writes) allowed. Default false. */
  allowWrites?: boolean;
  /** Slots that may be overwritten although they hold something (`local:<i>`). Default none. */
  slots?: readonly string[];
  /** Bound of one exchange, ms (plus the line time of long lines). Default 5000 (5 s). */
  timeoutMs?: number;
  /** Line rate for the cost figure and the long-line bounds, bits per second. Default 115200. */
  baud?: number;
  /** The date in the source tags. Default now. */
  date?: Date;
  /** Where the module reaches the broker rigs the probe starts; without it the broker step learns nothing. */
  broker?: BrokerReach;
  /** Called as each step starts (tests fault the module there). */
  onStep?: (name: string) => void;
  onExchange?: (e: Exchange) => void;
  /** Called with each note as it is made (the CLI prints them at once: which slot is written, before it is). */
  onNote?: (note: string) => void;
}

export interface ProbeResult {
  device: string;
  /** The firmware version the tags name (`?` when AT+CGMR gave nothing). */
  firmware: string;
  tag: string;
  base: Profile;
  learned: Learned[];
  checks: Check[];
  notes: string[];
  exchanges: Exchange[];
  txBytes: number;
  rxBytes: number;
  /** The step that ended the probe early, with its error; undefined when every step ran. */
  failedStep?: string;
  error?: Error;
  /** The draft profile (loads with `parseProfile`). */
  profile: ProfileInput & { extends: string; name: string };
  differences: Difference[];
  /** The measured timing values and the measurement behind them, once `withTiming` put them in. */
  timing?: { values: TimingValue[]; measurement: MeasuredTiming };
}

/** Seconds the probe's wire bytes take at `baud` (10 bits a byte: 8N1). */
export function wireSeconds(bytes: number, baud = 115_200): number {
  return (bytes * 10) / baud;
}

function chooseBase(learned: Map<string, Learned>): Profile {
  const all = shippedProfiles.map((n) => loadProfile(n));
  const cgmr = learned.get('identity.cgmr')?.value;
  const byVersion = all.find((p) => p.identity.cgmr === cgmr);
  if (byVersion) return byVersion;
  const score = (p: Profile) => [...learned.values()].filter((l) => sameValue(valueAt(p, l.field), l.value)).length;
  return all.reduce((best, p) => (score(p) > score(best) ? p : best));
}

export async function probe(link: Link, options: ProbeOptions = {}): Promise<ProbeResult> {
  const date = options.date ?? new Date();
  const wire = new Wire(link, {
    timeoutMs: options.timeoutMs ?? 5_000, // 5 s
    baud: options.baud ?? 115_200,
    ...(options.onExchange ? { onExchange: options.onExchange } : {}),
  });
  const learned = new Map<string, Learned>();
  const notes: string[] = [];
  // Not enumerable: the notes stay a plain list to whoever prints or serialises them.
  Object.defineProperty(notes, 'push', {
    enumerable: false,
    value: (...items: string[]): number => {
      for (const n of items) options.onNote?.(n);
      return Array.prototype.push.apply(notes, items);
    },
  });
  const ctx: StepContext = {
    wire,
    base: options.base ?? loadProfile('2.6.3'),
    allowWrites: options.allowWrites ?? false,
    slots: options.slots ?? [],
    force: options.force ?? false,
    ati: '',
    version: 4,
    learned,
    checks: [],
    sessions: new Set(),
    notes,
    learn(field, value, exchanges, how) {
      if (!FIELDS[field])
        throw new Error(`probe step ${wire.step} learned "${field}", which has no row in probe/fields.ts`);
      learned.set(field, { field, value, exchanges: exchanges.map((e) => e.n), how });
    },
  };
  let failedStep: string | undefined;
  let error: Error | undefined;
  try {
    for (const step of steps(options.broker)) {
      wire.step = step.name;
      options.onStep?.(step.name);
      await step.run(ctx);
    }
  } catch (err) {
    failedStep = wire.step;
    error = err as Error;
  }
  if (!(error instanceof ProbeSilentError) && link.isOpen) {
    // Leave the module as found: the probe's sessions deleted, echo as it boots.
    wire.step = 'cleanup';
    try {
      for (const id of [...ctx.sessions]) await remove(ctx, id);
      if (learned.get('framing.echoAtBoot')?.value === true) await wire.command('ATE1');
    } catch (err) {
      ctx.notes.push(`cleanup: ${(err as Error).message}`);
    }
  }
  wire.detach();
  const base = options.base ?? chooseBase(learned);
  if (base.knownIssues.length > 0)
    ctx.notes.push(
      `the draft keeps ${base.name}'s ${base.knownIssues.length} known issue(s) (how tests fail on it): check they hold for this firmware`,
    );
  const firmware = String(learned.get('identity.cgmr')?.value ?? '?');
  const tag = `[probe ${date.toISOString().slice(0, 10)} fw ${firmware}]`;
  const profile = draftProfile(base, [...learned.values()], tag, link.uri);
  return {
    device: link.uri,
    firmware,
    tag,
    base,
    learned: [...learned.values()],
    checks: ctx.checks,
    notes: ctx.notes,
    exchanges: wire.exchanges,
    txBytes: wire.txBytes,
    rxBytes: wire.rxBytes,
    ...(failedStep ? { failedStep } : {}),
    ...(error ? { error } : {}),
    profile,
    differences: diffLearned(learned.values(), base, ctx.checks),
  };
}

/**
 * The base with the learned values in, each tagged; capabilities left out so `parseProfile`
 * derives them from the knobs (those no knob decides come from the shipped profile it extends).
 */
function draftProfile(
  base: Profile,
  learned: Learned[],
  tag: string,
  device: string,
): ProfileInput & { extends: string; name: string } {
  const { capabilities: _dropped, ...rest } = structuredClone(base) as Profile;
  const draft = rest as unknown as Record<string, unknown>;
  const sources = { ...base.sources };
  for (const l of learned) {
    setAt(draft, l.field, l.value);
    sources[l.field] = `${tag} ${l.how}`;
  }
  const fw = learned.find((l) => l.field === 'identity.cgmr')?.value;
  const name = `probe-${typeof fw === 'string' && fw ? fw : base.name}`;
  const shipped = (shippedProfiles as readonly string[]).includes(base.name) ? base.name : 'reference';
  const out = {
    extends: shipped,
    ...draft,
    name,
    description: `Drafted by bx-hil probe from ${device} ${tag}: ${learned.length} values learned from the module, the rest from ${base.name}.`,
    sources,
  } as ProfileInput & { extends: string; name: string };
  parseProfile(out, `probe draft ${name}`); // a draft that would not load is a bug here, not the module's
  return out;
}
