/**
 * The engine's receiving side: bytes from the link become frames (`AtFramer`), and each line is
 * sorted into echo, URC, final result, a command's information line or garbage (the rules are in
 * engine.ts's header). Every byte is recorded in the transcript; a line holding registered key
 * material is redacted here, before anyone sees it.
 */
import createDebug from 'debug';
import { ModuleResetError } from './errors.ts';
import { failExchange, settle, type Emit, type Exchange, type ExchangeState } from './exchange.ts';
import { AtFramer, finalKindOf, type Frame } from './framer.ts';
import type { ParsedAtEngineOptions } from './options.ts';
import { escapeRedacted, type Transcript } from './transcript.ts';
import type { UrcRouter } from './urc-router.ts';
import { linePrefix, parseParams, type Urc } from './urc.ts';

const debug = createDebug('bx-hil:at');

export interface ReceiverOptions {
  state: ExchangeState;
  options: ParsedAtEngineOptions;
  transcript: Transcript;
  router: UrcRouter;
  emit: Emit;
}

export class Receiver {
  readonly #s: ExchangeState;
  readonly #o: ParsedAtEngineOptions;
  readonly #transcript: Transcript;
  readonly #router: UrcRouter;
  readonly #emit: Emit;
  readonly #framer: AtFramer;
  readonly #recentSent: string[] = [];
  readonly #rxBlank: Buffer[] = [];
  #seq = 0;
  #secretEchoes = 0;

  constructor(o: ReceiverOptions) {
    this.#s = o.state;
    this.#o = o.options;
    this.#transcript = o.transcript;
    this.#router = o.router;
    this.#emit = o.emit;
    this.#framer = new AtFramer(this.#o.framer);
  }

  /** The sequence number of the last URC received. */
  get seq(): number {
    return this.#seq;
  }

  /** How many lines from the module held registered key material. */
  get secretEchoes(): number {
    return this.#secretEchoes;
  }

  /** A command was sent: its echo may still come late. */
  sent(cmd: string): void {
    this.#recentSent.push(cmd);
    if (this.#recentSent.length > 4) this.#recentSent.shift();
  }

  /** Bytes received but not yet a line (for a timeout's tail). */
  pending(): Buffer {
    return this.#framer.peek();
  }

  /** Record what is left in the framer (the engine closes). */
  flush(): void {
    this.#recordRx(Buffer.concat(this.#framer.flush().map((f) => f.raw)));
  }

  /** Bytes from the link. */
  push(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#framer.push(chunk);
    } catch (err) {
      debug('framer failed: %O', err);
      return;
    }
    for (const f of frames) this.#frame(f);
  }

  #frame(f: Frame): void {
    let text = f.text;
    if (f.terminated && text === '') {
      // Blank line ends (the CRLF before a result): recorded with the next line, so the
      // transcript reads `< <CR><LF>OK<CR><LF>`.
      this.#rxBlank.push(f.raw);
      return;
    }
    this.#recordRx(f.raw);
    if (this.#transcript.secrets.hasKeyMaterial(text)) {
      // Nobody downstream (the driver, a test's assertion message) gets to see the key.
      text = this.#secretEcho(text, !f.terminated);
    }
    if (!f.terminated) {
      // A run longer than maxFrameBytes without a line end: garbage.
      this.#garbage(text);
      return;
    }
    if (text.trim() === '') return;
    const ex = this.#s.exchange;
    if (ex && !ex.echoDone && (text === ex.sent || this.#isNoisyEcho(text, ex.sent))) {
      ex.echoDone = true;
      this.#s.echo = true;
      if (text !== ex.sent) this.#garbage(text.slice(0, text.length - ex.sent.length));
      return;
    }
    if (this.#recentSent.includes(text) && !finalKindOf(text)) return; // a late echo of an earlier command
    const def = this.#o.urcs.match(text, ex?.prefix);
    if (ex && !ex.echoDone && !def) {
      // The first answer line that is not a URC is not the echo: echo is off (ATE0).
      ex.echoDone = true;
      this.#s.echo = false;
    }
    if (def) {
      const urc = this.#o.urcs.parse(def, text, ++this.#seq, this.#o.now());
      if (urc.name === 'READY') this.#reset(ex);
      this.#deliver(urc);
      return;
    }
    const fk = finalKindOf(text);
    if (fk) {
      const shown = this.#transcript.redact(text);
      if (!ex) {
        // A final result nobody waits for: a late answer to a timed-out command. Resync first;
        // a late CONNECT means the module sits in data mode, so the resync escapes it first.
        this.#s.needsResync = true;
        if (fk.kind === 'CONNECT') this.#s.inDataMode = true;
        this.#emit('line', shown, { unsolicited: true });
        return;
      }
      if (this.#o.bus) {
        this.#emit(
          'final',
          shown,
          fk.cmeCode !== undefined ? { command: ex.shown, code: fk.cmeCode } : { command: ex.shown },
        );
      }
      if (debug.enabled) debug('< %s (%s)', shown, ex.shown);
      settle(
        ex,
        fk.kind === 'CME'
          ? { kind: 'CME', cmeCode: fk.cmeCode!, ...(fk.cmeText !== undefined ? { cmeText: fk.cmeText } : {}) }
          : { kind: fk.kind as 'OK' | 'ERROR' | 'CONNECT' },
      );
      return;
    }
    if (ex) {
      ex.lines.push(text);
      this.#emit('line', this.#transcript.redact(text), { command: ex.shown });
      return;
    }
    if (/^\+[A-Z0-9_]+:/i.test(text)) {
      // An unsolicited line shaped like a URC the registry does not know: deliver it anyway.
      const urc: Urc = {
        name: linePrefix(text),
        params: parseParams(text.slice(text.indexOf(':') + 1).replace(/^ /, '')),
        line: text,
        seq: ++this.#seq,
        t: this.#o.now(),
      };
      this.#deliver(urc);
      return;
    }
    this.#garbage(text);
  }

  /**
   * An echo behind line noise (`\x00\xffAT+X`): only when the prefix holds non-printable bytes
   * or echo is known to be on, so an answer line that merely ends like the command is not eaten.
   */
  #isNoisyEcho(text: string, sent: string): boolean {
    if (!text.endsWith(sent)) return false;
    return this.#s.echo === true || /[^\x20-\x7e]/.test(text.slice(0, text.length - sent.length));
  }

  #recordRx(raw: Buffer): void {
    if (this.#rxBlank.length > 0) {
      const parts = this.#rxBlank.splice(0);
      parts.push(raw);
      this.#transcript.rx(parts);
    } else if (raw.length > 0) {
      this.#transcript.rx(raw);
    }
  }

  #garbage(text: string): void {
    this.#s.needsResync = true;
    // Redacting a long garbage line costs: only done when someone listens (a flood stays cheap).
    if (this.#o.bus)
      this.#emit('garbage', escapeRedacted(this.#transcript.redact(text, true)).slice(0, 200), { bytes: text.length });
  }

  /** A line holding registered key material: count it, say so, taint the exchange; returns the line redacted. */
  #secretEcho(text: string, unterminated: boolean): string {
    this.#secretEchoes++;
    const ex = this.#s.exchange;
    if (ex) ex.secretEcho = true;
    const shown = this.#transcript.redact(text, unterminated);
    this.#emit(
      'secret-echo',
      `SECURITY FAILURE: the module echoed stored key material${ex ? ` in its answer to ${ex.shown}` : ''}: ${escapeRedacted(shown).slice(0, 200)}`,
      ex ? { command: ex.shown, securityFailure: true } : { securityFailure: true },
    );
    return shown;
  }

  #reset(ex: Exchange | undefined): void {
    this.#emit('reset', 'READY: the module (re)started', ex ? { command: ex.shown } : {});
    this.#s.echo = undefined;
    if (!ex) return;
    if (ex.expectReset) {
      settle(ex, { kind: 'READY' });
      return;
    }
    this.#s.inDataMode = false;
    failExchange(this.#s, ex, new ModuleResetError(ex.shown));
  }

  #deliver(urc: Urc): void {
    this.#router.remember(urc);
    this.#emit('urc', this.#transcript.redact(urc.line), {
      name: urc.name,
      params: urc.params.map((p) => (typeof p === 'string' ? this.#transcript.redact(p) : p)),
    });
    this.#router.dispatch(urc);
  }
}
