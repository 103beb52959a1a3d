/**
 * The aedes rig against real clients. Glossary: "device" = the client tool standing in for the
 * module; "rig" = startBrokerRig (front door + TLS + aedes); "verdict" = its conclusion.
 */
import { startBrokerRig } from './rig.ts';
import { defineConnectCases } from './cases.contract.ts';

defineConnectCases(
  'aedes rig, strict profile: shared connect/refuse cases',
  (m) => startBrokerRig({ profile: 'strict', pki: m.pki, connectTimeoutMs: 4000 }),
  'aedes',
);
