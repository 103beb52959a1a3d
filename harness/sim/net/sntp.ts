/**
 * The virtual module's SNTP client [guess: no source says the BX sets its clock from SNTP; a
 * profile opts in with `clock.source: 'sntp'`]: one request to the server the module was given,
 * bounded tries, the answer's transmit time or undefined.
 */
import { createSocket } from 'node:dgram';
import { decodeNtpReply, encodeNtpRequest } from '../../ntp.ts';

/** [guess] lwIP's SNTP client retries after a few seconds; bounded here so a connect is not held long. */
const SNTP_TRY_TIMEOUT_MS = 1_500;
const SNTP_TRIES = 2;

/** Ask `server` (`<ip>:<port>`) for the time; undefined when it does not answer with a usable reply. */
export async function sntpTime(server: string): Promise<Date | undefined> {
  const colon = server.lastIndexOf(':');
  const host = server.slice(0, colon);
  const port = Number(server.slice(colon + 1));
  for (let i = 0; i < SNTP_TRIES; i++) {
    const got = await new Promise<Date | undefined>((resolve) => {
      const sock = createSocket('udp4');
      const done = (v: Date | undefined) => {
        clearTimeout(timer);
        sock.close();
        resolve(v);
      };
      const timer = setTimeout(() => done(undefined), SNTP_TRY_TIMEOUT_MS);
      sock.on('message', (msg) => {
        const reply = decodeNtpReply(msg);
        if (reply) done(reply.time);
      });
      sock.once('error', () => done(undefined));
      sock.send(encodeNtpRequest(new Date()), port, host);
    });
    if (got) return got;
  }
  return undefined;
}
