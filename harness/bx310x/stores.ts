/**
 * The certificate and key stores (docs/reference/bx310x-at.md §3): which store a kind names,
 * and the `AT+KCERTSTORE?` read form parsed into certificates.
 */
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
