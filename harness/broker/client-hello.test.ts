/**
 * The hand-written ClientHello parser against real ClientHellos: Node's TLS client and
 * openssl s_client, each told what to send; plus first-byte classification and fuzzing.
 */
import fc from 'fast-check';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, describe, expect, test } from 'vitest';
import { classifyFirstBytes, clientHelloBytesNeeded, parseClientHello } from './client-hello.ts';
import { hasTool, killAllClients, runClient } from './testing.ts';

/** Accept one connection, collect its first bytes until the ClientHello is complete. */
function captureHello(connect: (port: number) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (clientHelloBytesNeeded(buf) !== 0) {
          s.destroy();
          srv.close();
          resolve(buf);
        }
      });
      s.on('error', () => undefined);
    });
    srv.listen(0, '127.0.0.1', () => connect((srv.address() as net.AddressInfo).port));
    setTimeout(() => {
      srv.close();
      reject(new Error('no ClientHello within 5 s'));
    }, 5000).unref();
  });
}

afterAll(() => killAllClients());

describe('parseClientHello', () => {
  test('Node client: SNI, ALPN, versions, a single TLS 1.2 cipher', async () => {
    const bytes = await captureHello((port) => {
      const c = tls.connect({
        port,
        host: '127.0.0.1',
        servername: 'dev.example',
        ALPNProtocols: ['x-amzn-mqtt-ca', 'mqtt'],
        ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
      });
      c.on('error', () => undefined);
    });
    const h = parseClientHello(bytes)!;
    expect(h.sni).toBe('dev.example');
    expect(h.alpn).toEqual(['x-amzn-mqtt-ca', 'mqtt']);
    expect(h.version).toBe('TLS1.2');
    expect(h.cipherSuites.filter((c) => !c.endsWith('SCSV'))).toEqual(['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256']);
    expect(h.groups).toContain('x25519');
    expect(h.signatureAlgorithms).toContain('ecdsa_secp256r1_sha256');
    expect(h.sessionTicket).toBe(true);
    expect(h.extensions).toContain('server_name');
  });

  test('Node client TLS 1.3: supported_versions, no SNI when connecting by IP', async () => {
    const bytes = await captureHello((port) => {
      const c = tls.connect({ port, host: '127.0.0.1', minVersion: 'TLSv1.3' });
      c.on('error', () => undefined);
    });
    const h = parseClientHello(bytes)!;
    expect(h.supportedVersions).toEqual(['TLS1.3']);
    expect(h.sni).toBeUndefined();
    expect(h.cipherSuites).toContain('TLS_AES_128_GCM_SHA256');
  });

  test.skipIf(!hasTool('openssl'))(
    's_client -servername -alpn -maxfraglen -no_ticket are recorded as sent',
    async () => {
      const bytes = await captureHello((port) => {
        void runClient(
          'openssl',
          [
            's_client',
            '-connect',
            `127.0.0.1:${port}`,
            '-servername',
            'foo.example',
            '-alpn',
            'x-amzn-mqtt-ca',
            '-maxfraglen',
            '1024',
            '-no_ticket',
            '-tls1_2',
          ],
          { timeoutMs: 5000 },
        );
      });
      const h = parseClientHello(bytes)!;
      expect(h.sni).toBe('foo.example');
      expect(h.alpn).toEqual(['x-amzn-mqtt-ca']);
      expect(h.maxFragmentLength).toBe(1024);
      expect(h.sessionTicket).toBe(false);
      expect(h.supportedVersions).toEqual(['TLS1.2']);
    },
  );

  test('a ClientHello split across reads is only complete with its last byte', async () => {
    const bytes = await captureHello((port) => {
      const c = tls.connect({ port, host: '127.0.0.1', servername: 'x.example' });
      c.on('error', () => undefined);
    });
    for (let i = 1; i < bytes.length; i++) expect(clientHelloBytesNeeded(bytes.subarray(0, i))).toBe(0);
    expect(clientHelloBytesNeeded(bytes)).toBe(bytes.length);
  });

  test('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (arr) => {
        const b = Buffer.from(arr);
        parseClientHello(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01]), b]));
        parseClientHello(b);
        clientHelloBytesNeeded(b);
      }),
      { numRuns: 300 },
    );
  });
});

describe('classifyFirstBytes', () => {
  test('TLS, MQTT CONNECT, HTTP, other', () => {
    expect(classifyFirstBytes(Buffer.from([0x16, 3, 1]))).toBe('tls');
    expect(classifyFirstBytes(Buffer.from([0x10, 0x0c, 0, 4]))).toBe('mqtt');
    expect(classifyFirstBytes(Buffer.from('GET / HTTP/1.1\r\n'))).toBe('http');
    expect(classifyFirstBytes(Buffer.from([0x42]))).toBe('other');
  });
});
