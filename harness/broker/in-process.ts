/** Publish into and subscribe to the aedes broker in-process (the rig's `publish`/`subscribe`). */
import type { Aedes } from 'aedes';

export function publishInProcess(
  aedes: Aedes,
  topic: string,
  payload: string | Buffer,
  options: { qos?: 0 | 1; retain?: boolean },
): Promise<void> {
  return new Promise((resolve, reject) => {
    aedes.publish(
      {
        cmd: 'publish',
        topic,
        payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
        qos: options.qos ?? 0,
        retain: options.retain ?? false,
        dup: false,
      },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

/** Resolves, once aedes has the subscription, with the function that removes it. */
export function subscribeInProcess(
  aedes: Aedes,
  topic: string,
  cb: (topic: string, payload: Buffer) => void,
): Promise<() => Promise<void>> {
  const deliver = (packet: { topic: string; payload: Buffer | string }, done: () => void): void => {
    try {
      cb(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
    } finally {
      done();
    }
  };
  return new Promise((resolve) => {
    aedes.subscribe(topic, deliver, () =>
      resolve(() => new Promise<void>((res) => aedes.unsubscribe(topic, deliver, () => res()))),
    );
  });
}
