/**
 * The simulator's test helpers (imported only by tests and bench/): `RawClient`, a byte-level
 * peer on the serial side of a virtual module that waits for exact answers; `simListening`, the
 * start of a spawned `bx-hil sim`.
 */
export { FINAL, RawClient } from './raw-client.ts';
export { simListening } from './sim-cli.ts';
