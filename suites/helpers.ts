/**
 * Suite helpers over the driver: provisioning certificates, MQTT sessions and connect outcomes,
 * waiting on the rig. Kept in one place so the suites read as the behaviour they check.
 */
import { HarnessError } from '../harness/errors.ts';
import { pollUntil, WaitTimeoutError } from '../harness/processes.ts';
import type { BrokerRig, Verdict } from '../harness/broker/index.ts';
import { diagnoseConnection } from '../harness/diagnose/index.ts';
import type { VerdictSummary } from '../harness/report/index.ts';
import { waitsInForce, type SuiteTestMeta } from '../harness/run/index.ts';

/**
 * The waits of the device under test, derived from its timing and its profile's bounds
 * (harness/run/waits.ts): use these, not numbers, for how long to wait on an event.
 */
export const waits = waitsInForce;
import type { Bx310x } from '../harness/bx310x/index.ts';
import type { ScenarioMaterial } from '../harness/pki/index.ts';
import type { TestEvidence } from './fixtures.ts';

/** What the module was given. Undefined parts are left empty (slot deleted). */
export interface Provision {
  root?: string;
  clientCert?: string;
  clientKey?: string;
}

/** What a built scenario gives the module: its root as the module takes it, and the client pair where it has one. */
export function scenarioProvision(m: Pick<ScenarioMaterial, 'rootForDevice' | 'clientCert' | 'clientKey'>): Provision {
  return {
    root: m.rootForDevice,
    ...(m.clientCert ? { clientCert: m.clientCert } : {}),
    ...(m.clientKey ? { clientKey: m.clientKey } : {}),
  };
}

export interface ProvisionResult {
  /** The first upload the module refused, if any (`root`, `local`, `key`), with the error code. */
  refused?: { slot: 'root' | 'local' | 'key'; code: string; message: string };
}

/** A store slot as the driver names it: the root, or a local certificate or key by index. */
type Slot = readonly ['root', undefined] | readonly ['local' | 'key', number];

/**
 * Delete `slots`, ignoring "already empty" answers. A slot the driver knows to be empty (it
 * deleted it itself and nothing touched it since: the driver's store ledger) is left alone: a
 * delete is a flash write on the module.
 */
async function emptySlots(device: Bx310x, slots: ReadonlyArray<Slot>): Promise<void> {
  for (const [kind, index] of slots) {
    if (device.knownEmpty(kind, index)) continue;
    const del = kind === 'key' ? device.deleteKey(index) : device.deleteCert(kind, index);
    await del.catch(() => undefined);
  }
}

const TLS_SLOTS: ReadonlyArray<Slot> = [
  ['root', undefined],
  ['local', 0],
  ['key', 0],
];

/** Every certificate and key slot: root, local 0..2, key 0..2. */
export function emptyStores(device: Bx310x): Promise<void> {
  return emptySlots(device, [
    ['root', undefined],
    ['local', 0],
    ['key', 0],
    ['local', 1],
    ['key', 1],
    ['local', 2],
    ['key', 2],
  ]);
}

/** Empty the slots TLS uses (root 0, local 0, key 0), ignoring "already empty" answers. */
export function clearTlsSlots(device: Bx310x): Promise<void> {
  return emptySlots(device, TLS_SLOTS);
}

/**
 * Store root / local certificate 0 / private key 0 as the scenario gives them; the other TLS
 * slots end empty. An upload the module refuses is returned, not thrown: refusing bad material
 * is a legitimate outcome, and then the refused slot and those after it are empty.
 *
 * Only what changes is written: a slot the driver knows already holds these exact bytes (its
 * store ledger: it stored them itself, and nothing touched the slot since) is left as it is,
 * and so is a slot known empty that is to stay empty. Every other slot is deleted first, as
 * before, so a refused upload never leaves the previous test's material behind.
 */
export async function provision(device: Bx310x, p: Provision, evidence?: TestEvidence): Promise<ProvisionResult> {
  const steps: Array<['root' | 'local' | 'key', string | undefined, () => Promise<unknown>]> = [
    ['root', p.root, () => device.storeCert('root', p.root!)],
    ['local', p.clientCert, () => device.storeCert('local', p.clientCert!, { index: 0 })],
    ['key', p.clientKey, () => device.storeKey(0, p.clientKey!)],
  ];
  const holds = (slot: 'root' | 'local' | 'key', pem: string | undefined): boolean =>
    pem !== undefined && device.holdsStored(slot, slot === 'root' ? undefined : 0, pem);
  await emptySlots(
    device,
    TLS_SLOTS.filter(([kind]) => !holds(kind, steps.find(([s]) => s === kind)![1])),
  );
  for (const [slot, pem, store] of steps) {
    if (pem === undefined) continue;
    if (slot !== 'key') evidence?.cert(slot === 'root' ? 'root-stored' : 'client-stored', pem);
    if (holds(slot, pem)) continue;
    try {
      await store();
    } catch (err) {
      if (err instanceof HarnessError && /^BXHIL_(CME|AT_ERROR|PARAM)$/.test(err.code)) {
        return { refused: { slot, code: err.code, message: err.message } };
      }
      throw err;
    }
  }
  return {};
}

export interface SessionOptions {
  secure?: boolean;
  clientId?: string;
  keepAliveS?: number;
  cleanSession?: boolean;
  will?: { topic: string; message: string; qos?: 0 | 1 | 2; retain?: boolean };
  version?: 3 | 4;
}

let clientSeq = 0;
/** A unique client id per call (brokers drop the older session on a duplicate id). */
export function clientId(prefix = 'bxhil'): string {
  clientSeq++;
  return `${prefix}-${process.pid}-${clientSeq}`;
}

/** AT+KMQTTCFG for the endpoint; returns the session id. */
export async function configureSession(
  device: Bx310x,
  endpoint: { host: string; port: number },
  o: SessionOptions = {},
): Promise<number> {
  return device.mqttConfigure({
    secure: o.secure ?? true,
    server: endpoint.host,
    port: endpoint.port,
    version: o.version ?? 4,
    clientId: o.clientId ?? clientId(),
    ...(o.keepAliveS !== undefined ? { keepAliveSeconds: o.keepAliveS } : {}),
    ...(o.cleanSession !== undefined ? { cleanSession: o.cleanSession } : {}),
    ...(o.will
      ? {
          willFlag: true,
          willTopic: o.will.topic,
          willMessage: o.will.message,
          willQos: o.will.qos ?? 0,
          willRetain: o.will.retain ?? false,
        }
      : {}),
  });
}

export interface ConnectOutcome {
  connected: boolean;
  /** Error code when not connected (`BXHIL_MQTT_ABORTED`, `BXHIL_CME`, `BXHIL_AT_TIMEOUT`). */
  code?: string;
  /** `+KMQTT_IND: <id>,<code>` code when the module reported one. */
  indCode?: number;
  message?: string;
  elapsedMs: number;
}

/** AT+KMQTTCNX and wait for `+KMQTT_IND` (default bound: `waits().connectMs`); never throws for a refused connection. */
export async function tryConnect(
  device: Bx310x,
  id: number,
  timeoutMs = waits().connectMs,
  evidence?: TestEvidence,
): Promise<ConnectOutcome> {
  const t0 = performance.now();
  evidence?.waiting(`+KMQTT_IND: ${id},<code> after AT+KMQTTCNX=${id}`);
  try {
    await device.mqttConnect(id, { timeoutMs });
    return { connected: true, elapsedMs: performance.now() - t0 };
  } catch (err) {
    if (!(err instanceof HarnessError)) throw err;
    const indCode = (err as { indCode?: number }).indCode;
    return {
      connected: false,
      code: err.code,
      message: err.message,
      elapsedMs: performance.now() - t0,
      ...(indCode !== undefined ? { indCode } : {}),
    };
  } finally {
    evidence?.waiting(undefined);
  }
}

/** Configure + connect, throwing with the rig's verdict when the connection does not come up. */
export async function connectOrExplain(
  device: Bx310x,
  rig: BrokerRig,
  endpoint: { host: string; port: number },
  o: SessionOptions = {},
): Promise<number> {
  const id = await configureSession(device, endpoint, o);
  const r = await tryConnect(device, id);
  if (!r.connected) {
    const v = rig.verdicts[rig.verdicts.length - 1];
    throw new HarnessError(
      'BXHIL_SUITE_CONNECT',
      `the module did not connect (${r.code}${r.indCode !== undefined ? `, +KMQTT_IND: ${id},${r.indCode}` : ''}): ${r.message}${v ? `; rig verdict ${v.code}: ${v.summary}` : ''}`,
    );
  }
  return id;
}

/** The rig's verdict as a results.json summary. */
export function verdictSummary(v: Verdict): VerdictSummary {
  return { code: v.code, summary: v.summary, fix: v.fix, evidence: v.evidence.slice(0, 10) };
}

/** Wait for the rig's verdict (default bound: `waits().verdictMs`), diagnose it with the module's evidence, record it in meta, and return it (undefined when none came). */
export async function recordVerdict(
  rig: BrokerRig,
  meta: SuiteTestMeta,
  timeoutMs = waits().verdictMs,
  evidence?: TestEvidence,
): Promise<Verdict | undefined> {
  evidence?.waiting('the rig verdict');
  try {
    const live = await rig.waitForVerdict(undefined, timeoutMs);
    // The rig judges from the broker's side alone; the module's lines (+KMQTT_IND, CME errors)
    // on the same bus complete the picture.
    const record = rig.records.find((r) => r.id === live.connectionId);
    const v = record && evidence ? diagnoseConnection(record, evidence.events) : live;
    meta.verdict = verdictSummary(v);
    return v;
  } catch {
    return undefined;
  } finally {
    evidence?.waiting(undefined);
  }
}

/**
 * Nothing should happen for a while: wait `waits().quietMs(baseMs, bytes)` for `cond` and say so
 * in the evidence (a wait the test exists to observe is part of its physical floor). Resolves
 * true when it stayed quiet.
 */
export async function staysQuiet(
  cond: () => boolean | Promise<boolean>,
  baseMs: number,
  evidence: TestEvidence,
  what: string,
  bytes = 0,
): Promise<boolean> {
  const ms = waits().quietMs(baseMs, bytes);
  evidence.observe(what, ms);
  return !(await eventually(cond, ms));
}

/** A wait the test exists to observe (`ms`), stated in the evidence for the physical floor; returns `ms`. */
export function observed(ctx: { evidence: TestEvidence }, what: string, ms: number): number {
  ctx.evidence.observe(what, ms);
  return ms;
}

/** Poll `cond` every `everyMs` until it holds or `timeoutMs` passes; resolves with whether it held. */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 25,
): Promise<boolean> {
  try {
    return await pollUntil(cond, { timeoutMs, intervalMs: everyMs, what: 'the condition' });
  } catch (err) {
    if (err instanceof WaitTimeoutError) return false;
    throw err;
  }
}

/** The next message the module reports (`+KMQTT_DATA` / `+KMQTTSUB`) matching `match`, within `timeoutMs`; undefined when none came. */
export async function nextMessage(
  device: Bx310x,
  match: (m: { topic: string; payload: string; sessionId?: number }) => boolean,
  timeoutMs: number,
  evidence?: TestEvidence,
): Promise<{ topic: string; payload: string; payloadBytes: Buffer; sessionId?: number } | undefined> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  evidence?.waiting('an incoming +KMQTT_DATA message');
  try {
    for await (const m of device.messages({ signal: ac.signal })) if (match(m)) return m;
    return undefined;
  } catch (err) {
    if (ac.signal.aborted) return undefined;
    throw err;
  } finally {
    clearTimeout(timer);
    evidence?.waiting(undefined);
  }
}

/** Messages the broker delivers on `filter`, collected from now on (`rig.subscribe`). */
export async function brokerInbox(
  rig: BrokerRig,
  filter: string,
): Promise<{ got: Array<{ topic: string; payload: Buffer }>; stop(): Promise<void> }> {
  const got: Array<{ topic: string; payload: Buffer }> = [];
  const stop = await rig.subscribe(filter, (topic, payload) => got.push({ topic, payload }));
  return { got, stop };
}

/**
 * Wait until the broker has answered the module's SUBSCRIBE for `topic` with SUBACK. A firmware
 * without SUBACK URCs answers OK before the broker has the subscription; publishing earlier
 * would race it.
 */
export async function brokerSubscribed(
  rig: BrokerRig,
  topic: string,
  timeoutMs = waits().subscribeMs,
): Promise<boolean> {
  return eventually(
    () =>
      rig.records.some((r) => {
        const i = r.mqtt.packets.findIndex(
          (p) => p.dir === 'in' && p.cmd === 'subscribe' && p.summary.includes(` ${topic}@`),
        );
        return i >= 0 && r.mqtt.packets.slice(i).some((p) => p.dir === 'out' && p.cmd === 'suback');
      }),
    timeoutMs,
  );
}

/**
 * Lose Wi-Fi the way the target can: the virtual module drops the access point
 * (`+SRWSTASTATUS: 0,200`, an unexpected loss); real hardware leaves the network with
 * `AT+SRWSTACON=0` (only when the lab file gives credentials to rejoin). Returns a reason when
 * the target cannot, for the caller to skip with.
 */
export async function loseWifi(ctx: {
  device: Bx310x;
  vm?: { wifiDrop(reason?: number): void } | undefined;
  target: { labDevice?: { wifi?: unknown } };
}): Promise<string | undefined> {
  if (ctx.vm) {
    ctx.vm.wifiDrop(200);
    return undefined;
  }
  if (!ctx.target.labDevice?.wifi) return 'no Wi-Fi credentials in the lab file to rejoin after the loss';
  await ctx.device.wifiDisconnect();
  return undefined;
}
