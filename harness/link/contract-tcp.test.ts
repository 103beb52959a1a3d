/**
 * The link contract for tcp:// against a local net.Server on 127.0.0.1:0 (the peer is the
 * server's accepted socket, playing ser2net's raw TCP accepter).
 */
import net from 'node:net';
import { linkContract } from './link.contract.ts';
import { openLink } from './index.ts';

linkContract('tcp:// against a net.Server', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const link = await openLink(`tcp://127.0.0.1:${port}`);
  const socket = await accepted;
  socket.on('error', () => undefined);
  return {
    link,
    peer: {
      write: (b) => new Promise<void>((resolve, reject) => socket.write(b, (err) => (err ? reject(err) : resolve()))),
      onData: (cb) => socket.on('data', cb),
      close: async () => {
        socket.destroy();
      },
    },
    teardown: () => new Promise<void>((r) => server.close(() => r())),
  };
});
