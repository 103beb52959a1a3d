/**
 * The link contract for serial: over a real socat PTY pair (serialport on both ends), and
 * against a real port when TEST_PORT is set.
 *
 * Glossary: link = serialport on PTY `a` (what the harness holds); peer = a second SerialPort
 * on PTY `b` (plays the module); socat = the wire between them.
 */
import { describe, test } from 'vitest';
import { SerialPort } from 'serialport';
import { linkContract, type ContractPeer } from './link.contract.ts';
import { openLink } from './index.ts';
import { hasTool, socatPtyPair } from './testing.ts';

function openPort(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate: 115_200, autoOpen: false });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });
}

function portPeer(port: SerialPort, onClose: () => Promise<void>): ContractPeer {
  port.on('error', () => undefined);
  return {
    write: (b) => new Promise<void>((resolve, reject) => port.write(b, (err) => (err ? reject(err) : resolve()))),
    onData: (cb) => port.on('data', cb),
    close: async () => {
      if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
      await onClose();
    },
  };
}

if (hasTool('socat')) {
  linkContract(
    'serial: over a socat PTY pair',
    async () => {
      const pty = await socatPtyPair();
      try {
        const uri = `serial:${pty.a}?baud=115200`;
        const link = await openLink(uri);
        const peerPort = await openPort(pty.b);
        return {
          link,
          peer: portPeer(peerPort, () => pty.close()),
          teardown: () => pty.close(),
          reopen: () => openLink(uri),
        };
      } catch (err) {
        await pty.close();
        throw err;
      }
    },
    // A PTY whose other side vanished reports it only on the next write (docs/reference/dependencies.md §2.3).
    { lossShowsOnWrite: true },
  );
} else {
  describe('link contract: serial: over a socat PTY pair', () => {
    test.skip('socat is not installed: apt-get install socat to run the serial contract over a PTY pair', () => {});
  });
}

/**
 * Real hardware. TEST_PORT is the harness side. With TEST_PEER_PORT, a second adapter wired
 * to it by a null-modem cable, the whole contract runs; with TEST_PORT alone, the one-ended
 * guarantees run (open, write, DTR/RTS, baud change, close releases the port).
 */
const testPort = process.env.TEST_PORT;
const testPeer = process.env.TEST_PEER_PORT;
if (testPort && testPeer) {
  linkContract(`serial: real port ${testPort} (peer ${testPeer})`, async () => {
    const link = await openLink(`serial:${testPort}`);
    const peerPort = await openPort(testPeer);
    return { link, peer: portPeer(peerPort, async () => undefined), reopen: () => openLink(`serial:${testPort}`) };
  });
} else if (testPort) {
  describe(`serial: real port ${testPort} (one-ended)`, () => {
    test('opens, writes, toggles DTR/RTS, changes baud, and close() releases the port', async () => {
      const link = await openLink(`serial:${testPort}`);
      try {
        await link.write('AT\r');
        await link.setSignals!({ dtr: true, rts: true });
        await link.updateSettings!({ baudRate: 9600 });
        await link.updateSettings!({ baudRate: 115_200 });
      } finally {
        await link.close();
      }
      const again = await openLink(`serial:${testPort}`);
      await again.close();
    });
    test.skip('set TEST_PEER_PORT=/dev/ttyUSB1 (a second adapter, null-modem wired) to run the full contract against real ports', () => {});
  });
} else {
  describe('link contract: serial: real port', () => {
    test.skip('set TEST_PORT=/dev/ttyUSB0 to run the contract against a real port (plus TEST_PEER_PORT for the two-ended half)', () => {});
  });
}
