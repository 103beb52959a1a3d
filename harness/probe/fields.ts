/**
 * Every profile field the probe can learn, with the words the diff uses for it: the subject (the
 * exchange that shows it), a verb and how a value reads. The round-trip and mutation tests run
 * over this list, so a field added to a step without a row here fails them.
 */
export interface FieldWords {
  subject: string;
  verb: string;
  show(value: unknown): string;
}

const cme = (v: unknown): string => `+CME ERROR: ${String(v)}`;
const text = (v: unknown): string => JSON.stringify(v);
const yes = (t: string, f: string) => (v: unknown) => (v ? t : f);

export const FIELDS: Record<string, FieldWords> = {
  'identity.ati': { subject: 'ATI', verb: 'answers', show: text },
  'identity.fmm': { subject: 'AT+FMM', verb: 'answers', show: text },
  'identity.cgmr': { subject: 'AT+CGMR', verb: 'answers', show: text },
  'identity.mac': { subject: 'AT+MACADDR?', verb: 'answers', show: text },
  'framing.echoAtBoot': { subject: 'after AT+RST the module', verb: 'has', show: yes('echo on', 'echo off') },
  'framing.lfAfterCr': {
    subject: 'an LF after the CR',
    verb: 'is',
    show: (v) => (v === 'error' ? 'answered ERROR' : 'ignored'),
  },
  'framing.garbageLine': {
    subject: 'a line without AT',
    verb: 'gets',
    show: (v) => (v === 'error' ? 'ERROR' : 'no answer'),
  },
  'framing.lineBytes': { subject: 'the longest command line', verb: 'is', show: (v) => `${String(v)} bytes` },
  'params.kmqttcfgMaxParams': { subject: 'AT+KMQTTCFG', verb: 'takes', show: (v) => `at most ${String(v)} parameters` },
  'params.trailingEmptyOptional': {
    subject: 'an empty optional parameter (a trailing comma)',
    verb: 'gets',
    show: (v) => (v === 'error' ? '+CME ERROR: 916' : 'its default'),
  },
  'params.willTopicEcho': {
    subject: 'AT+KMQTTCFG? shows an unquoted will topic',
    verb: '',
    show: (v) => (v === 'quoted' ? 'quoted' : 'as given'),
  },
  'keys.readForm': {
    subject: 'AT+KPRIVKSTORE?',
    verb: 'answers',
    show: (v) => (v === 'cme918' ? '+CME ERROR: 918' : 'a list'),
  },
  'wifi.enabled': {
    subject: 'AT+SRWCFG?',
    verb: 'answers',
    show: yes('OK (Wi-Fi commands)', 'ERROR (no Wi-Fi commands)'),
  },
  'clock.settable': {
    subject: 'AT+CCLK?',
    verb: 'answers',
    show: yes('OK (a clock command)', 'ERROR (no clock command)'),
  },
  'mqtt.notConnected': { subject: 'AT+KMQTTCLOSE on a session not connected', verb: 'answers', show: cme },
  'mqtt.cnxWhenConnected': { subject: 'a second AT+KMQTTCNX while connecting', verb: 'answers', show: cme },
  'mqtt.delConnected': {
    subject: 'AT+KMQTTDEL on a connecting session',
    verb: '',
    show: (v) => (v === 'close' ? 'closes and deletes it' : 'is refused'),
  },
  'mqtt.versions': {
    subject: 'AT+KMQTTCFG',
    verb: 'takes',
    show: (v) => `<version> ${(v as number[]).join(', ') || 'none of 3, 4'}`,
  },
  'uploads.lineEndings': {
    subject: 'an uploaded PEM',
    verb: 'may have',
    show: (v) => `${(v as string[]).join(', ').toUpperCase()} line endings`,
  },
  'uploads.check': {
    subject: 'an upload',
    verb: 'is',
    show: (v) => (v === 'none' ? 'stored unchecked' : v === 'armor' ? 'checked for PEM armor' : 'parsed as PEM'),
  },
  'uploads.nbDataMismatch': {
    subject: 'an upload whose NbData differs from the bytes sent',
    verb: 'is',
    show: (v) => (v === 'error' ? 'refused (+CME ERROR: 931)' : 'stored'),
  },
  'uploads.maxBytes': { subject: 'AT+KCERTSTORE', verb: 'takes', show: (v) => `NbData up to ${String(v)}` },
  'mqtt.incomingUrc': {
    subject: 'an incoming message',
    verb: 'arrives as',
    show: (v) => (v === 'kmqttsub' ? '+KMQTTSUB: "<topic>",...' : '+KMQTT_DATA: <id>,...'),
  },
  'mqtt.indOnSubscribe': { subject: 'AT+KMQTTSUB', verb: 'raises', show: yes('+KMQTT_IND: <id>,2', 'no indication') },
  'mqtt.indOnQos0Publish': {
    subject: 'a QoS 0 AT+KMQTTPUB',
    verb: 'raises',
    show: yes('+KMQTT_IND: <id>,4', 'no indication'),
  },
  'tls.maxVersion': { subject: "the module's ClientHello", verb: 'offers up to', show: String },
  'tls.minVersion': { subject: "the module's ClientHello", verb: 'offers down to', show: String },
  'tls.ciphers': { subject: "the module's ClientHello", verb: 'offers', show: String },
  'tls.sni': { subject: "the module's ClientHello", verb: 'carries', show: yes('SNI', 'no SNI') },
  'mqtt.noRootCa': {
    subject: 'a secure connect with no root certificate',
    verb: '',
    show: (v) => (v === 'fail' ? 'fails' : 'connects unchecked'),
  },
  'tls.verify.dates': { subject: 'an expired server certificate', verb: 'is', show: yes('refused', 'accepted') },
  'tls.verify.name': { subject: 'a server certificate for another name', verb: 'is', show: yes('refused', 'accepted') },
  'tls.verify.chain': {
    subject: 'a server certificate from an untrusted CA',
    verb: 'is',
    show: yes('refused', 'accepted'),
  },
  'mqtt.sessions': { subject: 'the module', verb: 'holds', show: (v) => `${String(v)} sessions` },
};

/** The value of a dotted field of a profile-like object. */
export function valueAt(obj: unknown, field: string): unknown {
  let v = obj;
  for (const part of field.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}

export function setAt(obj: Record<string, unknown>, field: string, value: unknown): void {
  const parts = field.split('.');
  let o = obj;
  for (const part of parts.slice(0, -1)) {
    if (typeof o[part] !== 'object' || o[part] === null) o[part] = {};
    o = o[part] as Record<string, unknown>;
  }
  o[parts.at(-1)!] = value;
}

export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
