/**
 * Puts a test's evidence on one timeline with two lanes, the module's and the broker's, and
 * decides which events are messages between them (arrows of the sequence diagram).
 *
 * Lanes: sources `at`, `link`, `driver`, `sim` are the module's side; `tls`, `mqtt`, `broker` the
 * broker's; `diagnose`/`suite` are notes across both.
 *
 * Arrows, in order of precedence:
 * 1. `data.dir` (or `data.direction`) set by the emitter: `to-broker` / `to-module`; the broker
 *    side may also say `in` (received from the module) / `out` (sent to the module).
 * 2. TLS kinds: `client-hello` goes to the broker; `server-hello`, `certificate`,
 *    `hello-retry-request` go to the module; an `alert` goes whichever way `data.from`
 *    (`client`/`module` or `server`/`broker`) or `data.sent` (sent by the broker) says.
 * 3. MQTT packets: kind `packet` (name in `data.cmd` / `data.type`) or the kind itself
 *    (`connect`, `connack`, ...): CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT go to
 *    the broker; CONNACK, SUBACK, UNSUBACK, PINGRESP to the module; PUBLISH and its acks need
 *    a direction from rule 1.
 * 4. Failing those, on the broker side, the summary's wording: `device -> CONNECT ...`,
 *    `-> device CONNACK ...`, `alert handshake_failure from the rig` (what the broker rig
 *    writes); the packet name and the alert description are read from it too.
 * Everything else is a note in its lane (AT commands, URCs, link bytes, broker decisions).
 */
import type { EvidenceEvent } from '../evidence.ts';

/** Where a timeline event sits: on the module's side, the broker's, or between. */
export type Lane = 'module' | 'broker' | 'both';
/** Which way a timeline event goes between module and broker. */
export type Arrow = 'to-broker' | 'to-module';

/** One event of a test's timeline as the report draws it. */
export interface TimelineEntry {
  /** Milliseconds since the test's first event. */
  dt: number;
  lane: Lane;
  arrow?: Arrow;
  /** Short name drawn on an arrow or as the note's tag (`ClientHello`, `CONNACK`, `URC`, ...). */
  label: string;
  source: string;
  kind: string;
  scope?: string;
  summary: string;
  /** Link bytes and other chatty events the page hides by default. */
  raw?: boolean;
  /** URCs, alerts, verdicts: drawn emphasised. */
  important?: boolean;
}

/** Longest summary drawn on the timeline; the full one is in events.jsonl. */
export const MAX_SUMMARY_CHARS = 600;

const MODULE_SOURCES = new Set(['at', 'link', 'driver', 'sim']);
const BROKER_SOURCES = new Set(['tls', 'mqtt', 'broker']);

const MQTT_TO_BROKER = new Set(['connect', 'subscribe', 'unsubscribe', 'pingreq', 'disconnect']);
const MQTT_TO_MODULE = new Set(['connack', 'suback', 'unsuback', 'pingresp']);
const MQTT_EITHER = new Set(['publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'auth']);

const TLS_LABELS: Record<string, string> = {
  'client-hello': 'ClientHello',
  'server-hello': 'ServerHello',
  certificate: 'Certificate',
  'hello-retry-request': 'HelloRetryRequest',
  alert: 'Alert',
};

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function explicitArrow(data: Record<string, unknown> | undefined, lane: Lane): Arrow | undefined {
  const dir = str(data?.dir) ?? str(data?.direction);
  if (dir === 'to-broker' || dir === 'to-module') return dir;
  if (lane === 'broker' && (dir === 'in' || dir === 'rx')) return 'to-broker';
  if (lane === 'broker' && (dir === 'out' || dir === 'tx')) return 'to-module';
  return undefined;
}

/** Who sent it, read from the summary's wording when the data does not say (rule 4). */
function arrowFromSummary(summary: string): Arrow | undefined {
  if (
    /^\s*(?:device|module|client|dut)\s*->/i.test(summary) ||
    /\bfrom the (?:device|module|client|dut)\b/i.test(summary)
  )
    return 'to-broker';
  if (
    /^\s*(?:broker|server|rig)?\s*->\s*(?:device|module|client|dut)\b/i.test(summary) ||
    /\bfrom the (?:rig|broker|server)\b/i.test(summary)
  )
    return 'to-module';
  return undefined;
}

/** The MQTT packet name in a summary such as `device -> CONNECT v4 ...` or `-> device CONNACK rc=0`. */
function packetFromSummary(summary: string): string | undefined {
  const m =
    /\b(CONNECT|CONNACK|PUBLISH|PUBACK|PUBREC|PUBREL|PUBCOMP|SUBSCRIBE|SUBACK|UNSUBSCRIBE|UNSUBACK|PINGREQ|PINGRESP|DISCONNECT|AUTH)\b/.exec(
      summary,
    );
  return m?.[1]?.toLowerCase();
}

/** Lane, arrow and label of one event (see the file comment). */
export function classifyEvent(e: EvidenceEvent): Pick<TimelineEntry, 'lane' | 'arrow' | 'label' | 'raw' | 'important'> {
  const lane: Lane = MODULE_SOURCES.has(e.source) ? 'module' : BROKER_SOURCES.has(e.source) ? 'broker' : 'both';
  const kind = e.kind.toLowerCase();
  const explicit = explicitArrow(e.data, lane) ?? (lane === 'broker' ? arrowFromSummary(e.summary) : undefined);
  if (e.source === 'tls') {
    const label = TLS_LABELS[kind] ?? e.kind;
    if (kind === 'client-hello') return { lane, arrow: explicit ?? 'to-broker', label };
    if (kind === 'server-hello' || kind === 'certificate' || kind === 'hello-retry-request')
      return { lane, arrow: explicit ?? 'to-module', label };
    if (kind === 'alert') {
      const from = str(e.data?.from)?.toLowerCase();
      const desc = str(e.data?.description) ?? str(e.data?.alert) ?? /\balert:?\s+([a-z_]+)/i.exec(e.summary)?.[1];
      const alertLabel = desc ? `Alert: ${desc}` : 'Alert';
      let arrow = explicit;
      if (!arrow && (from === 'client' || from === 'module')) arrow = 'to-broker';
      if (!arrow && (from === 'server' || from === 'broker' || e.data?.sent === true)) arrow = 'to-module';
      return { lane, arrow, label: alertLabel, important: true };
    }
    return { lane, arrow: explicit, label };
  }
  if (e.source === 'mqtt') {
    const cmd = (
      kind === 'packet' ? (str(e.data?.cmd) ?? str(e.data?.type) ?? packetFromSummary(e.summary) ?? '') : kind
    ).toLowerCase();
    if (cmd !== '') {
      const label = cmd.toUpperCase();
      if (MQTT_TO_BROKER.has(cmd)) return { lane, arrow: explicit ?? 'to-broker', label };
      if (MQTT_TO_MODULE.has(cmd)) return { lane, arrow: explicit ?? 'to-module', label };
      if (MQTT_EITHER.has(cmd)) return { lane, arrow: explicit, label };
    }
    return { lane, arrow: explicit, label: e.kind };
  }
  if (e.source === 'link') return { lane, arrow: explicit, label: e.kind, raw: true };
  if (e.source === 'at' && kind === 'urc') return { lane, arrow: explicit, label: 'URC', important: true };
  if (e.source === 'diagnose' || kind === 'verdict') return { lane, arrow: explicit, label: e.kind, important: true };
  return { lane, arrow: explicit, label: e.kind };
}

/** The events of one test, sorted by time, as timeline entries relative to the first one (without `data`). */
export function buildTimeline(events: readonly EvidenceEvent[]): TimelineEntry[] {
  const sorted = events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.t - b.e.t || a.i - b.i)
    .map(({ e }) => e);
  const t0 = sorted[0]?.t ?? 0;
  return sorted.map((e) => {
    const c = classifyEvent(e);
    // `data` stays in events.jsonl: the page draws summaries, and data (cipher lists, certificate
    // details) would multiply the size of index.html.
    const summary = e.summary.length > MAX_SUMMARY_CHARS ? `${e.summary.slice(0, MAX_SUMMARY_CHARS)} [...]` : e.summary;
    const entry: TimelineEntry = {
      dt: Math.round((e.t - t0) * 10) / 10,
      ...c,
      source: e.source,
      kind: e.kind,
      summary,
    };
    if (e.scope !== undefined) entry.scope = e.scope;
    return entry;
  });
}
