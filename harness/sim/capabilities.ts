/**
 * The capability vocabulary of firmware profiles (docs/STYLE.md §10: skip on capability, and say
 * why). Each shipped profile declares the capabilities it has in `capabilities: string[]`;
 * `parseProfile` refuses names outside this list and checks the ones that follow from a TLS,
 * MQTT or upload knob against that knob, so a profile cannot claim `tls.1.3` while capping
 * the version at 1.2.
 *
 * The suites use these names for `testIf(capability)` skips: "firmware 2.6.3 profile:
 * keys.readForm not supported (source: [report])".
 */
export const CAPABILITIES = {
  'tls.1.2': 'TLS 1.2 handshakes (tls.maxVersion >= TLSv1.2 and tls.minVersion <= TLSv1.2)',
  'tls.1.3': 'TLS 1.3 handshakes (tls.maxVersion = TLSv1.3)',
  'tls.sni': 'sends the configured host name as SNI (tls.sni = true)',
  'tls.verifyChain': 'checks the server chain against the stored root certificate (tls.verify.chain)',
  'tls.verifyName': "checks the server certificate's name against the configured host (tls.verify.name)",
  'tls.verifyDates': "checks the server certificate's validity dates against the module clock (tls.verify.dates)",
  'tls.weakCrypto': 'accepts SHA-1 signatures and RSA-1024 keys (tls.allowWeakCrypto)',
  'tls.rsa4096': 'handles RSA keys of 4096 bits (tls.maxRsaBits >= 4096)',
  'tls.mutual': 'presents local certificate 0 and private key 0 as the client identity',
  'mqtt.v31': 'MQTT 3.1 (version 3 in AT+KMQTTCFG)',
  'mqtt.qos1': 'QoS 1 publish and subscribe',
  'mqtt.qos2': 'QoS 2 publish and subscribe',
  'mqtt.will': 'last will and testament from AT+KMQTTCFG',
  'mqtt.indOnSubscribe': '+KMQTT_IND: <id>,2 / ,3 after SUBACK / UNSUBACK (mqtt.indOnSubscribe)',
  'mqtt.indOnQos0': '+KMQTT_IND: <id>,4 also after a QoS 0 publish (mqtt.indOnQos0Publish)',
  'mqtt.dataUrc': 'incoming messages as +KMQTT_DATA: <id>,"<topic>","<payload>" (mqtt.incomingUrc = kmqtt_data)',
  'mqtt.subUrc': 'incoming messages as +KMQTTSUB: "<topic>","<payload>" (mqtt.incomingUrc = kmqttsub)',
  'keys.readForm': 'AT+KPRIVKSTORE? lists the stored keys (keys.readForm = list)',
  'keys.pkcs1': 'private keys as PKCS#1 (BEGIN RSA PRIVATE KEY)',
  'keys.pkcs8': 'private keys as PKCS#8 (BEGIN PRIVATE KEY)',
  'keys.sec1': 'EC private keys as SEC1 (BEGIN EC PRIVATE KEY)',
  'uploads.lf': 'certificate/key uploads with LF line endings (uploads.lineEndings includes lf)',
  'uploads.crlf': 'certificate/key uploads with CRLF line endings (uploads.lineEndings includes crlf)',
  'uploads.pemCheck':
    'uploads are checked as PEM and refused with +CME ERROR: 930 when they are not (uploads.check = parse)',
  wifi: 'the AT+SRW* Wi-Fi station commands with a simulated join',
  'clock.settable': 'the module clock can be set (AT+CCLK)',
} as const;

export type Capability = keyof typeof CAPABILITIES;

export const capabilityNames = Object.keys(CAPABILITIES) as Capability[];

export function isCapability(name: string): name is Capability {
  return Object.hasOwn(CAPABILITIES, name);
}
