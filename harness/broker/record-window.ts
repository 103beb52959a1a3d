/**
 * What a rig keeps of its ended connections: `records` and their verdicts under a byte budget
 * (a RollingWindow), the oldest leaving with one `records-dropped` evidence event per trim.
 * Shared by the aedes rig and the Mosquitto/container rigs, so a bench session of days stays
 * bounded behind every broker.
 */
import type { EvidenceBus } from '../evidence.ts';
import type { ConnectionRecord } from './types.ts';
import { RollingWindow, type VerdictLog } from './verdict-log.ts';

export class RecordWindow {
  readonly #window: RollingWindow<ConnectionRecord>;
  readonly #records: ConnectionRecord[];
  readonly #verdicts: VerdictLog;
  readonly #bus: EvidenceBus;
  readonly #onDrop: (ids: ReadonlySet<string>) => void;

  /**
   * `records` is the rig's live array (live and ended connections, in accept order): dropped
   * records are spliced out of it. `onDrop` lets the rig forget its own state of those ids.
   */
  constructor(
    capBytes: number,
    records: ConnectionRecord[],
    verdicts: VerdictLog,
    bus: EvidenceBus,
    onDrop: (ids: ReadonlySet<string>) => void = () => undefined,
  ) {
    this.#window = new RollingWindow(capBytes);
    this.#records = records;
    this.#verdicts = verdicts;
    this.#bus = bus;
    this.#onDrop = onDrop;
  }

  /**
   * An ended record joins the window; past the budget the oldest ended records leave `records`
   * (with their verdicts), and one `records-dropped` event says so. Each was judged and
   * published on the bus when it happened; only the in-memory copy goes.
   */
  retain(rec: ConnectionRecord): void {
    let bytes: number;
    try {
      bytes = Buffer.byteLength(JSON.stringify(rec));
    } catch {
      bytes = 4_096; // not JSON-able (never seen): count it as a large attempt
    }
    const dropped = this.#window.add(rec, bytes);
    if (dropped.length === 0) return;
    const gone = new Set(dropped.map((r) => r.id));
    const records = this.#records;
    let kept = 0;
    for (const r of records) if (!gone.has(r.id)) records[kept++] = r;
    records.length = kept;
    this.#onDrop(gone);
    this.#verdicts.forget((v) => v.connectionId !== undefined && gone.has(v.connectionId));
    const w = this.#window;
    this.#bus.emit({
      source: 'broker',
      kind: 'records-dropped',
      summary:
        `dropped the ${dropped.length} oldest ended connections (${dropped[0]?.id} .. ${dropped.at(-1)?.id}) ` +
        `from memory to stay under ${w.capBytes} bytes; ${w.droppedCount} dropped so far, the last ${records.length} kept`,
      data: {
        dropped: dropped.length,
        first: dropped[0]?.id,
        last: dropped.at(-1)?.id,
        droppedTotal: w.droppedCount,
        droppedBytesTotal: w.droppedBytes,
        keptBytes: w.bytes,
        capBytes: w.capBytes,
      },
    });
  }
}
