/**
 * The evidence funnel (docs/STYLE.md §11): every source of evidence (link bytes, AT commands,
 * responses and URCs, TLS ClientHello/alerts, MQTT packets, simulator events, verdicts) is
 * published here as a timestamped event, and reporters and the diagnoser subscribe. Drivers
 * never write files; a subscriber that throws is detached and reported once, and cannot
 * break the run (labgrid's StepEvent subscribers).
 *
 * Timestamps are monotonic milliseconds (`performance.now()` of this process, via an
 * injectable clock) so events from the module's side and the broker's side line up on one
 * timeline; `wall` is the ISO wall-clock time for humans.
 */
import createDebug from 'debug';

const debug = createDebug('bx-hil:evidence');

export type EvidenceSource =
  'link' | 'at' | 'driver' | 'tls' | 'mqtt' | 'broker' | 'sim' | 'dns' | 'ntp' | 'diagnose' | 'suite';

export interface EvidenceEvent {
  /** Monotonic milliseconds. */
  t: number;
  /** Wall-clock ISO time. */
  wall: string;
  source: EvidenceSource;
  /** What happened, e.g. `tx`, `rx`, `command`, `urc`, `client-hello`, `packet`, `verdict`. */
  kind: string;
  /** Which connection/device/session this belongs to, when known (e.g. `conn-3`, `dev0`). */
  scope?: string;
  /** One line for humans; never contains key material. */
  summary: string;
  /** Structured detail (JSON-serialisable). */
  data?: Record<string, unknown>;
}

export type EvidenceListener = (event: EvidenceEvent) => void;

/** Injectable clock (MQTT.js's Timer idea) so timestamps and timeouts can be faked in tests. */
export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Wall-clock time. */
  wall(): Date;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => new Date(),
};

export class EvidenceBus {
  readonly #listeners = new Set<EvidenceListener>();
  readonly clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
  }

  /** Subscribe; returns the unsubscribe function. */
  subscribe(listener: EvidenceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: Omit<EvidenceEvent, 't' | 'wall'> & { t?: number }): EvidenceEvent {
    const full: EvidenceEvent = { ...event, t: event.t ?? this.clock.now(), wall: this.clock.wall().toISOString() };
    for (const listener of this.#listeners) {
      try {
        listener(full);
      } catch (err) {
        // A broken reporter must not break the run: detach it and say so once.
        this.#listeners.delete(listener);
        debug('evidence subscriber threw and was detached: %O', err);
        process.emitWarning(`bx-hil: an evidence subscriber threw and was detached: ${String(err)}`);
      }
    }
    return full;
  }
}

/** Collects every event in memory (for tests, bundles and the diagnoser). */
export class EvidenceRecorder {
  readonly events: EvidenceEvent[] = [];
  readonly #unsubscribe: () => void;

  constructor(bus: EvidenceBus) {
    this.#unsubscribe = bus.subscribe((e) => this.events.push(e));
  }

  stop(): void {
    this.#unsubscribe();
  }
}
