/**
 * The link contract over in-process implementations: StreamLink on a memory pair, the
 * scripted link, and the paced link (on a memory pair, at a rate high enough to stay fast).
 */
import type { Duplex } from 'node:stream';
import { linkContract, type ContractPeer } from './link.contract.ts';
import { memoryLinkPair, pacedMemoryLinkPair, scriptedLink } from './index.ts';

function duplexPeer(device: Duplex): ContractPeer {
  return {
    // duplexPair calls a write's callback only once the other side reads: after the link has
    // gone that never happens, so hand the bytes over and move on.
    write: async (b) => {
      if (!device.destroyed) device.write(b);
      await new Promise((r) => setImmediate(r));
    },
    onData: (cb) => device.on('data', cb),
    close: async () => {
      device.destroy();
    },
  };
}

linkContract('StreamLink over memoryLinkPair', async () => {
  const { link, device } = memoryLinkPair();
  return { link, peer: duplexPeer(device) };
});

linkContract('pacedLink over a memory pair (10 Mbaud)', async () => {
  const { link, device } = pacedMemoryLinkPair({ baudRate: 10_000_000 });
  return { link, peer: duplexPeer(device) };
});

linkContract('scriptedLink', async () => {
  const s = scriptedLink();
  return {
    link: s.link,
    peer: {
      write: async (b) => s.emitData(b),
      onData: (cb) => void s.onWrite(cb),
      close: async () => s.disconnect(),
    },
  };
});
