/**
 * The physical floor of a test: the least time ANY harness could take against the module, given
 * what the test made the module do (its evidence) and how fast that module is (its `Timing`,
 * harness/timing.ts). A pure function of the two, so a run can say how far above it it stays.
 *
 * The model, stated once (docs/report.md "Physical floor"):
 * - **Line**: every byte of the AT transcript, both directions, at the line rate. An AT exchange
 *   is a request then its answer, so the two directions are counted one after the other (they
 *   overlap only when a URC arrives while a command goes out: rare, and ignored). Commands count
 *   their `\r`, lines, finals and URCs their `\r\n`, uploads their bytes and the `+++`. A line the
 *   transcript redacted counts at its redacted length.
 * - **Module latencies** from the Timing: a flash write per store that ended `OK` (per item + per
 *   kB of the bytes sent) and one per delete that ended `OK`; a boot per `READY`; the TLS costs
 *   of each handshake the rig recorded (key exchange, the server's signature by its leaf's key
 *   kind, one verify per certificate of the server chain by its signer's key kind, and the
 *   module's signature when it presented a client
 *   certificate; a handshake the module refused with an alert counts its verifies only); one
 *   CONNACK per `+KMQTT_IND: <id>,1`; one publish per `AT+KMQTTPUB` that ended `OK`; one Wi-Fi
 *   join per `+SRWSTASTATUS: 1,…`.
 * - **Waits the protocol or the test needs**: the profile's upload guard time before and after
 *   each `+++`, and every wait the test exists to observe (a quiet window, a timeout the module
 *   must reach), which the test states as a `suite`/`observed-wait` event.
 * All parts add up: the module does one thing at a time, and the harness waits on each. Where
 * the evidence cannot say which kind of key was used, the cheapest known kind is taken, so the
 * floor stays a lower bound.
 */
import { X509Certificate } from 'node:crypto';
import type { EvidenceEvent } from '../evidence.ts';
import { flashWriteMs, timingLineMs, tlsWorkMs, TIMING_KEY_KINDS, type Timing, type TimingKeyKind } from '../timing.ts';

/** The parts of a floor, ms each (rounded to 0.1 ms). */
export interface FloorParts {
  /** Transcript bytes at the line rate. */
  line: number;
  flash: number;
  boot: number;
  tls: number;
  connack: number;
  publish: number;
  wifi: number;
  /** The profile's guard time around each `+++`. */
  guard: number;
  /** Waits the test exists to observe (`observed-wait` events). */
  observed: number;
}

export interface Floor {
  floorMs: number;
  parts: FloorParts;
  /** Transcript bytes counted, each direction. */
  bytes: { tx: number; rx: number };
}

export interface FloorInput {
  /** The test's evidence events (any sources; only `at`, `tls` and `suite` ones are read). */
  events: ReadonlyArray<EvidenceEvent>;
  timing: Timing;
  /** The module's own upload guard time (the profile's `uploads.guardTimeMs`), ms. */
  uploadGuardMs: number;
  /** The kind of the module's own key, when known (for the mutual-TLS signature). */
  clientKeyKind?: TimingKeyKind;
}

/** The event a rig's server chain is announced by (`testRigs` emits it when a TLS rig starts). */
export const SERVER_CHAIN_EVENT = 'server-chain';
/** The event a test states a wait it exists to observe with (`TestEvidence.observe`). */
export const OBSERVED_WAIT_EVENT = 'observed-wait';

const CRLF = 2;

/** Compute the floor (see the file comment for the model). */
export function computeFloor(input: FloorInput): Floor {
  const { timing: t } = input;
  const parts: FloorParts = {
    line: 0,
    flash: 0,
    boot: 0,
    tls: 0,
    connack: 0,
    publish: 0,
    wifi: 0,
    guard: 0,
    observed: 0,
  };
  let tx = 0;
  let rx = 0;
  // One command in flight (the AT engine's rule): the next final answers the last command.
  let command: string | undefined;
  let uploadBytes: number | undefined;
  let verifyKinds: TimingKeyKind[] = [];
  const cheapestSign = TIMING_KEY_KINDS.reduce((a, k) => (t.tls.signMs[k] < t.tls.signMs[a] ? k : a));
  for (const e of input.events) {
    if (e.source === 'suite' && e.kind === SERVER_CHAIN_EVENT) {
      verifyKinds = ((e.data?.['verifyKinds'] as unknown[] | undefined) ?? []).filter(isKind);
    } else if (e.source === 'suite' && e.kind === OBSERVED_WAIT_EVENT) {
      parts.observed += Math.max(0, Number(e.data?.['ms'] ?? 0) || 0);
    } else if (e.source === 'tls' && (e.kind === 'tls-outcome' || e.kind === 'alert')) {
      const verify = verifyKinds.reduce((sum, k) => sum + t.tls.verifyPerCertMs[k], 0);
      if (e.kind === 'tls-outcome') {
        const presented = (e.data?.['tls'] as { peerCert?: unknown } | undefined)?.peerCert !== undefined;
        // The module's handshake work as the timing defines it (the virtual module spends the same).
        parts.tls += tlsWorkMs(t, {
          verified: verifyKinds,
          ...(presented ? { signed: input.clientKeyKind ?? cheapestSign } : {}),
        });
      } else if (/from the device/.test(e.summary)) {
        // The module refused the server: it verified the chain (its key exchange never ran).
        parts.tls += verify;
      }
    } else if (e.source === 'at') {
      switch (e.kind) {
        case 'command':
          tx += Buffer.byteLength(e.summary) + 1;
          command = e.summary;
          uploadBytes = undefined;
          break;
        case 'data': {
          const n = Number(e.data?.['bytes'] ?? 0) || 0;
          tx += n + 3; // the bytes and `+++`
          uploadBytes = n;
          parts.guard += 2 * input.uploadGuardMs;
          break;
        }
        case 'final':
          rx += Buffer.byteLength(e.summary) + CRLF;
          if (e.summary === 'OK' && command !== undefined) {
            if (uploadBytes !== undefined && /^AT\+(KCERTSTORE|KPRIVKSTORE)=/.test(command))
              parts.flash += flashWriteMs(t, uploadBytes);
            else if (/^AT\+(KCERTDELETE|KPRIVKDELETE)=/.test(command)) parts.flash += t.flash.perItemMs;
            else if (/^AT\+KMQTTPUB=/.test(command)) parts.publish += t.mqtt.publishMs;
          }
          if (e.summary !== 'CONNECT') command = undefined;
          break;
        case 'line':
          rx += Buffer.byteLength(e.summary) + CRLF;
          break;
        case 'urc':
          rx += Buffer.byteLength(e.summary) + CRLF;
          if (/^\+KMQTT_IND: *\d+, *1\b/.test(e.summary)) parts.connack += t.mqtt.connackMs;
          else if (/^\+SRWSTASTATUS: *1\b/.test(e.summary)) parts.wifi += t.wifi.joinMs;
          break;
        case 'reset':
          rx += 'READY'.length + CRLF;
          parts.boot += t.bootMs;
          break;
        case 'garbage':
          rx += Number(e.data?.['bytes'] ?? 0) || 0;
          break;
        default:
          break;
      }
    }
  }
  parts.line = timingLineMs(t, tx + rx);
  for (const k of Object.keys(parts) as Array<keyof FloorParts>) parts[k] = Math.round(parts[k] * 10) / 10;
  const floorMs = Math.round(Object.values(parts).reduce((a, b) => a + b, 0));
  return { floorMs, parts, bytes: { tx, rx } };
}

function isKind(k: unknown): k is TimingKeyKind {
  return (TIMING_KEY_KINDS as readonly unknown[]).includes(k);
}

/**
 * The kind of a certificate's public key as the timing model knows it (the virtual module's
 * rule, harness/sim/net/handshake-cpu.ts): RSA up to 2048 bits is rsa2048, larger rsa4096, any
 * EC key ecP256.
 */
export function keyKindOf(cert: X509Certificate): TimingKeyKind {
  const k = cert.publicKey;
  if (k.asymmetricKeyType === 'rsa' || k.asymmetricKeyType === 'rsa-pss')
    return (k.asymmetricKeyDetails?.modulusLength ?? 2048) > 2048 ? 'rsa4096' : 'rsa2048';
  return 'ecP256';
}

/** The PEM certificates of a bundle, parsed (unparseable blocks skipped). */
export function certsOf(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      // a deliberately broken certificate (a scenario's): nothing the module can verify it with
    }
  }
  return out;
}

/**
 * What the module verifies of a served chain: the server's signature over the key exchange (by
 * the leaf's key kind), then one signature per certificate that is not self-signed, by its
 * signer's key kind (the signer found in the chain or among `anchors`, the roots the rig knows).
 */
export function verifyKindsOf(chainPem: string, anchorPems: ReadonlyArray<string>): TimingKeyKind[] {
  const chain = certsOf(chainPem);
  const known = [...chain, ...anchorPems.flatMap(certsOf)];
  const out: TimingKeyKind[] = chain[0] ? [keyKindOf(chain[0])] : [];
  for (const c of chain) {
    if (c.issuer === c.subject && c.checkIssued(c)) continue; // a root sent along: the module holds its own
    const signer = known.find((s) => s !== c && c.checkIssued(s) && safeVerify(c, s));
    // A signer the rig does not know: the module cannot verify the certificate either (it
    // stops there), so nothing is counted and the floor stays a lower bound.
    if (signer) out.push(keyKindOf(signer));
  }
  return out;
}

function safeVerify(c: X509Certificate, signer: X509Certificate): boolean {
  try {
    return c.verify(signer.publicKey);
  } catch {
    return false;
  }
}
