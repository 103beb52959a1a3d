/**
 * The data phase shared by AT+KCERTSTORE and AT+KPRIVKSTORE (docs/reference/bx310x-at.md §3, §4): `CONNECT`,
 * the raw PEM bytes, `+++` after the guard time, then the final result. Stored = every byte
 * between CONNECT and `+++` [derived from BX-T read-back lengths].
 *
 * Checks, in order, each a profile knob:
 * - nothing sent → ERROR [guess]
 * - more than `uploads.maxBytes` (3000 [BX-T]) → +CME ERROR: 931 [guess: HL "length invalid"]
 * - a line ending not in `uploads.lineEndings` → plain ERROR ([report]: a pasted certificate,
 *   CR line endings from a terminal, answered ERROR after +++)
 * - `uploads.nbDataMismatch: error` and NbData ≠ bytes received → 931 [HL-T]
 * - `uploads.check`: `armor` wants the BEGIN/END lines, `parse` parses the PEM → 930 [HL-T]
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { flashWriteMs } from '../../timing.ts';
import type { LineEnding } from '../profile.ts';
import { cme, error, ok, type DataSink, type SimContext } from './types.ts';

export function lineEndingsOf(data: Buffer): Set<LineEnding> {
  const found = new Set<LineEnding>();
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0d) {
      if (data[i + 1] === 0x0a) {
        found.add('crlf');
        i++;
      } else found.add('cr');
    } else if (data[i] === 0x0a) found.add('lf');
  }
  return found;
}

const CERT_ARMOR = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/;
const KEY_ARMOR =
  /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+-----END (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

function contentOk(kind: 'cert' | 'key', data: Buffer, check: 'none' | 'armor' | 'parse'): boolean {
  if (check === 'none') return true;
  const text = data.toString('latin1');
  if (!(kind === 'cert' ? CERT_ARMOR : KEY_ARMOR).test(text)) return false;
  if (check === 'armor') return true;
  try {
    if (kind === 'cert') new X509Certificate(data);
    else if (!text.includes('ENCRYPTED')) createPrivateKey(text);
    return true;
  } catch {
    return false;
  }
}

export function uploadSink(
  ctx: SimContext,
  kind: 'cert' | 'key',
  nbData: number | undefined,
  store: (data: Buffer) => void,
): DataSink {
  return {
    onEnd(data) {
      const u = ctx.profile.uploads;
      if (data.length === 0) return error();
      if (data.length > u.maxBytes) return cme(931);
      for (const ending of lineEndingsOf(data)) if (!u.lineEndings.includes(ending)) return error();
      if (u.nbDataMismatch === 'error' && nbData !== undefined && nbData !== data.length) return cme(931);
      if (!contentOk(kind, data, u.check)) return cme(930);
      store(Buffer.from(data));
      ctx.stores.persist();
      // Written to flash before OK (timing.flash; 0 under the instant timing).
      return { ...ok(), delayMs: flashWriteMs(ctx.timing, data.length) };
    },
  };
}
