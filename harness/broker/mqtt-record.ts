/**
 * How the aedes rig writes MQTT packets into a connection record: one summary line per packet
 * and the CONNECT fields it keeps. Never the password value or payload contents.
 */
import type { IConnectPacket, Packet } from 'mqtt-packet';
import type { ConnectInfo } from './types.ts';

/**
 * The CONNECT as recorded: `p` is what aedes got (after the profile's rules), `original` what
 * the device sent when a rule replaced it (aws-iot clamps the keep-alive, M6).
 */
export function connectInfo(p: IConnectPacket, withheld: boolean, original?: Packet): ConnectInfo {
  const info: ConnectInfo = {
    clientId: p.clientId,
    protocolVersion: p.protocolVersion ?? 4,
    keepalive: (original?.cmd === 'connect' ? original.keepalive : p.keepalive) ?? 0,
    clean: p.clean ?? true,
    password: p.password === undefined ? 'absent' : 'present',
  };
  if (p.username !== undefined) info.username = p.username;
  if (p.will) info.will = { topic: p.will.topic, qos: p.will.qos ?? 0, retain: p.will.retain ?? false };
  if (!withheld) info.keepaliveApplied = p.keepalive ?? 0;
  return info;
}

/** One line per packet; never includes password bytes or payload contents. */
export function packetSummary(p: Packet): string {
  switch (p.cmd) {
    case 'connect':
      return `CONNECT v${p.protocolVersion ?? 4} id="${p.clientId}" keepalive=${p.keepalive ?? 0} clean=${p.clean ?? true} user=${p.username === undefined ? 'absent' : `"${p.username}"`} password=${p.password === undefined ? 'absent' : 'present'}${p.will ? ` will=${p.will.topic}@${p.will.qos ?? 0}` : ''}`;
    case 'connack':
      return `CONNACK rc=${p.returnCode ?? p.reasonCode ?? 0} sessionPresent=${p.sessionPresent}`;
    case 'publish': {
      const len = typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length;
      return `PUBLISH qos=${p.qos} topic=${p.topic}${p.retain ? ' retain' : ''}${p.messageId !== undefined ? ` id=${p.messageId}` : ''} ${len} B`;
    }
    case 'subscribe':
      return `SUBSCRIBE id=${p.messageId} ${p.subscriptions.map((s) => `${s.topic}@${s.qos}`).join(' ')}`;
    case 'suback':
      return `SUBACK id=${p.messageId} granted=${(p.granted as Array<number | { qos?: number }>).map((g) => (typeof g === 'number' ? g : g.qos)).join(',')}`;
    case 'unsubscribe':
      return `UNSUBSCRIBE id=${p.messageId} ${p.unsubscriptions.join(' ')}`;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return `${p.cmd.toUpperCase()} id=${p.messageId}`;
    default:
      return p.cmd.toUpperCase();
  }
}
