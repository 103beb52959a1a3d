/**
 * Where the virtual module spends its TLS handshake CPU time (timing.tls, docs/sim.md §Timing):
 * a Duplex between the TLS socket and the TCP socket that holds the module's SECOND flight
 * (TLS 1.2: Certificate, ClientKeyExchange, CertificateVerify, Finished; TLS 1.3: Certificate,
 * CertificateVerify, Finished) for the computed cost. That is where a module running mbedTLS
 * spends it: after ServerHello … ServerHelloDone arrive it verifies the server's chain and its
 * key-exchange signature, computes the key exchange and, for mutual TLS, signs — and only then
 * sends its Finished. So the broker sees the pause between its flight and the module's answer,
 * and a verdict decided by the module's Finished (or by its silence) keeps its timing.
 *
 * The cost is computed when the second flight is written, from what OpenSSL has by then: the
 * server's chain (`getPeerCertificate(true)`) and whether the server asked for a certificate
 * (`getSharedSigalgs()` is non-empty on the client only after a CertificateRequest):
 *
 *   keyExchangeMs
 *   + verifyPerCertMs[kind of the key that signed each server certificate up to the trust anchor]
 *   + verifyPerCertMs[kind of the server's own key] (its signature over the key exchange)
 *   + signMs[kind of the module's key] when it presents a client identity that was asked for
 *
 * Key kinds: RSA up to 2048 bits → rsa2048, larger → rsa4096, any EC key → ecP256 (the model
 * knows no other curve).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { tlsWorkMs, type Timing, type TimingKeyKind } from '../../timing.ts';

export function keyKindOf(key: KeyObject): TimingKeyKind {
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss')
    return (key.asymmetricKeyDetails?.modulusLength ?? 2048) > 2048 ? 'rsa4096' : 'rsa2048';
  return 'ecP256';
}

export interface HandshakeCost {
  ms: number;
  /** Kinds of the keys whose signatures the module checked. */
  verified: TimingKeyKind[];
  /** Kind of the module's own key when it signed. */
  signed?: TimingKeyKind;
}

/** The handshake CPU cost from the server's chain (leaf first), the trust anchor and the module's key. */
export function handshakeCost(
  timing: Timing,
  chain: X509Certificate[],
  anchor: X509Certificate | undefined,
  ownKey: KeyObject | undefined,
): HandshakeCost {
  const verified: TimingKeyKind[] = [];
  const leaf = chain[0];
  if (leaf) verified.push(keyKindOf(leaf.publicKey)); // the server's signature over the key exchange
  if (anchor) {
    for (let i = 0; i < chain.length; i++) {
      const cert = chain[i]!;
      if (cert.fingerprint256 === anchor.fingerprint256) break; // the anchor itself is trusted
      const next = chain[i + 1];
      const signer: X509Certificate | undefined =
        next && cert.checkIssued(next) ? next : cert.checkIssued(anchor) ? anchor : undefined;
      if (!signer) break; // the chain breaks here: verification stops
      verified.push(keyKindOf(signer.publicKey));
      if (signer === anchor) break;
    }
  }
  const signed = ownKey ? keyKindOf(ownKey) : undefined;
  const work = { verified, ...(signed ? { signed } : {}) };
  return { ms: tlsWorkMs(timing, work), ...work };
}

/** The server's chain as OpenSSL has it, leaf first. */
export function peerChain(sock: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let peer = sock.getPeerCertificate(true);
  while (peer && peer.raw && !seen.has(peer.fingerprint256)) {
    seen.add(peer.fingerprint256);
    out.push(new X509Certificate(peer.raw));
    peer = peer.issuerCertificate;
  }
  return out;
}

/**
 * Holds the first write that follows the server's first bytes for `costOf()` ms; everything
 * written after it queues behind it (a Writable calls `_write` one chunk at a time). Destroying
 * it clears the hold: nothing is written late.
 */
export class HandshakeCpu extends Duplex {
  readonly #inner: Duplex;
  readonly #costOf: () => number;
  #heardServer = false;
  #held = false;
  #timer: NodeJS.Timeout | undefined;
  /** Resolves once the second flight has been let through (or nothing was held). */
  readonly released: Promise<void>;
  #release!: () => void;

  constructor(inner: Duplex, costOf: () => number) {
    super();
    this.#inner = inner;
    this.#costOf = costOf;
    this.released = new Promise((resolve) => (this.#release = resolve));
    inner.on('data', (d: Buffer) => {
      this.#heardServer = true;
      if (!this.push(d)) inner.pause();
    });
    inner.once('end', () => this.push(null));
    inner.once('error', (err) => this.destroy(err));
    inner.once('close', () => this.destroy());
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const pass = () => {
      if (this.destroyed) return;
      this.#inner.write(chunk, (err) => done(err));
    };
    if (this.#held || !this.#heardServer) {
      pass();
      return;
    }
    this.#held = true;
    const ms = this.#costOf();
    if (ms <= 0) {
      this.#release();
      pass();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#release();
      pass();
    }, ms);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#inner.end(() => done());
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#release();
    this.#inner.destroy(err ?? undefined);
    done(err);
  }
}
