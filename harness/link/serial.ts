/**
 * `serial:/dev/ttyUSB0?baud=115200&databits=8&parity=none&stopbits=1&rtscts=1` (a bare
 * `/dev/...` path means the same): a local serial port through serialport 13.
 *
 * - Options: see options.ts (`parseSerialOptions`); defaults 115200 8N1, no flow control.
 * - Ports are never enumerated: `SerialPort.list()` needs udevadm, which is absent here and
 *   kills the process when its rejection goes unhandled (docs/reference/dependencies.md P10). Take paths from
 *   configuration; prefer `/dev/serial/by-id/...`, which survives re-plugging.
 * - serialport locks the port (`lock: true`), so a second opener gets EBUSY-style
 *   "Cannot lock port", mapped to `LinkOpenError` reason `EBUSY`.
 * - A PTY has no modem-control lines: `port.set({dtr, rts})` fails with "Inappropriate ioctl
 *   for device" (P9); `setSignals` turns that into `LinkUnsupportedError`.
 * - When the far side of a PTY goes away, the loss surfaces only on the next write (EIO), not
 *   at once (docs/reference/dependencies.md §2.3); a USB adapter unplugged fails the pending read at once.
 *   Either way the link closes with `BXHIL_LINK_DISCONNECTED`.
 */
import createDebug from 'debug';
import { SerialPort } from 'serialport';
import { LinkError, LinkOpenError, LinkUnsupportedError, type LinkOpenReason } from './errors.ts';
import { LinkBase } from './base.ts';
import { checkLineSettings, parseSerialOptions } from './options.ts';
import type { LineSettings, LinkSignals } from './types.ts';

const debug = createDebug('bx-hil:link:serial');

/** How long close() waits for the OS to drain output (tcdrain) before closing anyway. */
const DRAIN_TIMEOUT_MS = 2_000; // 2 s: with rtscts and CTS held low, tcdrain never returns

/** The device path of a `serial:` URI (`serial:/dev/ttyUSB0?...` → `/dev/ttyUSB0`). */
export function serialPathOf(url: URL): string {
  return decodeURIComponent(url.pathname);
}

const FIX_ENOENT = 'check the cable, or use a stable /dev/serial/by-id/... path';
const FIX_EACCES = 'add the user to the `dialout` group (sudo usermod -aG dialout $USER) and log in again';
const FIX_EBUSY =
  'another program has it open (a terminal such as minicom/screen, ModemManager, or another bx-hil run): close it';

/**
 * Map an error from opening a serial port to one `LinkOpenError` whose message names the fix.
 * bindings-cpp errors carry no `code`, only text such as
 * "Error: No such file or directory, cannot open /dev/x", so both `code` and text are checked.
 */
export function mapSerialOpenError(uri: string, path: string, err: unknown): LinkOpenError {
  const code = (err as { code?: unknown } | null)?.code;
  const text = err instanceof Error ? err.message : String(err);
  const is = (c: string, re: RegExp): boolean => code === c || re.test(text);
  let reason: LinkOpenReason;
  let message: string;
  if (is('ENOENT', /no such file or directory/i)) {
    reason = 'ENOENT';
    message = `no such device ${path}: ${FIX_ENOENT}`;
  } else if (is('EACCES', /permission denied/i) || code === 'EPERM') {
    reason = 'EACCES';
    message = `permission denied on ${path}: ${FIX_EACCES}`;
  } else if (is('EBUSY', /cannot lock port|resource temporarily unavailable|device or resource busy/i)) {
    reason = 'EBUSY';
    message = `${path} is busy: ${FIX_EBUSY}`;
  } else if (is('ENOTTY', /inappropriate ioctl/i)) {
    reason = 'ENOTTY';
    message = `${path} is not a serial port (the terminal ioctls fail): point the device URI at a tty such as /dev/ttyUSB0`;
  } else {
    reason = 'OTHER';
    message = `cannot open ${path}: ${text}; check the device path and the line options in ${uri}`;
  }
  return new LinkOpenError(uri, reason, message, { cause: err });
}

/** The link contract over an open `SerialPort`. Made by `openSerialLink`. */
export class SerialLink extends LinkBase {
  readonly path: string;
  readonly #port: SerialPort;
  #settings: Required<LineSettings>;

  constructor(uri: string, path: string, port: SerialPort, settings: Required<LineSettings>) {
    super(uri);
    this.path = path;
    this.#port = port;
    this.#settings = settings;
    port.on('data', (chunk: Buffer) => this.deliver(chunk));
    port.on('error', (err) => this.lose(err));
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) =>
      this.lose(err ?? new Error('the port closed unexpectedly')),
    );
  }

  /** The line settings in force. */
  get settings(): Readonly<Required<LineSettings>> {
    return this.#settings;
  }

  protected sendBytes(buf: Buffer, done: (err?: Error | null) => void): void {
    this.#port.write(buf, done);
  }

  async setSignals(signals: LinkSignals): Promise<void> {
    if (!this.isOpen) throw this.closedError('set DTR/RTS on');
    const opts: { dtr?: boolean; rts?: boolean } = {};
    if (signals.dtr !== undefined) opts.dtr = signals.dtr;
    if (signals.rts !== undefined) opts.rts = signals.rts;
    await new Promise<void>((resolve, reject) => {
      this.#port.set(opts, (err) => {
        if (!err) return resolve();
        reject(
          /inappropriate ioctl/i.test(err.message)
            ? new LinkUnsupportedError(
                this.uri,
                'setSignals',
                `${this.path} has no modem-control lines (a PTY or a socat/ser2net pipe cannot carry DTR/RTS): reset the module by power or with AT commands, or use the real serial port or rfc2217://`,
                { cause: err },
              )
            : new LinkUnsupportedError(
                this.uri,
                'setSignals',
                `setting DTR/RTS on ${this.path} failed: ${err.message}`,
                {
                  cause: err,
                },
              ),
        );
      });
    });
  }

  /** Only `baudRate` can change on an open port (serialport's `update`); others need a reopen. */
  async updateSettings(settings: Partial<LineSettings>): Promise<void> {
    if (!this.isOpen) throw this.closedError('update settings of');
    checkLineSettings(settings, this.uri);
    const others = (Object.keys(settings) as (keyof LineSettings)[]).filter(
      (k) => k !== 'baudRate' && settings[k] !== undefined && settings[k] !== this.#settings[k],
    );
    if (others.length > 0) {
      throw new LinkUnsupportedError(
        this.uri,
        'updateSettings',
        `serial links can change only baudRate while open, not ${others.join(', ')}: close the link and reopen it with the new options in the URI`,
      );
    }
    const { baudRate } = settings;
    if (baudRate === undefined || baudRate === this.#settings.baudRate) return;
    await new Promise<void>((resolve, reject) => {
      this.#port.update({ baudRate }, (err) =>
        err
          ? reject(
              new LinkUnsupportedError(
                this.uri,
                'updateSettings',
                `${this.path} refused baud rate ${baudRate}: ${err.message}`,
                { cause: err },
              ),
            )
          : resolve(),
      );
    });
    this.#settings = { ...this.#settings, baudRate };
  }

  /** Graceful: pending writes reach the OS, the OS sends them out, then the port closes. */
  protected async shutdown(): Promise<void> {
    await this.#drain();
    await this.#closePort();
  }

  protected abort(): void {
    void this.#closePort();
  }

  #drain(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        debug('%s: drain did not finish in %d ms; closing anyway', this.uri, DRAIN_TIMEOUT_MS);
        resolve();
      }, DRAIN_TIMEOUT_MS);
      this.#port.drain(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #closePort(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (!this.#port.isOpen) return resolve();
      this.#port.close((err) => {
        if (err) debug('%s: close: %s', this.uri, err.message);
        resolve();
      });
    });
  }

  protected override lossError(cause: unknown): LinkError {
    return new LinkError(
      'BXHIL_LINK_DISCONNECTED',
      this.uri,
      `${this.path} disconnected${cause instanceof Error ? ` (${cause.message})` : ''}: check the cable and that the adapter is still present, then reopen the link`,
      { cause },
    );
  }
}

/** Open a `serial:` URI (or a bare `/dev/...` path, already normalised by `parseLinkUri`). */
export async function openSerialLink(url: URL, raw: string = url.href): Promise<SerialLink> {
  const path = serialPathOf(url);
  const settings = parseSerialOptions(url);
  if (path === '' || path === '/') {
    throw new LinkOpenError(
      raw,
      'ENOENT',
      `no device path in "${raw}": use serial:/dev/ttyUSB0 or serial:/dev/serial/by-id/...`,
    );
  }
  const port = new SerialPort({
    path,
    baudRate: settings.baudRate,
    dataBits: settings.dataBits,
    parity: settings.parity,
    stopBits: settings.stopBits,
    rtscts: settings.rtscts,
    autoOpen: false,
  });
  // An error before the link owns the port must not become an uncaught 'error' event.
  const early = (err: Error): void => debug('%s: early error %s', raw, err.message);
  port.on('error', early);
  try {
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  } catch (err) {
    throw mapSerialOpenError(raw, path, err);
  } finally {
    port.off('error', early);
  }
  debug('%s open at %d baud', path, settings.baudRate);
  return new SerialLink(raw, path, port, settings);
}
