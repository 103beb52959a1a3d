/**
 * The serial side carries bytes (held as latin1 strings); MQTT topics are UTF-8 strings. A
 * module passes the topic's bytes through, so a topic is re-read as UTF-8 on its way to the
 * broker and written back as its UTF-8 bytes on its way to the serial line.
 */
export function toMqttTopic(lineTopic: string): string {
  return Buffer.from(lineTopic, 'latin1').toString('utf8');
}

export function toLineTopic(mqttTopic: string): string {
  return Buffer.from(mqttTopic, 'utf8').toString('latin1');
}
