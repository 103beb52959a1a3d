/**
 * The verdicts a rig has given, and the ways to wait for one. Shared by the aedes rig and the
 * external-broker rigs so `waitForVerdict`/`onVerdict` behave the same behind every broker.
 */
import createDebug from 'debug';
import { VerdictTimeoutError } from './errors.ts';
import type { Verdict } from './types.ts';

const debug = createDebug('bx-hil:broker');

export class VerdictLog {
  readonly verdicts: Verdict[] = [];
  readonly #listeners = new Set<(v: Verdict) => void>();
  readonly #rig: string;

  /** `rig` names the broker in timeout errors (aedes, mosquitto, container). */
  constructor(rig: string) {
    this.#rig = rig;
  }

  /** Record a verdict and tell the listeners; a listener that throws cannot break the rig. */
  add(v: Verdict): void {
    this.verdicts.push(v);
    for (const cb of this.#listeners) {
      try {
        cb(v);
      } catch (err) {
        debug('verdict listener threw: %O', err);
      }
    }
  }

  onVerdict(cb: (v: Verdict) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** The first verdict (already given or still to come) that passes `filter`, within `timeoutMs`. */
  waitForVerdict(filter: (v: Verdict) => boolean = () => true, timeoutMs = 10_000): Promise<Verdict> {
    const found = this.verdicts.find(filter);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(
          new VerdictTimeoutError(
            this.#rig,
            timeoutMs,
            this.verdicts.map((v) => v.code),
          ),
        );
      }, timeoutMs);
      const off = this.onVerdict((v) => {
        if (!filter(v)) return;
        clearTimeout(timer);
        off();
        resolve(v);
      });
    });
  }

  /** Drop every listener (the rig is closing). */
  clearListeners(): void {
    this.#listeners.clear();
  }
}
