/**
 * A man-in-the-middle that produces KEY_MISMATCH on the wire for tests: every TLS stack on this
 * machine refuses to load a certificate with a key that is not its own (Node: `key values
 * mismatch`; openssl s_client: "error setting private key"), so a real client signs with its own
 * key and this proxy swaps the certificate in its TLS 1.2 Certificate message (plaintext before
 * ChangeCipherSpec) for another certificate. The broker then checks the client's
 * CertificateVerify against the wrong public key: exactly what a module with a mismatched
 * certificate/key pair sends. TLS 1.2 only (in TLS 1.3 the client Certificate is encrypted).
 */
import net from 'node:net';

/** Replace the certificate list of every client Certificate message (type 11) in `record`. */
function rewriteRecord(record: Buffer, certDer: Buffer): Buffer {
  if (record[0] !== 0x16) return record;
  const body = record.subarray(5);
  const out: Buffer[] = [];
  let p = 0;
  while (p + 4 <= body.length) {
    const type = body[p]!;
    const len = body.readUIntBE(p + 1, 3);
    const msg = body.subarray(p, p + 4 + len);
    if (type === 11) {
      const list = Buffer.alloc(3 + 3 + certDer.length);
      list.writeUIntBE(3 + certDer.length, 0, 3);
      list.writeUIntBE(certDer.length, 3, 3);
      certDer.copy(list, 6);
      const hdr = Buffer.alloc(4);
      hdr[0] = 11;
      hdr.writeUIntBE(list.length, 1, 3);
      out.push(hdr, list);
    } else {
      out.push(msg);
    }
    p += 4 + len;
  }
  if (p < body.length) out.push(body.subarray(p));
  const newBody = Buffer.concat(out);
  const hdr = Buffer.from(record.subarray(0, 5));
  hdr.writeUInt16BE(newBody.length, 3);
  return Buffer.concat([hdr, newBody]);
}

/** A running `startCertSwapProxy`: the port it listens on, and `close()`. */
export interface SwapProxy {
  port: number;
  close(): Promise<void>;
}

/** Listen on 127.0.0.1:0, forward to `target`, swapping the client certificate for `certDer`. */
export function startCertSwapProxy(target: { host: string; port: number }, certDer: Buffer): Promise<SwapProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let buf = Buffer.alloc(0);
    let passthrough = false;
    client.on('data', (d: Buffer) => {
      if (passthrough) {
        upstream.write(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5) {
        const len = buf.readUInt16BE(3);
        if (buf.length < 5 + len) break;
        const rec = buf.subarray(0, 5 + len);
        buf = buf.subarray(5 + len);
        upstream.write(rewriteRecord(rec, certDer));
        if (rec[0] === 0x14) passthrough = true; // ChangeCipherSpec: the rest is encrypted
      }
      if (passthrough && buf.length) {
        upstream.write(buf);
        buf = Buffer.alloc(0);
      }
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((res) => {
            for (const s of sockets) s.destroy();
            server.close(() => res());
          }),
      }),
    );
  });
}
