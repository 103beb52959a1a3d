/**
 * `measureTiming`: time a module's safe operations and turn the figures into a `timing:` block
 * for the lab file (harness/timing.ts is the shape; `bx-hil timing` prints it; docs/first-contact.md).
 *
 * What is measured, and how (each figure the median of `samples` runs, flash the smallest and the
 * line rate the fastest, since a busy host only adds to those; every wait bounded):
 * - line: the longest read-form answer the module gives (`AT+KCERTSTORE?`, `AT+KMQTTCFG?`, `ATI`,
 *   `AT+CGMR`; with writes, `AT+KCERTSTORE?` while a throwaway certificate is stored), timed from
 *   its first read to its last: effective bytes/s, and the baud rate that implies.
 * - boot (writes only: AT+RST drops the Wi-Fi join and every MQTT session): `OK` → `READY`.
 * - flash (writes only): a throwaway certificate of two sizes stored in an EMPTY local slot and
 *   deleted again; `+++` → `OK` per size, a two-point fit gives per item and per kB.
 * - MQTT (no writes: a plain session, as preflight does): CONNACK at the rig → `+KMQTT_IND: <id>,1`
 *   at the host, and AT+KMQTTPUB reaching the module → PUBLISH at the rig.
 * - TLS (writes only: the module must store the rig's root, in an EMPTY root slot): ClientHello →
 *   handshake done at the rig for an RSA-2048 leaf, an RSA-2048 leaf behind 4 intermediates and an
 *   EC P-256 leaf; the extra certificates give the RSA verify cost, the rest the key exchange and
 *   the EC verify cost. With an empty local slot 0 and key slot 0 too, mutual TLS with an RSA and
 *   an EC client key gives the sign cost.
 * - Wi-Fi: only when the lab file gives credentials: AT+SRWSTACON=1 → `+SRWSTASTATUS: 1`.
 *
 * Times come from one clock (`performance.now()`): the link is tapped (bytes in, with their read
 * time; commands out, by name only, never their parameters or upload bytes) and the broker rig
 * records its side on the same clock. Line time is taken off where a figure spans bytes on the
 * wire. A step that fails (the module stops answering) ends the measurement: the result holds
 * what was measured before and names the step.
 */
import { createHash } from 'node:crypto';
import { startBrokerRig, type BrokerRig } from '../broker/index.ts';
import { closeAll } from '../errors.ts';
import { EvidenceBus } from '../evidence.ts';
import type { Link, LineSettings } from '../link/index.ts';
import { parseLinkUri, parseSerialOptions } from '../link/index.ts';
import { issueCertificate, KeyPool, type Issued, type KeySpec } from '../pki/index.ts';
import type { Bx310x } from '../bx310x/index.ts';
import { timingFields, timingSourceOf, type Timing, type TimingKeyKind } from '../timing.ts';
import { chooseProfile } from './device-profile.ts';
import { brokerBindHost, DeviceSession, type TargetOpener } from './device-session.ts';
import type { LabDevice } from './lab.ts';

export type TimingStepName = 'open' | 'line' | 'flash' | 'boot' | 'wifi' | 'mqtt' | 'tls';

export interface TimingStep {
  name: TimingStepName;
  status: 'measured' | 'skipped' | 'failed';
  /** What was found, or why it was skipped or failed (one line, no secrets). */
  detail: string;
}

export interface MeasureTimingOptions {
  device: LabDevice;
  targets: TargetOpener;
  /** Store/delete certificates, reset the module. Default false. */
  allowWrites?: boolean;
  /** Runs per figure (the median is kept). Default 3; 1..20. */
  samples?: number;
  /** Bound on any one answer from the module, ms. Default 10 000. */
  commandTimeoutMs?: number;
  /** Bound on a boot, a connect or a Wi-Fi join, ms. Default 60 000. */
  longTimeoutMs?: number;
  /** Silence around `+++` in uploads, ms. Default the driver's (1 000). */
  guardTimeMs?: number;
  /** The date in the source tags. Default today. */
  now?: () => Date;
  /** Progress lines (one per figure). */
  log?: (line: string) => void;
  /**
   * Why the module cannot reach a broker rig on this host, when the caller knows it cannot
   * (`bx-hil probe` on hardware without `--host-address`): the MQTT and TLS steps are skipped
   * with this reason instead of waiting out a connect. Default: the rigs are reachable.
   */
  noRigs?: string;
}

/** A measured block: only the fields that were measured, each with its source tag. */
export type MeasuredBlock = Partial<Omit<Timing, 'tls' | 'flash' | 'mqtt' | 'wifi' | 'line'>> & {
  name: string;
  line?: Timing['line'];
  flash?: Timing['flash'];
  tls?: {
    keyExchangeMs?: number;
    verifyPerCertMs?: Partial<Record<TimingKeyKind, number>>;
    signMs?: Partial<Record<TimingKeyKind, number>>;
  };
  mqtt?: Partial<Timing['mqtt']>;
  wifi?: Timing['wifi'];
  sources: Record<string, string>;
};

export interface TimingMeasurement {
  uri: string;
  model?: string;
  firmware?: string;
  /** `[measured <date> fw <AT+CGMR>]`. */
  tag: string;
  block: MeasuredBlock;
  steps: TimingStep[];
  /** The line figures behind `line` (also when too short to give a rate). */
  line?: {
    command: string;
    bytes: number;
    spanMs: number;
    /** Effective: first read to last, the module's pauses between lines included. */
    bytesPerSecond?: number;
    /** `bytesPerSecond` times the bits a byte takes on the wire. */
    impliedBaud?: number;
    /** While bytes flow (the median rate between reads): close to the UART's rate. */
    flowBytesPerSecond?: number;
    settings?: LineSettings;
  };
  /** The step that ended the measurement early (the module stopped answering), if any. */
  failed?: TimingStep;
  /**
   * The profile the module is matched to (harness/run/device-profile.ts) and its realistic
   * values for what was NOT measured, with their tags: a lab file's block is read over the
   * profile's, so these are what a run keeps using.
   */
  profile?: { name: string; notMeasured: Array<{ field: string; value: number; source: string }> };
  /** What the measurement cost on the link: commands and `+++` written, bytes each way. */
  wire?: { writes: number; txBytes: number; rxBytes: number };
}

export const MEASURE_DEFAULTS = Object.freeze({
  samples: 3,
  commandTimeoutMs: 10_000, // 10 s
  longTimeoutMs: 60_000, // 1 min
});

// ---- the link tap: one clock for both sides --------------------------------------------------

/** One read from the link: its `performance.now()` time and its bytes (latin1). */
export interface LinkChunk {
  t: number;
  text: string;
}
type Chunk = LinkChunk;

/**
 * Records what crosses the link with `performance.now()` times: every chunk read (kept in
 * memory only, never printed) and, for writes, only the command name (`AT+KMQTTPUB`) or `+++`.
 * The rig's evidence uses the same clock (the default `systemClock`).
 */
class LinkTap {
  readonly rx: Chunk[] = [];
  readonly tx: Array<{ t: number; head: string; bytes: number }> = [];

  attach(link: Link): Link {
    link.on('data', (chunk: Buffer) => this.rx.push({ t: performance.now(), text: chunk.toString('latin1') }));
    const write = link.write.bind(link);
    // A decorator on this one link object: the link contract has no write event to listen to.
    link.write = (data: Uint8Array | string): Promise<void> => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
      const text = bytes.subarray(0, 32).toString('latin1');
      const head = /^(AT[A-Z0-9+&]*|\+\+\+)/i.exec(text)?.[1] ?? '';
      this.tx.push({ t: performance.now(), head, bytes: bytes.length });
      return write(data);
    };
    return link;
  }

  rxMark(): number {
    return this.rx.length;
  }

  txMark(): number {
    return this.tx.length;
  }

  /** Read time of the chunk that completed the first match of `re` in what was read since `mark`. */
  rxTime(re: RegExp, mark: number): number | undefined {
    let text = '';
    const ends: number[] = [];
    for (let i = mark; i < this.rx.length; i++) {
      text += this.rx[i]!.text;
      ends.push(text.length);
    }
    const m = re.exec(text);
    if (!m) return undefined;
    const end = m.index + m[0].length;
    const k = ends.findIndex((e) => e >= end);
    return this.rx[mark + k]!.t;
  }

  /** Write time of the first write since `mark` whose head is `head`. */
  txTime(head: string, mark: number): { t: number; bytes: number } | undefined {
    for (let i = mark; i < this.tx.length; i++) if (this.tx[i]!.head.toUpperCase() === head) return this.tx[i];
    return undefined;
  }
}

// ---- figures ------------------------------------------------------------------------------------

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Round to 0.1 ms, never below 0 (a figure under the clock's resolution is 0). */
const ms = (v: number): number => Math.max(0, Math.round(v * 10) / 10);

/** Bit times per byte on the wire for these line settings (start + data + parity + stop). */
export function bitsPerByteOf(s: LineSettings): number {
  return 1 + s.dataBits + (s.parity === 'none' ? 0 : 1) + s.stopBits;
}

/**
 * The line rate behind one long answer. `bytesPerSecond` is the effective rate: the bytes after
 * the first read over the time from the first read to the last (the first read's bytes crossed
 * the wire before the clock started), the module's pauses between lines included: what a
 * transfer really takes, and what the timing model's line rate should give. `flowBytesPerSecond`
 * is the median rate between consecutive reads, the rate while bytes flow (a late read makes one
 * slow and one fast interval, a pause one slow one; neither moves the median): close to the
 * UART's baud rate. Both undefined when the answer came in fewer than 3 reads or too fast to time.
 */
export function lineRate(chunks: readonly Chunk[]): {
  bytes: number;
  spanMs: number;
  bytesPerSecond?: number;
  flowBytesPerSecond?: number;
} {
  const bytes = chunks.reduce((n, c) => n + c.text.length, 0);
  if (chunks.length < 3) return { bytes, spanMs: 0 };
  const spanMs = chunks.at(-1)!.t - chunks[0]!.t;
  const after = bytes - chunks[0]!.text.length;
  if (spanMs < 1 || after < 32) return { bytes, spanMs };
  const rates: number[] = [];
  for (let i = 1; i < chunks.length; i++) {
    const dt = chunks[i]!.t - chunks[i - 1]!.t;
    rates.push(dt > 0 ? chunks[i]!.text.length / dt : Infinity);
  }
  return { bytes, spanMs, bytesPerSecond: (after / spanMs) * 1000, flowBytesPerSecond: median(rates) * 1000 };
}

/** Per item and per kB from two (bytes, ms) points; the fit is clamped at 0 (noise, not a gain). */
export function twoPointFit(
  a: { bytes: number; ms: number },
  b: { bytes: number; ms: number },
): { perItemMs: number; perKbMs: number } {
  const perByte = (b.ms - a.ms) / (b.bytes - a.bytes);
  const perKbMs = Math.max(0, perByte * 1024);
  return { perItemMs: ms(a.ms - (perKbMs / 1024) * a.bytes), perKbMs: ms(perKbMs) };
}

/**
 * A throwaway self-signed certificate of about `bytes` bytes of PEM: the subject is padded with
 * OU attributes (at most 64 characters each, RFC 5280 ub-organizational-unit-name). A
 * self-signed certificate carries its subject twice (as issuer too), and each attribute costs
 * about 13 DER bytes around its value; one correction from the first try lands close enough.
 */
async function throwawayCert(pool: KeyPool, bytes: number, tag: string): Promise<string> {
  const key = await pool.get({ type: 'ec', curve: 'P-256' }, 'throwaway');
  const make = async (chars: number): Promise<string> => {
    const filler = createHash('sha256')
      .update(tag)
      .digest('hex')
      .repeat(Math.ceil(chars / 64) + 1)
      .slice(0, chars);
    const ous =
      chars > 0
        ? `,${filler
            .match(/.{1,64}/g)!
            .map((p) => `OU=${p}`)
            .join(',')}`
        : '';
    return (await issueCertificate({ subject: `CN=bx-hil timing ${tag}${ous}`, key })).certPem;
  };
  const base = (await make(0)).length;
  // PEM chars per filler char: 4/3 (base64) × 2 (subject and issuer) × 77/64 (attribute overhead).
  const perChar = (4 / 3) * 2 * (77 / 64);
  const first = Math.max(0, Math.floor((bytes - base) / perChar));
  const pem = await make(first);
  const second = Math.max(0, Math.floor(first + (bytes - pem.length) / perChar));
  return second === first ? pem : make(second);
}

// ---- the measurement ------------------------------------------------------------------------------

export async function measureTiming(options: MeasureTimingOptions): Promise<TimingMeasurement> {
  const samples = options.samples ?? MEASURE_DEFAULTS.samples;
  const commandTimeoutMs = options.commandTimeoutMs ?? MEASURE_DEFAULTS.commandTimeoutMs;
  const longTimeoutMs = options.longTimeoutMs ?? MEASURE_DEFAULTS.longTimeoutMs;
  const log = options.log ?? (() => undefined);
  const { device } = options;
  const date = (options.now ?? (() => new Date()))().toISOString().slice(0, 10);
  const tap = new LinkTap();
  const bus = new EvidenceBus();
  const targets: TargetOpener = {
    open: async (uri) => tap.attach(await options.targets.open(uri)),
    virtualModule: (link) => options.targets.virtualModule(link),
  };
  const session = new DeviceSession({
    uri: device.uri,
    targets,
    device,
    bus,
    driver: {
      defaultTimeoutMs: commandTimeoutMs,
      resetTimeoutMs: longTimeoutMs,
      connectTimeoutMs: longTimeoutMs,
      wifiTimeoutMs: longTimeoutMs,
      ...(options.guardTimeMs !== undefined ? { guardTimeMs: options.guardTimeMs } : {}),
    },
  });
  const out: TimingMeasurement = {
    uri: device.uri,
    tag: `[measured ${date}]`,
    block: { name: `measured ${date}`, sources: {} },
    steps: [],
  };
  const closers: Array<() => unknown> = [() => session.close()];
  const set = (path: string, value: number): void => {
    const keys = path.split('.');
    let o = out.block as unknown as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
    o[keys.at(-1)!] = value;
    out.block.sources[path] = out.tag;
  };
  const step = (name: TimingStepName, status: TimingStep['status'], detail: string): void => {
    out.steps.push({ name, status, detail });
    log(`${name}: ${status === 'measured' ? '' : `${status}: `}${detail}`);
  };
  /** The line's bits per byte and the time of `n` bytes on it (0 until the rate is known). */
  let wireMsPerByte = 0;
  const wire = (n: number): number => n * wireMsPerByte;

  let current: TimingStepName = 'open';
  try {
    await session.link();
    const id = await session.identify();
    out.model = id.model;
    out.firmware = id.firmware;
    out.tag = `[measured ${date} fw ${id.firmware}]`;
    out.block.name = `measured ${date} fw ${id.firmware}`;
    step('open', 'measured', `${id.model}, firmware ${id.firmware}`);
    const driver = session.acquire();
    const settings = lineSettingsOf(device.uri);
    const pool = new KeyPool();

    // line: the longest read form now; with writes, again while a throwaway certificate is stored.
    current = 'line';
    const timeLine = async (commands: readonly string[]): Promise<void> => {
      let best: { command: string; chunks: Chunk[] } | undefined;
      for (const command of commands) {
        const mark = tap.rxMark();
        const ok = await readForm(driver, command);
        const chunks = tap.rx.slice(mark);
        if (ok && (!best || size(chunks) > size(best.chunks))) best = { command, chunks };
      }
      if (!best) return;
      const rates: number[] = [];
      const flow: number[] = [];
      let r = lineRate(best.chunks);
      for (let i = 0; i < Math.max(samples, LINE_SAMPLES); i++) {
        const mark = tap.rxMark();
        await readForm(driver, best.command);
        r = lineRate(tap.rx.slice(mark));
        if (r.bytesPerSecond !== undefined) rates.push(r.bytesPerSecond);
        if (r.flowBytesPerSecond !== undefined) flow.push(r.flowBytesPerSecond);
      }
      const bits = settings ? bitsPerByteOf(settings) : 10;
      // The fastest sample, not the median: a busy host (or the virtual module's own timers on
      // a loaded machine) only ever slows what is seen.
      const bps = rates.length > 0 ? Math.max(...rates) : undefined;
      if (out.line?.bytesPerSecond !== undefined && bps === undefined) return;
      out.line = {
        command: best.command,
        bytes: r.bytes,
        spanMs: ms(r.spanMs),
        ...(bps !== undefined
          ? {
              bytesPerSecond: Math.round(bps),
              impliedBaud: Math.round(bps * bits),
              flowBytesPerSecond: Math.round(Math.max(...flow)),
            }
          : {}),
        ...(settings ? { settings } : {}),
      };
    };
    const commitLine = (): void => {
      const l = out.line;
      if (!l) {
        step('line', 'skipped', 'no read form answered');
        return;
      }
      const opened = l.settings ? `; link opened at ${describeSettings(l.settings)}` : '';
      const bits = l.settings ? bitsPerByteOf(l.settings) : 10;
      if (l.bytesPerSecond !== undefined) {
        set('line.baudRate', l.impliedBaud!);
        set('line.bitsPerByte', bits);
        wireMsPerByte = 1000 / l.bytesPerSecond;
        step(
          'line',
          'measured',
          `${l.command}: ${l.bytes} bytes, ${l.bytesPerSecond} bytes/s first read to last: about ${l.impliedBaud} baud at ${bits} bits a byte (${l.flowBytesPerSecond} bytes/s while bytes flow, pauses left out)${opened}`,
        );
      } else if (l.bytes >= UNPACED_MIN_BYTES && l.spanMs < 1) {
        // Half a kilobyte in one read at once: no UART in between (the instant virtual module).
        set('line.baudRate', 0);
        step(
          'line',
          'measured',
          `${l.command}: ${l.bytes} bytes arrived at once: an unpaced line (baudRate 0)${opened}`,
        );
      } else {
        step(
          'line',
          'skipped',
          `${l.command}: ${l.bytes} bytes are too few to time (a longer answer needs --allow-writes: a stored certificate is read back)${opened}`,
        );
      }
    };
    await timeLine(READ_FORMS);

    // flash: two sizes in an empty local slot, stored and deleted again.
    current = 'flash';
    if (!options.allowWrites) {
      commitLine();
      step('flash', 'skipped', 'needs --allow-writes (stores and deletes a throwaway certificate)');
    } else {
      const stored = await driver.listCerts();
      const used = new Set(stored.local.map((c) => c.index));
      const slot = [2, 1, 0].find((i) => !used.has(i));
      if (slot === undefined) {
        commitLine();
        step('flash', 'skipped', 'every local certificate slot (0-2) holds a certificate; none was touched');
      } else {
        const points: Array<{ bytes: number; ms: number }> = [];
        const deletes: number[] = [];
        for (const target of FLASH_SIZES) {
          const pem = await throwawayCert(pool, target, `${target}`);
          const runs: number[] = [];
          for (let i = 0; i < samples; i++) {
            const mark = tap.rxMark();
            const txMark = tap.txMark();
            closers.push(() => undo(driver.deleteCert('local', slot), `local certificate slot ${slot}`));
            await driver.storeCert('local', pem, { index: slot });
            const esc = tap.txTime('+++', txMark);
            const okAt = esc ? tap.rxTime(/\r\nOK\r\n/, firstRxFrom(tap, esc.t, mark)) : undefined;
            if (esc && okAt !== undefined) runs.push(okAt - esc.t);
            // The longest certificate stays while the line is timed again on its read-back.
            if (target === FLASH_SIZES.at(-1) && i === samples - 1 && out.line?.bytesPerSecond === undefined)
              await timeLine(['AT+KCERTSTORE?']);
            const delMark = tap.rxMark();
            const delTx = tap.txMark();
            await driver.deleteCert('local', slot);
            closers.pop();
            const del = tap.txTime('AT+KCERTDELETE', delTx);
            const delOk = tap.rxTime(/\r\nOK\r\n/, delMark);
            if (del && delOk !== undefined) deletes.push(delOk - del.t - wire(del.bytes + 6));
          }
          // The smallest, not the median: a late timer or a busy host only ever adds to a sample,
          // and the per-kB slope is a small difference of two such figures.
          if (runs.length > 0) points.push({ bytes: Buffer.byteLength(pem), ms: Math.min(...runs) });
        }
        commitLine();
        if (points.length === 2 && deletes.length > 0) {
          // A store's +++ → OK also holds the module's own escape guard (the silence after +++
          // it waits for), so per item comes from the deletes (one flash write, no data) and
          // per kB from the two stores' slope; `+++` and `OK` cross the wire inside the span.
          const fixed = wire(3 + 6);
          const fit = twoPointFit(
            { bytes: points[0]!.bytes, ms: points[0]!.ms - fixed },
            { bytes: points[1]!.bytes, ms: points[1]!.ms - fixed },
          );
          const perItemMs = ms(Math.min(...deletes));
          set('flash.perItemMs', perItemMs);
          set('flash.perKbMs', fit.perKbMs);
          step(
            'flash',
            'measured',
            `local slot ${slot}: stores ${points.map((p) => `${p.bytes} B ${ms(p.ms)} ms`).join(', ')} (+++ -> OK), delete ${perItemMs} ms: ${perItemMs} ms per item, ${fit.perKbMs} ms per kB (the module's escape guard about ${ms(fit.perItemMs - perItemMs)} ms)`,
          );
        } else step('flash', 'skipped', 'the +++ or OK of an upload was not seen on the link');
      }
    }

    // boot: AT+RST, OK → READY.
    current = 'boot';
    if (!options.allowWrites)
      step('boot', 'skipped', 'needs --allow-writes (AT+RST drops the Wi-Fi join and MQTT sessions)');
    else {
      const runs: number[] = [];
      for (let i = 0; i < samples; i++) {
        const mark = tap.rxMark();
        await driver.reset();
        const ok = tap.rxTime(/\r\nOK\r\n/, mark);
        const ready = tap.rxTime(/READY\r\n/, mark);
        if (ok !== undefined && ready !== undefined) runs.push(ready - ok - wire(9));
      }
      if (runs.length > 0) {
        set('bootMs', ms(median(runs)));
        step('boot', 'measured', `AT+RST: OK -> READY ${ms(median(runs))} ms`);
      } else step('boot', 'skipped', 'OK and READY were not both seen on the link');
    }

    // Wi-Fi: only with the lab file's credentials (and they are joined again at the end of it).
    current = 'wifi';
    const wifi = device.wifi;
    if (!wifi) step('wifi', 'skipped', 'the lab file gives no Wi-Fi credentials for this device');
    else {
      await driver.wifiStationConfig(wifi.ssid, wifi.password, true);
      const runs: number[] = [];
      for (let i = 0; i < samples; i++) {
        await driver.wifiDisconnect();
        const mark = tap.rxMark();
        const txMark = tap.txMark();
        await driver.wifiConnect();
        const sent = tap.txTime('AT+SRWSTACON', txMark);
        const joined = tap.rxTime(/\+SRWSTASTATUS: *1[^\r\n]*\r\n/, mark);
        if (sent && joined !== undefined) runs.push(joined - sent.t - wire(sent.bytes + 24));
      }
      if (runs.length > 0) {
        set('wifi.joinMs', ms(median(runs)));
        step('wifi', 'measured', `AT+SRWSTACON=1 -> +SRWSTASTATUS: 1 ${ms(median(runs))} ms`);
      } else step('wifi', 'skipped', '+SRWSTASTATUS: 1 was not seen on the link');
    }

    // MQTT over plain TCP: the rig listens where the module can reach it.
    current = 'mqtt';
    const host = device.hostAddress;
    if (options.noRigs !== undefined) step('mqtt', 'skipped', options.noRigs);
    else {
      const rig = await startBrokerRig({ host: brokerBindHost(host), port: 0, profile: 'plain' });
      closers.push(() => rig.close());
      const connack: number[] = [];
      const publish: number[] = [];
      for (let i = 0; i < samples; i++) {
        steerVirtual(session.vm, host, rig.port);
        const topic = `bx-hil/timing/${process.pid}/${i}`;
        const r = await mqttRound(driver, tap, rig, {
          host,
          port: rig.port,
          secure: false,
          topic,
          i,
          longTimeoutMs,
          wireMsPerByte,
        });
        connack.push(r.connackMs - wire(r.indBytes));
        if (r.publishMs !== undefined) publish.push(r.publishMs);
      }
      await rig.close();
      set('mqtt.connackMs', ms(median(connack)));
      if (publish.length > 0) set('mqtt.publishMs', ms(median(publish)));
      step(
        'mqtt',
        'measured',
        `CONNACK -> +KMQTT_IND ${ms(median(connack))} ms; AT+KMQTTPUB -> PUBLISH ${publish.length > 0 ? `${ms(median(publish))} ms` : 'not seen'} (plain TCP to ${host}:${rig.port})`,
      );
    }

    // TLS: the rig's root in the module's (empty) root slot; handshakes timed at the rig.
    current = 'tls';
    if (options.noRigs !== undefined) step('tls', 'skipped', options.noRigs);
    else if (!options.allowWrites)
      step('tls', 'skipped', "needs --allow-writes (the module must store the rig's root certificate)");
    else {
      const certs = await driver.listCerts();
      if (certs.root)
        step(
          'tls',
          'skipped',
          'the root certificate slot holds a certificate; it was not touched (delete it to measure TLS)',
        );
      else {
        const detail = await measureTls(driver, tap, { host, pool, samples, longTimeoutMs, closers, vm: session.vm });
        for (const [path, value] of Object.entries(detail.figures)) set(path, ms(value));
        step('tls', 'measured', detail.text);
      }
    }
  } catch (err) {
    const failed: TimingStep = { name: current, status: 'failed', detail: describe(err) };
    out.steps.push(failed);
    out.failed = failed;
    log(`${current}: FAILED: ${failed.detail}`);
  } finally {
    await closeAll(closers, 'bx-hil timing').catch((err: unknown) => {
      // Never dropped: a throwaway item left in a slot is the user's to delete.
      const all = err instanceof AggregateError ? err.errors : [err];
      const text = `cleanup: ${all.map(describe).join('; ')}`;
      if (out.failed) out.failed.detail += `; ${text}`;
      else {
        out.failed = { name: current, status: 'failed', detail: text };
        out.steps.push(out.failed);
      }
      log(text);
    });
  }
  out.wire = {
    writes: tap.tx.length,
    txBytes: tap.tx.reduce((n, w) => n + w.bytes, 0),
    rxBytes: tap.rx.reduce((n, c) => n + c.text.length, 0),
  };
  if (out.firmware !== undefined) {
    const chosen = chooseProfile({
      uri: device.uri,
      firmware: out.firmware,
      ...(device.profile !== undefined ? { profile: device.profile } : {}),
    });
    const t = chosen.profile.timing;
    const notMeasured = timingFields(t)
      .filter((field) => !(field in out.block.sources))
      .map((field) => ({ field, value: fieldValue(t, field), source: timingSourceOf(t, field) ?? '(untagged)' }));
    out.profile = { name: chosen.info.name, notMeasured };
  }
  return out;
}

/** A timing field's value by its dotted path (`tls.signMs.rsa4096`). */
function fieldValue(t: Timing, field: string): number {
  return field.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], t) as number;
}

/** Read forms tried for the line rate, in order; the one with the longest answer is timed. */
const READ_FORMS = ['AT+KCERTSTORE?', 'AT+KMQTTCFG?', 'ATI', 'AT+CGMR'] as const;
/** At least this many read-backs for the line rate (each a fraction of a second). */
const LINE_SAMPLES = 5;
/** Intermediates in the long RSA chain of the TLS fit (mbedTLS checks up to 8 by default). */
const EXTRA_CAS = 4;
/** Throwaway certificate sizes for the flash fit, bytes of PEM (the store takes up to 3000). */
const FLASH_SIZES = [500, 2800] as const;
/** At least this many bytes arriving in one read at once is an unpaced line, not a short answer. */
const UNPACED_MIN_BYTES = 512;

const size = (chunks: readonly Chunk[]): number => chunks.reduce((n, c) => n + c.text.length, 0);

/** Index of the first read at or after `t` (so the `OK` after `+++` is searched from there). */
function firstRxFrom(tap: LinkTap, t: number, mark: number): number {
  let i = tap.rx.length;
  while (i > mark && tap.rx[i - 1]!.t >= t) i--;
  return i;
}

/** A read form; `false` when the firmware refuses it (ERROR), a timeout rethrown (the module is silent). */
async function readForm(driver: Bx310x, command: string): Promise<boolean> {
  try {
    await driver.at.command(command);
    return true;
  } catch (err) {
    if (refused(err)) return false;
    throw err;
  }
}

/** A delete on the way out after a failure: when it fails too, the error says what is left where. */
function undo(deleting: Promise<void>, slot: string): Promise<void> {
  return deleting.catch((err: unknown) => {
    throw new Error(`${slot} may still hold a bx-hil timing item (delete it by hand): ${describe(err)}`);
  });
}

/** The module answered, with ERROR or +CME ERROR (as opposed to not answering). */
function refused(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'BXHIL_AT_ERROR' || code === 'BXHIL_CME';
}

function lineSettingsOf(uri: string): LineSettings | undefined {
  try {
    const url = parseLinkUri(uri);
    if (url.protocol === 'serial:' || url.protocol === 'rfc2217:')
      return parseSerialOptions(url, { allow: ['timeoutMs'] });
  } catch {
    // The URI was checked before the link opened; a query this parse refuses is simply not reported.
  }
  return undefined;
}

/** On the virtual module a host address other than loopback is steered to the rig (its sessions dial 127.0.0.1 as given). */
function steerVirtual(vm: DeviceSession['vm'], host: string, port: number): void {
  if (vm && host !== '127.0.0.1') vm.setResolve(host, { host: '127.0.0.1', port });
}

function describeSettings(s: LineSettings): string {
  return `${s.baudRate} ${s.dataBits}${s.parity[0]!.toUpperCase()}${s.stopBits}${s.rtscts ? ' RTS/CTS' : ''}`;
}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

interface RoundOptions {
  host: string;
  port: number;
  secure: boolean;
  topic: string;
  i: number;
  longTimeoutMs: number;
  /** Line time per byte (0 when unknown or unpaced). */
  wireMsPerByte: number;
  /** Skip the publish (TLS rounds time the handshake only). */
  connectOnly?: boolean;
}

/**
 * One session: configure, connect, publish (QoS 0), close, delete. CONNACK time at the rig to the
 * `+KMQTT_IND: <id>,1` read; AT+KMQTTPUB's write (plus its line time) to PUBLISH at the rig.
 */
async function mqttRound(
  driver: Bx310x,
  tap: LinkTap,
  rig: BrokerRig,
  o: RoundOptions,
): Promise<{ connackMs: number; indBytes: number; publishMs?: number; record: BrokerRig['records'][number] }> {
  const before = rig.records.length;
  const id = await driver.mqttConfigure({
    secure: o.secure,
    server: o.host,
    port: o.port,
    clientId: `bx-hil-timing-${process.pid}-${o.i}`,
  });
  try {
    const mark = tap.rxMark();
    await driver.mqttConnect(id, { timeoutMs: o.longTimeoutMs });
    const record = rig.records.slice(before).find((r) => r.mqtt.connack !== undefined);
    const connackAt = record?.mqtt.packets.find((p) => p.cmd === 'connack' && p.dir === 'out')?.t;
    const indLine = new RegExp(`\\+KMQTT_IND: *${id},1\\r\\n`);
    const indAt = tap.rxTime(indLine, mark);
    if (!record || connackAt === undefined || indAt === undefined)
      throw new Error(`session ${id}: the rig's CONNACK or the module's +KMQTT_IND: ${id},1 was not recorded`);
    let publishMs: number | undefined;
    if (!o.connectOnly) {
      const txMark = tap.txMark();
      const seen = publishSeen(rig, record, o.longTimeoutMs);
      await driver.mqttPublish(id, o.topic, 'timing', { qos: 0 });
      const sent = tap.txTime('AT+KMQTTPUB', txMark);
      const at = await seen;
      // The module has the command once its last byte crossed the wire.
      if (sent) publishMs = at - sent.t - sent.bytes * o.wireMsPerByte;
    }
    await driver.mqttClose(id).catch(() => undefined);
    return {
      connackMs: indAt - connackAt,
      indBytes: `+KMQTT_IND: ${id},1\r\n`.length + 2,
      ...(publishMs !== undefined ? { publishMs } : {}),
      record,
    };
  } finally {
    await driver.mqttDelete(id);
  }
}

/** Resolves with the rig's time of the next PUBLISH from the module on `record`'s connection. */
function publishSeen(rig: BrokerRig, record: BrokerRig['records'][number], timeoutMs: number): Promise<number> {
  const seen = record.mqtt.packets.length;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no PUBLISH reached the rig within ${timeoutMs} ms of AT+KMQTTPUB`));
    }, timeoutMs);
    const off = rig.bus.subscribe((e) => {
      if (e.source !== 'mqtt' || e.scope !== record.id) return;
      const p = record.mqtt.packets.slice(seen).find((x) => x.cmd === 'publish' && x.dir === 'in');
      if (!p) return;
      clearTimeout(timer);
      off();
      resolve(p.t);
    });
  });
}

// ---- TLS ------------------------------------------------------------------------------------------

interface TlsChain {
  name: string;
  root: Issued;
  server: Issued;
  /** Certificates the server sends (leaf first): what the module verifies. */
  chainPem: string;
  client?: Issued;
}

async function buildChain(
  pool: KeyPool,
  spec: KeySpec,
  host: string,
  name: string,
  options: { intermediates?: number; client?: boolean } = {},
): Promise<TlsChain> {
  const root = await issueCertificate({
    subject: `CN=bx-hil timing ${name} root`,
    key: await pool.get(spec, `${name}-root`),
    isCa: true,
  });
  // root -> intermediate 1 -> ... -> intermediate n -> leaf; the server sends leaf first.
  const cas: Issued[] = [];
  let issuer = root;
  for (let i = 1; i <= (options.intermediates ?? 0); i++) {
    issuer = await issueCertificate({
      subject: `CN=bx-hil timing ${name} intermediate ${i}`,
      key: await pool.get(spec, `${name}-int-${i}`),
      issuer,
      isCa: true,
    });
    cas.unshift(issuer);
  }
  const server = await issueCertificate({
    subject: `CN=${host}`,
    key: await pool.get(spec, `${name}-server`),
    issuer,
    altNames: [host, ...(host === '127.0.0.1' ? ['localhost'] : [])],
    extendedKeyUsage: ['serverAuth'],
  });
  const chain: TlsChain = {
    name,
    root,
    server,
    chainPem: [server, ...cas].map((c) => c.certPem).join(''),
  };
  if (options.client)
    chain.client = await issueCertificate({
      subject: 'CN=bx-hil-timing-device',
      key: await pool.get(spec, `${name}-client`),
      issuer: root,
      extendedKeyUsage: ['clientAuth'],
    });
  return chain;
}

/** ClientHello → handshake done at the rig, median over `samples` connects. */
async function handshakeMs(
  driver: Bx310x,
  tap: LinkTap,
  chain: TlsChain,
  o: { host: string; samples: number; longTimeoutMs: number; closers: Array<() => unknown>; vm: DeviceSession['vm'] },
): Promise<number> {
  await driver.storeCert('root', chain.root.certPem);
  o.closers.push(() => undo(driver.deleteCert('root'), 'the root certificate slot'));
  if (chain.client) {
    await driver.storeCert('local', chain.client.certPem, { index: 0 });
    o.closers.push(() => undo(driver.deleteCert('local', 0), 'local certificate slot 0'));
    await driver.storeKey(0, chain.client.keyPem);
    o.closers.push(() => undo(driver.deleteKey(0), 'key slot 0'));
  }
  const rig = await startBrokerRig({
    host: brokerBindHost(o.host),
    port: 0,
    profile: chain.client ? 'strict' : 'tls-server-only',
    pki: { ca: chain.root, server: chain.server },
    serverCertChainPem: chain.chainPem,
    serverKeyPem: chain.server.keyPem,
  });
  o.closers.push(() => rig.close());
  const runs: number[] = [];
  try {
    for (let i = 0; i < o.samples; i++) {
      steerVirtual(o.vm, o.host, rig.port);
      const r = await mqttRound(driver, tap, rig, {
        host: o.host,
        port: rig.port,
        secure: true,
        topic: '',
        i,
        longTimeoutMs: o.longTimeoutMs,
        wireMsPerByte: 0,
        connectOnly: true,
      });
      const hello = r.record.events.find((e) => e.kind === 'client-hello')?.t;
      const done = r.record.events.find((e) => e.kind === 'tls-outcome')?.t;
      if (hello === undefined || done === undefined)
        throw new Error(`${chain.name}: the rig recorded no ClientHello or no completed handshake`);
      runs.push(done - hello);
    }
  } finally {
    await rig.close();
    o.closers.pop();
  }
  // Leave the slots as they were found (empty), in reverse order.
  if (chain.client) {
    await driver.deleteKey(0);
    o.closers.pop();
    await driver.deleteCert('local', 0);
    o.closers.pop();
  }
  await driver.deleteCert('root');
  o.closers.pop();
  return median(runs);
}

/**
 * Three server-only chains give three equations. A TLS 1.2 client checks one signature per
 * certificate the server sends (each by its issuer's key, the last by the stored root's) and one
 * over the key exchange (by the leaf's key), then computes the key exchange:
 *   RSA leaf under the root:                  keyExchange + 2 x verify(RSA)
 *   RSA leaf under 4 intermediates:           keyExchange + 6 x verify(RSA)
 *   EC leaf under an EC root:                 keyExchange + 2 x verify(EC)
 * (`tlsWorkMs` in harness/timing.ts, which the virtual module spends, and what mbedTLS does).
 * Four intermediates, not one: an RSA verify is short next to the noise of one handshake, four
 * of them are not. What the rig and the host add to each handshake lands in the key exchange.
 * With empty local slot 0 and key slot 0, the mutual handshakes minus the server-only ones give
 * the sign cost.
 */
async function measureTls(
  driver: Bx310x,
  tap: LinkTap,
  o: {
    host: string;
    pool: KeyPool;
    samples: number;
    longTimeoutMs: number;
    closers: Array<() => unknown>;
    vm: DeviceSession['vm'];
  },
): Promise<{ figures: Record<string, number>; text: string }> {
  const rsa: KeySpec = { type: 'rsa', bits: 2048 };
  const ec: KeySpec = { type: 'ec', curve: 'P-256' };
  const h = (c: TlsChain): Promise<number> => handshakeMs(driver, tap, c, o);
  const rsa1 = await h(await buildChain(o.pool, rsa, o.host, 'rsa2048'));
  const rsa2 = await h(await buildChain(o.pool, rsa, o.host, 'rsa2048-int', { intermediates: EXTRA_CAS }));
  const ec1 = await h(await buildChain(o.pool, ec, o.host, 'ecP256'));
  const verifyRsa = Math.max(0, (rsa2 - rsa1) / EXTRA_CAS);
  const keyExchange = Math.max(0, rsa1 - 2 * verifyRsa);
  const verifyEc = Math.max(0, (ec1 - keyExchange) / 2);
  const figures: Record<string, number> = {
    'tls.keyExchangeMs': keyExchange,
    'tls.verifyPerCertMs.rsa2048': verifyRsa,
    'tls.verifyPerCertMs.ecP256': verifyEc,
  };
  let text = `handshakes (ClientHello -> done at the rig): RSA-2048 leaf ${ms(rsa1)} ms, under ${EXTRA_CAS} intermediates ${ms(rsa2)} ms, EC P-256 leaf ${ms(ec1)} ms`;
  // Some firmwares refuse the key store's read form (2.6.3: +CME ERROR: 918): then slot 0's
  // content is unknown, and unknown is not empty.
  const keys = await driver.listKeys().catch((err: unknown) => {
    if (refused(err)) return undefined;
    throw err;
  });
  const certs = await driver.listCerts();
  if (keys === undefined) {
    text +=
      '; sign not measured: the module does not list its key store (AT+KPRIVKSTORE? refused), so key slot 0 may hold a key';
  } else if (keys.some((k) => k.index === 0) || certs.local.some((c) => c.index === 0)) {
    text += '; sign not measured: local certificate slot 0 or key slot 0 holds something (not touched)';
  } else {
    const rsaMutual = await h(await buildChain(o.pool, rsa, o.host, 'rsa2048-mtls', { client: true }));
    const ecMutual = await h(await buildChain(o.pool, ec, o.host, 'ecP256-mtls', { client: true }));
    figures['tls.signMs.rsa2048'] = Math.max(0, rsaMutual - rsa1);
    figures['tls.signMs.ecP256'] = Math.max(0, ecMutual - ec1);
    text += `; mutual: RSA-2048 ${ms(rsaMutual)} ms, EC P-256 ${ms(ecMutual)} ms`;
  }
  return { figures, text };
}
