/**
 * The undocumented fields the rig reads (internals.ts) are still where it reads them: each test
 * fails when a Node or aedes upgrade moves one. Only loopback, port 0.
 */
import { Aedes } from 'aedes';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import { describe, expect, test } from 'vitest';
import { createBasicPki } from '../pki/index.ts';
import { aedesClientStream, tlsParentSocket, tlsServername } from './internals.ts';

describe('internals the rig relies on', () => {
  test('aedes keeps the stream it was handed as client.conn', async () => {
    const broker = await Aedes.createBroker();
    try {
      const stream = new PassThrough();
      const client = broker.handle(stream);
      expect(aedesClientStream(client)).toBe(stream);
      stream.destroy();
    } finally {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    }
  });

  test("a TLSSocket made by emit('connection') knows its net.Socket (_parent) and the SNI it got", async () => {
    const pki = await createBasicPki();
    const engine = tls.createServer({ cert: pki.server.certPem, key: pki.server.keyPem });
    let raw: net.Socket | undefined;
    const front = net.createServer((s) => {
      raw = s;
      engine.emit('connection', s);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      const seen = new Promise<{ parent: net.Socket | undefined; sni: string | undefined }>((resolve) =>
        engine.once('secureConnection', (sock: tls.TLSSocket) => {
          resolve({ parent: tlsParentSocket(sock), sni: tlsServername(sock) });
          sock.destroy();
        }),
      );
      const client = tls.connect({
        host: '127.0.0.1',
        port: (front.address() as net.AddressInfo).port,
        servername: 'device.example',
        ca: pki.ca.certPem,
        rejectUnauthorized: false,
      });
      client.on('error', () => undefined);
      const { parent, sni } = await seen;
      client.destroy();
      expect(parent).toBeDefined();
      expect(parent).toBe(raw);
      expect(sni).toBe('device.example');
    } finally {
      await new Promise<void>((resolve) => front.close(() => resolve()));
    }
  });
});
