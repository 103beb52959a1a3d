/**
 * The (S)NTP packet (RFC 4330): 48 bytes, big-endian, timestamps as seconds since 1900 plus a
 * 32-bit fraction. Shared by the lab's SNTP responder (harness/lab) and the virtual module's
 * SNTP client (harness/sim), which may not import each other.
 *
 * Hand-written: the format is one fixed 48-byte header, and the npm packages for it are clients
 * for the real NTP pool (none serves a chosen time), so a dependency would bring more than this.
 * Era 0 only (1900-2036): the harness serves 1970, today, or a date before 2036.
 */

export const NTP_PACKET_BYTES = 48;
/** Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const MODE_CLIENT = 3;
const MODE_SERVER = 4;
const VERSION = 4;
const TRANSMIT_OFFSET = 40;
const ORIGINATE_OFFSET = 24;
const RECEIVE_OFFSET = 32;
const REFERENCE_OFFSET = 16;

/** Whether `time` fits an era-0 NTP timestamp (1900-01-01 to 2036-02-07). */
export function ntpRepresentable(time: Date): boolean {
  const seconds = Math.floor(time.getTime() / 1000) + NTP_UNIX_OFFSET_S;
  return seconds >= 0 && seconds <= 0xffff_ffff;
}

function writeTime(buf: Buffer, offset: number, time: Date): void {
  if (!ntpRepresentable(time)) throw new RangeError(`${time.toISOString()} is outside NTP era 0 (1900-2036)`);
  const ms = time.getTime();
  const seconds = Math.floor(ms / 1000) + NTP_UNIX_OFFSET_S;
  buf.writeUInt32BE(seconds >>> 0, offset);
  buf.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32) >>> 0, offset + 4);
}

function readTime(buf: Buffer, offset: number): Date {
  const seconds = buf.readUInt32BE(offset);
  const fraction = buf.readUInt32BE(offset + 4);
  return new Date((seconds - NTP_UNIX_OFFSET_S) * 1000 + Math.round((fraction / 2 ** 32) * 1000));
}

/** A client request (mode 3), its transmit timestamp `now`. */
export function encodeNtpRequest(now: Date): Buffer {
  const buf = Buffer.alloc(NTP_PACKET_BYTES);
  buf[0] = (VERSION << 3) | MODE_CLIENT;
  writeTime(buf, TRANSMIT_OFFSET, now);
  return buf;
}

/** What a request says: undefined when the bytes are not a client request. */
export function decodeNtpRequest(buf: Buffer): { version: number; transmit: Buffer } | undefined {
  if (buf.length < NTP_PACKET_BYTES || (buf[0]! & 0x07) !== MODE_CLIENT) return undefined;
  return { version: (buf[0]! >> 3) & 0x07, transmit: buf.subarray(TRANSMIT_OFFSET, TRANSMIT_OFFSET + 8) };
}

/** A server reply (mode 4, stratum 1) stating `time`, echoing the request's transmit timestamp as originate. */
export function encodeNtpReply(request: Buffer, time: Date): Buffer {
  const req = decodeNtpRequest(request);
  const buf = Buffer.alloc(NTP_PACKET_BYTES);
  buf[0] = ((req?.version || VERSION) << 3) | MODE_SERVER;
  buf[1] = 1; // stratum 1: a primary reference (the harness is the module's only source)
  buf.write('LOCL', 12, 'ascii'); // reference id of a local clock
  writeTime(buf, REFERENCE_OFFSET, time);
  req?.transmit.copy(buf, ORIGINATE_OFFSET);
  writeTime(buf, RECEIVE_OFFSET, time);
  writeTime(buf, TRANSMIT_OFFSET, time);
  return buf;
}

/** A server reply's time (its transmit timestamp); undefined when the bytes are not a usable reply. */
export function decodeNtpReply(buf: Buffer): { time: Date; stratum: number } | undefined {
  if (buf.length < NTP_PACKET_BYTES || (buf[0]! & 0x07) !== MODE_SERVER) return undefined;
  const stratum = buf[1]!;
  // Stratum 0 is a "kiss-o'-death" (RFC 4330 §8): no time to take.
  if (stratum === 0) return undefined;
  return { time: readTime(buf, TRANSMIT_OFFSET), stratum };
}
