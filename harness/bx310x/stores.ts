/**
 * The certificate and key stores (docs/reference/bx310x-at.md §3): which store a kind names,
 * and the `AT+KCERTSTORE?` read form parsed into certificates.
 */
import { createHash } from 'node:crypto';
import { ParameterError, ResponseParseError } from './errors.ts';

/** A stored certificate as the module reads it back: its index, stored length and PEM. */
export interface CertInfo {
  index: number;
  /** Stored length in bytes, as the module reports it. */
  length: number;
  /** The stored PEM as echoed by the read form [BX-T] (line ends rebuilt to match `length` when possible). */
  pem: string;
}

/** `root` is KCERTSTORE type 0, `local` type 1. */
export function certType(kind: unknown): 0 | 1 {
  if (kind === 'root') return 0;
  if (kind === 'local') return 1;
  throw new ParameterError(
    'kind',
    kind,
    `certificate kind must be 'root' (KCERTSTORE type 0) or 'local' (type 1), got ${String(kind)}`,
  );
}

/** The `AT+KCERTSTORE?` read form's information lines [BX-T]: the root certificate (if any) and the local ones. */
export function parseCertStore(lines: string[]): { root?: CertInfo; local: CertInfo[] } {
  const out: { root?: CertInfo; local: CertInfo[] } = { local: [] };
  let current: { kind: string; index: number; length: number; body: string[] } | undefined;
  const flush = (): void => {
    if (!current) return;
    const info: CertInfo = {
      index: current.index,
      length: current.length,
      pem: rebuildPem(current.body, current.length),
    };
    if (current.kind === 'root_cert') out.root = info;
    else out.local.push(info);
    current = undefined;
  };
  for (const line of lines) {
    if (line === '+KCERTSTORE' || line.startsWith('+KCERTSTORE:')) continue;
    const m = /^(root_cert|local_cert),(\d+),(\d+)$/.exec(line.trim());
    if (m) {
      flush();
      current = { kind: m[1]!, index: Number(m[2]), length: Number(m[3]), body: [] };
    } else if (current) {
      current.body.push(line);
    } else {
      throw new ResponseParseError('AT+KCERTSTORE?', line, '+KCERTSTORE, root_cert,<i>,<len> or local_cert,<i>,<len>');
    }
  }
  flush();
  return out;
}

/** Rebuild a PEM echoed line by line so its length matches what the module reports. */
function rebuildPem(body: string[], length: number): string {
  const candidates = [`${body.join('\n')}\n`, body.join('\n'), `${body.join('\r\n')}\r\n`, body.join('\r\n')];
  return candidates.find((c) => Buffer.byteLength(c, 'latin1') === length) ?? candidates[0]!;
}

/** A store slot: the root certificate, local certificate 0..2, private key 0..2. */
export type StoreSlot = 'root' | `local:${number}` | `key:${number}`;

const EMPTY = 'empty';

/** What the ledger keeps of stored bytes: a SHA-256 (never the bytes: a key passes through here). */
export function storeDigest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * What this driver knows its module's stores hold, so a caller can skip an upload or a delete
 * that would leave a slot as it already is (harness/run and suites/helpers.ts `provision`).
 *
 * The truth is the module's flash; the ledger only remembers what it saw done through this
 * driver, and forgets at the first doubt, so "known" is always exact:
 * - every store or delete command (through the driver or raw, `device.at.command`) makes its
 *   slot unknown when it goes out and again when it ends; only the driver's own store or delete
 *   that ended `OK` then records the result;
 * - a command whose slot cannot be told (`AT+KCERTSTORE=1,100` without its index), a restart
 *   (`AT+RST`, `AT&F`, any `READY`) and a new driver (a reopened link) forget everything;
 * - an upload with an `NbData` other than its byte count leaves its slot unknown.
 */
export class StoreLedger {
  readonly #slots = new Map<StoreSlot, string>();

  /** A command goes out or has ended: a store-touching one makes its slots unknown, a restart forgets all. */
  touch(command: string): void {
    const cmd = command.trim().toUpperCase();
    if (/^AT(\+RST|&F)\b/.test(cmd)) return this.forgetAll();
    const m = /^AT\+(KCERTSTORE|KCERTDELETE|KPRIVKSTORE|KPRIVKDELETE)=(?!\?)(.*)$/.exec(cmd);
    if (!m) return;
    const params = m[2]!.split(',').map((p) => p.trim());
    const slot = touchedSlot(m[1]!, params);
    if (slot) this.#slots.delete(slot);
    else this.forgetAll();
  }

  /** The driver stored `bytes` in `slot` and the module said OK. */
  stored(slot: StoreSlot, bytes: Buffer): void {
    this.#slots.set(slot, storeDigest(bytes));
  }

  /** The driver deleted `slot` and the module said OK. */
  emptied(slot: StoreSlot): void {
    this.#slots.set(slot, EMPTY);
  }

  forgetAll(): void {
    this.#slots.clear();
  }

  /** True when `slot` is known to hold exactly `bytes` (as stored with NbData = their length). */
  holds(slot: StoreSlot, bytes: Buffer): boolean {
    const d = this.#slots.get(slot);
    return d !== undefined && d !== EMPTY && d === storeDigest(bytes);
  }

  /** True when `slot` is known to be empty. */
  isEmpty(slot: StoreSlot): boolean {
    return this.#slots.get(slot) === EMPTY;
  }
}

/** The one slot a store/delete command touches, or undefined when it cannot be told. */
function touchedSlot(name: string, p: string[]): StoreSlot | undefined {
  const idx = (s: string | undefined): number | undefined =>
    s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
  switch (name) {
    case 'KCERTSTORE': // <type>,<NbData>[,<index>]
    case 'KCERTDELETE': {
      // <type>[,<index>]
      const type = p[0];
      const i = idx(name === 'KCERTSTORE' ? p[2] : p[1]);
      if (type === '0') return 'root';
      if (type === '1' && i !== undefined) return `local:${i}`;
      return undefined;
    }
    case 'KPRIVKSTORE': // <index>,<NbData>
    case 'KPRIVKDELETE': {
      const i = idx(p[0]);
      return i === undefined ? undefined : `key:${i}`;
    }
    default:
      return undefined;
  }
}
