/**
 * mqtt: the module's MQTT client (AT+KMQTTCFG/CNX/PUB/SUB/UNSUB/CLOSE/DEL, docs/reference/bx310x-at.md §6)
 * against the broker rig: QoS 0/1/2, retain, the will on an unexpected loss, keep-alive and
 * PINGREQ, clean session, payload limits, special topics, delivery to subscriptions, several
 * sessions, reconnect after a broker restart, withheld acknowledgements.
 *
 * Glossary: module = the device under test (MQTT client); rig = the broker (aedes behind the TLS
 * front door) with its records of every packet; in-process subscriber = `rig.subscribe`, a
 * client inside the broker that sees what the module publishes.
 */
import { describe, expect } from 'vitest';
import { HarnessError } from '../harness/errors.ts';
import type { BrokerRig } from '../harness/broker/index.ts';
import { encodeKey } from '../harness/pki/index.ts';
import { hil, type HilContext } from './fixtures.ts';
import {
  brokerInbox,
  brokerSubscribed,
  clientId,
  configureSession,
  connectOrExplain,
  eventually,
  loseWifi,
  nextMessage,
  observed,
  provision,
  staysQuiet,
  tryConnect,
  waits,
  type SessionOptions,
} from './helpers.ts';

/** Give the module this file's PKI (root, device certificate and key) once per test. */
async function provisionPki(ctx: HilContext): Promise<void> {
  const { pki } = ctx;
  const r = await provision(
    ctx.device,
    { root: pki.ca.certPem, clientCert: pki.client.certPem, clientKey: encodeKey(pki.client.key, 'sec1') },
    ctx.evidence,
  );
  if (r.refused) throw new Error(`the module refused the ${r.refused.slot} upload: ${r.refused.message}`);
}

/** A mutual-TLS rig, the module provisioned and one session connected. */
async function up(
  ctx: HilContext,
  o: SessionOptions & { rig?: BrokerRig } = {},
): Promise<{ rig: BrokerRig; id: number; clientId: string }> {
  const rig = o.rig ?? (await ctx.rigs.start());
  await provisionPki(ctx);
  const cid = o.clientId ?? clientId();
  const id = await connectOrExplain(ctx.device, rig, ctx.rigs.endpoint(rig), { ...o, clientId: cid });
  return { rig, id, clientId: cid };
}

function lastConnect(rig: BrokerRig, cid: string) {
  return [...rig.records].reverse().find((r) => r.mqtt.connect?.clientId === cid);
}

async function errCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    if (err instanceof HarnessError) return err.code;
    throw err;
  }
}

const uniqueTopic = (name: string) => `bxhil/${process.pid}/${Date.now().toString(36)}/${name}`;

describe('connect', () => {
  hil(
    'mutual TLS connect: +KMQTT_IND 1 and the broker sees the client id',
    { scenario: 'S1', needs: ['tls.mutual'] },
    async (ctx) => {
      const { rig, clientId: cid } = await up(ctx);
      const rec = lastConnect(rig, cid);
      expect(rec?.tls?.authorized).toBe(true);
      expect(rec?.mqtt.connack?.returnCode).toBe(0);
    },
  );

  hil(
    'plain TCP session (secure = 0) connects to a plain broker',
    { scenario: '[BX-T] KMQTTCFG_0001 secure=0' },
    async (ctx) => {
      const rig = await ctx.rigs.start({ profile: 'plain' });
      const cid = clientId();
      await connectOrExplain(ctx.device, rig, ctx.rigs.endpoint(rig), { secure: false, clientId: cid });
      expect(lastConnect(rig, cid)?.tls).toBeUndefined();
    },
  );

  hil(
    'MQTT 3.1 (version 3) connects with protocol level 3',
    { scenario: '[BX-T] KMQTTCFG_0001 version', needs: ['mqtt.v31'] },
    async (ctx) => {
      const { rig, clientId: cid } = await up(ctx, { version: 3 });
      expect(lastConnect(rig, cid)?.mqtt.connect?.protocolVersion).toBe(3);
    },
  );

  hil('the session read form echoes the configuration', { scenario: '[BX-T] KMQTTCFG_0001 read form' }, async (ctx) => {
    const rig = await ctx.rigs.start();
    const cid = clientId('echo');
    const id = await configureSession(ctx.device, ctx.rigs.endpoint(rig), {
      clientId: cid,
      keepAliveS: 45,
      cleanSession: false,
    });
    const s = (await ctx.device.mqttSessions()).find((x) => x.id === id);
    expect(s).toMatchObject({ clientId: cid, keepAliveSeconds: 45, cleanSession: false, version: 4 });
  });

  hil(
    'a second KMQTTCNX on a connected session is refused, the session stays up',
    { scenario: '[3P] HL7811 911' },
    async (ctx) => {
      const { id, rig } = await up(ctx);
      expect(await errCode(ctx.device.mqttConnect(id, { timeoutMs: waits().connectMs }))).toBe('BXHIL_CME');
      const inbox = await brokerInbox(rig, '#');
      await ctx.device.mqttPublish(id, uniqueTopic('still-up'), 'yes', { qos: 1 });
      expect(await eventually(() => inbox.got.length > 0, waits().deliveryMs())).toBe(true);
      await inbox.stop();
    },
  );

  hil(
    'CONNACK refused by the broker: +KMQTT_IND 0 and the rig says why',
    { scenario: 'DA MQTT_Connect refused' },
    async (ctx) => {
      const rig = await ctx.rigs.start({ allowedClientIds: ['somebody-else'] });
      await provisionPki(ctx);
      const id = await configureSession(ctx.device, ctx.rigs.endpoint(rig), { clientId: clientId('refused') });
      const r = await tryConnect(ctx.device, id, waits().connectMs, ctx.evidence);
      expect(r.connected).toBe(false);
      expect(r.code).toBe('BXHIL_MQTT_ABORTED');
      const v = await rig.waitForVerdict((x) => x.code !== 'OK', waits().verdictMs);
      expect(v.code).toBe('CONNECT_REFUSED');
    },
  );
});

describe('publish', () => {
  hil('QoS 0 publish reaches a subscriber', { scenario: '[BX-T] KMQTTPUB_0001 qos 0' }, async (ctx) => {
    const { rig, id } = await up(ctx);
    const topic = uniqueTopic('q0');
    const inbox = await brokerInbox(rig, topic);
    await ctx.device.mqttPublish(id, topic, 'hello-q0', { qos: 0 });
    expect(await eventually(() => inbox.got.length === 1, waits().deliveryMs())).toBe(true);
    expect(inbox.got[0]!.payload.toString()).toBe('hello-q0');
    await inbox.stop();
  });

  hil(
    'QoS 1 publish is acknowledged (+KMQTT_IND 4 after PUBACK)',
    { scenario: '[BX-L] KMQTTPUB qos 1', needs: ['mqtt.qos1'] },
    async (ctx) => {
      const { rig, id, clientId: cid } = await up(ctx);
      const topic = uniqueTopic('q1');
      const inbox = await brokerInbox(rig, topic);
      await ctx.device.mqttPublish(id, topic, 'hello-q1', { qos: 1 });
      expect(await eventually(() => inbox.got.length === 1, waits().deliveryMs())).toBe(true);
      const packets = lastConnect(rig, cid)!.mqtt.packets;
      expect(packets.some((p) => p.dir === 'out' && p.cmd === 'puback')).toBe(true);
      await inbox.stop();
    },
  );

  hil(
    'QoS 2 publish completes (PUBREC/PUBREL/PUBCOMP)',
    { scenario: '[BX-T] KMQTTPUB_0001 qos 2', needs: ['mqtt.qos2'] },
    async (ctx) => {
      const { rig, id, clientId: cid } = await up(ctx);
      const topic = uniqueTopic('q2');
      const inbox = await brokerInbox(rig, topic);
      await ctx.device.mqttPublish(id, topic, 'hello-q2', { qos: 2 });
      expect(await eventually(() => inbox.got.length === 1, waits().deliveryMs())).toBe(true);
      const cmds = lastConnect(rig, cid)!.mqtt.packets.map((p) => `${p.dir}:${p.cmd}`);
      expect(cmds).toEqual(expect.arrayContaining(['out:pubrec', 'in:pubrel', 'out:pubcomp']));
      await inbox.stop();
    },
  );

  hil(
    'a retained publish is kept by the broker for later subscribers',
    { scenario: '[BX-T] KMQTTCFG_0002 retain' },
    async (ctx) => {
      const { rig, id, clientId: cid } = await up(ctx);
      const topic = uniqueTopic('retained');
      await ctx.device.mqttPublish(id, topic, 'kept', { qos: 1, retain: true });
      const pub = lastConnect(rig, cid)!.mqtt.packets.find((p) => p.dir === 'in' && p.cmd === 'publish');
      expect(pub?.summary).toContain(' retain');
      // A second session subscribing later gets it from the broker.
      const later = await connectOrExplain(ctx.device, rig, ctx.rigs.endpoint(rig), { clientId: clientId('later') });
      const got = nextMessage(ctx.device, (m) => m.topic === topic, waits().deliveryMs(), ctx.evidence);
      await ctx.device.mqttSubscribe(later, topic, 1);
      expect((await got)?.payload).toBe('kept');
    },
  );

  hil('a payload at the firmware limit arrives intact', { scenario: '[guess] mqtt.payloadBytes' }, async (ctx) => {
    // The firmware's limit, from the profile it runs against (the virtual module's, or the one chosen for hardware).
    const limit = ctx.target.profile!.mqtt.payloadBytes;
    const { rig, id } = await up(ctx);
    const topic = uniqueTopic('limit');
    const payload = 'x'.repeat(limit - 8) + 'ABCDEFGH';
    const inbox = await brokerInbox(rig, topic);
    await ctx.device.mqttPublish(id, topic, payload, { qos: 1 });
    expect(await eventually(() => inbox.got.length === 1, waits().deliveryMs())).toBe(true);
    expect(inbox.got[0]!.payload.toString()).toBe(payload);
    await inbox.stop();
  });

  hil(
    'a payload past the limit is refused, never published truncated',
    { scenario: '[guess] mqtt.payloadBytes + 1' },
    async (ctx) => {
      // The firmware's limit, from the profile it runs against (the virtual module's, or the one chosen for hardware).
      const limit = ctx.target.profile!.mqtt.payloadBytes;
      const { rig, id } = await up(ctx);
      const topic = uniqueTopic('past-limit');
      const inbox = await brokerInbox(rig, topic);
      expect(await errCode(ctx.device.mqttPublish(id, topic, 'y'.repeat(limit + 1), { qos: 1 }))).toBe('BXHIL_CME');
      // Nothing (and in particular nothing truncated) reaches the broker: 500 ms quiet on an instant module.
      expect(await staysQuiet(() => inbox.got.length > 0, 500, ctx.evidence, 'no truncated publish', limit)).toBe(true);
      await inbox.stop();
    },
  );

  for (const [name, topic] of [
    ['spaces', 'bxhil/with space/and more'],
    ['UTF-8', 'bxhil/température/é'],
    ['punctuation', "bxhil/a-b_c.d:e;f@g!h(i)j'k"],
    ['deep levels', 'bxhil/1/2/3/4/5/6/7/8/9/10'],
  ] as const) {
    hil(`topic with ${name} is delivered with the same bytes`, { scenario: '[MQTT-4.7] topic names' }, async (ctx) => {
      const { rig, id } = await up(ctx);
      const inbox = await brokerInbox(rig, topic);
      await ctx.device.mqttPublish(id, topic, name, { qos: 1 });
      expect(await eventually(() => inbox.got.length === 1, waits().deliveryMs())).toBe(true);
      expect(inbox.got[0]!.topic).toBe(topic);
    });
  }

  hil('an unconfigured session cannot publish (910)', { scenario: '[BX-T] KMQTTPUB_0002 910' }, async (ctx) => {
    const err = await ctx.device.at.command('AT+KMQTTPUB=9,"t",0,0,"x"').catch((e: unknown) => e);
    expect((err as { cmeCode?: number }).cmeCode).toBe(910);
  });
});

describe('subscribe', () => {
  hil(
    'a subscription on a UTF-8 topic receives it with the same bytes',
    { scenario: '[MQTT-4.7] topic names' },
    async (ctx) => {
      const { rig, id } = await up(ctx);
      const topic = `${uniqueTopic('cmd')}/température/é`;
      await ctx.device.mqttSubscribe(id, topic, 1);
      expect(await brokerSubscribed(rig, topic)).toBe(true);
      const got = nextMessage(ctx.device, (m) => m.topic === topic, waits().deliveryMs(), ctx.evidence);
      await rig.publish(topic, 'ok', { qos: 1 });
      expect((await got)?.payload).toBe('ok');
    },
  );

  hil('a subscription receives what the broker publishes', { scenario: '[BX-L] +KMQTT_DATA' }, async (ctx) => {
    const { rig, id } = await up(ctx);
    const topic = uniqueTopic('cmd');
    await ctx.device.mqttSubscribe(id, topic, 1);
    expect(await brokerSubscribed(rig, topic)).toBe(true);
    const got = nextMessage(ctx.device, (m) => m.topic === topic, waits().deliveryMs(), ctx.evidence);
    await rig.publish(topic, 'reboot', { qos: 1 });
    expect((await got)?.payload).toBe('reboot');
  });

  hil('a wildcard subscription receives every matching topic', { scenario: '[MQTT-4.7.1] wildcards' }, async (ctx) => {
    const { rig, id } = await up(ctx);
    const base = uniqueTopic('wild');
    await ctx.device.mqttSubscribe(id, `${base}/+/state`, 0);
    expect(await brokerSubscribed(rig, `${base}/+/state`)).toBe(true);
    const got = nextMessage(ctx.device, (m) => m.topic === `${base}/lamp/state`, waits().deliveryMs(), ctx.evidence);
    await rig.publish(`${base}/lamp/other`, 'no');
    await rig.publish(`${base}/lamp/state`, 'on');
    expect((await got)?.payload).toBe('on');
  });

  hil('unsubscribe stops delivery', { scenario: '[BX-T] KMQTTUNSUB' }, async (ctx) => {
    const { rig, id } = await up(ctx);
    const topic = uniqueTopic('unsub');
    await ctx.device.mqttSubscribe(id, topic, 0);
    expect(await brokerSubscribed(rig, topic)).toBe(true);
    await ctx.device.mqttUnsubscribe(id, topic);
    await eventually(
      () => rig.records.some((r) => r.mqtt.packets.some((p) => p.cmd === 'unsuback')),
      waits().subscribeMs,
    );
    // 700 ms quiet on an instant module (plus the message's modelled delivery): the window this test observes.
    const quietMs = waits().quietMs(700);
    ctx.evidence.observe('no message after UNSUBSCRIBE', quietMs);
    const got = nextMessage(ctx.device, (m) => m.topic === topic, quietMs, ctx.evidence);
    await rig.publish(topic, 'should not arrive');
    expect(await got).toBeUndefined();
  });

  hil(
    'a retained message is delivered right after subscribing',
    { scenario: '[BX-T] KMQTTCFG_0002 retained on subscribe' },
    async (ctx) => {
      const { rig, id } = await up(ctx);
      const topic = uniqueTopic('retained-in');
      await rig.publish(topic, 'config-v1', { qos: 1, retain: true });
      const got = nextMessage(ctx.device, (m) => m.topic === topic, waits().deliveryMs(), ctx.evidence);
      await ctx.device.mqttSubscribe(id, topic, 1);
      expect((await got)?.payload).toBe('config-v1');
    },
  );
});

describe('sessions', () => {
  hil(
    'three sessions at once each connect and publish under their own client id',
    { scenario: '[BX-T] KMQTTPUB_0002 sessions' },
    async (ctx) => {
      const rig = await ctx.rigs.start();
      await provisionPki(ctx);
      const inbox = await brokerInbox(rig, uniqueTopic('multi').replace(/[^/]+$/, '#'));
      const ids: number[] = [];
      const cids = [clientId('m1'), clientId('m2'), clientId('m3')];
      for (const cid of cids)
        ids.push(await connectOrExplain(ctx.device, rig, ctx.rigs.endpoint(rig), { clientId: cid }));
      expect(new Set(ids).size).toBe(3);
      for (const cid of cids) expect(lastConnect(rig, cid)?.mqtt.connack?.returnCode).toBe(0);
      await inbox.stop();
    },
  );

  hil('clean session off is sent in CONNECT', { scenario: '[MQTT-3.1.2.4] clean session' }, async (ctx) => {
    const { rig, clientId: cid } = await up(ctx, { cleanSession: false });
    expect(lastConnect(rig, cid)?.mqtt.connect?.clean).toBe(false);
  });

  hil(
    'keep-alive: CONNECT carries it and PINGREQ comes within it',
    // Vitest's bound: a connect, then the 2 s keep-alive and its delivery, with room for a loaded machine.
    { scenario: '[MQTT-3.1.2-23] keep-alive', timeoutMs: 20_000 },
    async (ctx) => {
      const { rig, clientId: cid } = await up(ctx, { keepAliveS: 2 });
      const rec = lastConnect(rig, cid)!;
      expect(rec.mqtt.connect?.keepalive).toBe(2);
      const t0 = performance.now();
      ctx.evidence.waiting('a PINGREQ from the module (keep-alive 2 s)');
      // The keep-alive this test observes: a PINGREQ is due within it (1.5x at the broker, [MQTT-3.1.2-24]), then delivered.
      ctx.evidence.observe('the keep-alive period before a PINGREQ', 2_000);
      const pinged = await eventually(
        () => rec.mqtt.packets.some((p) => p.dir === 'in' && p.cmd === 'pingreq'),
        2_000 * 1.5 + waits().deliveryMs(),
        50,
      );
      ctx.evidence.waiting(undefined);
      expect(pinged).toBe(true);
      // MQTT 3.1.1 §3.1.2.10: a client must send a control packet within the keep-alive period (generous bound: 1.5x + scheduling).
      expect(performance.now() - t0).toBeLessThan(2_000 * 1.5 + 1_500);
    },
  );

  hil(
    'KMQTTCLOSE on a session that is not connected answers 922',
    { scenario: '[BX-T] KMQTTCLOSE_0001 922' },
    async (ctx) => {
      const rig = await ctx.rigs.start();
      const id = await configureSession(ctx.device, ctx.rigs.endpoint(rig));
      const err = await ctx.device.mqttClose(id).catch((e: unknown) => e);
      expect((err as { cmeCode?: number }).cmeCode).toBe(922);
    },
  );

  hil(
    'the will is published when the connection is lost',
    // Vitest's bound: the 120 s [BX-T] allows a real broker to notice the loss, a rejoin and a connect.
    { scenario: '[BX-T] KMQTTCFG_0002 LWT', needs: ['mqtt.will', 'wifi'], timeoutMs: 150_000 },
    async (ctx) => {
      const rig = await ctx.rigs.start();
      const willTopic = uniqueTopic('will');
      const inbox = await brokerInbox(rig, willTopic);
      await up(ctx, { rig, will: { topic: willTopic, message: 'OFFLINE', qos: 1 }, keepAliveS: 10 });
      const cannot = await loseWifi(ctx);
      if (cannot) {
        ctx.meta.skipReason = cannot;
        ctx.skip(cannot);
        return;
      }
      try {
        // The virtual module closes its socket with Wi-Fi, so the broker publishes the will at once
        // (delivery bound). On hardware the broker notices the silent client after 1.5x keep-alive
        // ([MQTT-3.1.2-24], 15 s here); [BX-T] allows 120 s.
        expect(await eventually(() => inbox.got.length === 1, ctx.vm ? waits().deliveryMs() : 120_000)).toBe(true);
      } finally {
        if (!ctx.vm) await ctx.device.wifiConnect({ timeoutMs: waits().wifiJoinMs });
      }
      expect(inbox.got[0]!.payload.toString()).toBe('OFFLINE');
      await inbox.stop();
    },
  );

  hil(
    'no will after a clean close',
    { scenario: '[MQTT-3.1.2-10] will discarded on DISCONNECT', needs: ['mqtt.will'] },
    async (ctx) => {
      const rig = await ctx.rigs.start();
      const willTopic = uniqueTopic('no-will');
      const inbox = await brokerInbox(rig, willTopic);
      const { id } = await up(ctx, { rig, will: { topic: willTopic, message: 'OFFLINE', qos: 1 } });
      await ctx.device.mqttClose(id);
      // 1 s quiet on an instant module: a will the broker wrongly publishes on the close shows within it.
      expect(await staysQuiet(() => inbox.got.length > 0, 1_000, ctx.evidence, 'no will after a clean close')).toBe(
        true,
      );
      await inbox.stop();
    },
  );
});

describe('broker faults', () => {
  hil(
    'reconnect after the broker restarts',
    // Vitest's bound: two connects (each at most the module's handshake + CONNACK bounds) and the loss between.
    { scenario: 'DA reconnect / FLIT RemoteDisconnect', timeoutMs: 45_000 },
    async (ctx) => {
      const { rig, id } = await up(ctx);
      const lost = new Promise<number>((resolve) => {
        const on = (ind: { sessionId: number; code: number }) => {
          if (ind.sessionId === id && ind.code === 0) {
            ctx.device.off('mqttInd', on);
            resolve(ind.code);
          }
        };
        ctx.device.on('mqttInd', on);
      });
      await rig.restart();
      ctx.evidence.waiting(`+KMQTT_IND: ${id},0 after the broker restart`);
      const lossMs = waits().lossMs;
      const code = await Promise.race([
        lost,
        new Promise<string>((r) => setTimeout(() => r(`no +KMQTT_IND: 0 within ${lossMs} ms`), lossMs)),
      ]);
      expect(code).toBe(0);
      const r = await tryConnect(ctx.device, id, waits().connectMs, ctx.evidence);
      expect(r.connected).toBe(true);
    },
  );

  hil(
    'PUBACK withheld: the QoS 1 publish is not reported delivered',
    // Vitest's bound: a connect (at most the module's bounds) and the 3 s observed.
    { scenario: 'DA no PUBACK', timeoutMs: 45_000 },
    async (ctx) => {
      const { rig, id } = await up(ctx);
      rig.setFaults({ withhold: ['puback'] });
      const code = await errCode(
        // 3 s without PUBACK is what this test observes (the module's own PUBACK wait is longer, 12 s [BX-L]).
        ctx.device.mqttPublish(id, uniqueTopic('no-puback'), 'x', {
          qos: 1,
          waitAckMs: observed(ctx, 'no PUBACK', 3_000),
        }),
      );
      expect(code).not.toBe('OK');
      // The module still answers AT.
      await ctx.device.at.command('AT');
    },
  );

  hil(
    'CONNACK withheld: the connect fails within the module bound instead of hanging',
    // Vitest's bound: uploads and one connect that runs to the module's CONNACK bound, twice over.
    { scenario: 'DA no CONNACK', timeoutMs: 60_000 },
    async (ctx) => {
      const rig = await ctx.rigs.start({ faults: { withhold: ['connack'] } });
      await provisionPki(ctx);
      const id = await configureSession(ctx.device, ctx.rigs.endpoint(rig), { clientId: clientId('no-connack') });
      // The module gives up at its own CONNACK bound: the wait this test exists to observe.
      if (ctx.target.profile)
        ctx.evidence.observe("the module's CONNACK bound", ctx.target.profile.mqtt.connectTimeoutMs);
      const r = await tryConnect(ctx.device, id, waits().connectMs, ctx.evidence);
      expect(r.connected).toBe(false);
      await ctx.device.at.command('AT');
    },
  );
});
