/** The broker rig's public surface. */
export { startBrokerRig, parseBrokerRigOptions, packetSummary, AWS_MQTT_ALPN } from './rig.ts';
export {
  parseClientHello,
  classifyFirstBytes,
  clientHelloBytesNeeded,
  TLS_ALERTS,
  alertFromError,
} from './client-hello.ts';
export { AWS_POLICIES, AWS_LIMITS } from './profiles.ts';
export { startMosquittoRig, type MosquittoRigOptions } from './mosquitto.ts';
export { startContainerRig, type ContainerRigOptions } from './container.ts';
export { startCertSwapProxy, type SwapProxy } from './key-mismatch.ts';
export { BrokerError, BrokerStartError, NoContainerRuntimeError, VerdictTimeoutError } from './errors.ts';
export type * from './types.ts';
