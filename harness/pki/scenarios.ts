/**
 * The certificate scenario catalogue, as DATA (docs/reference/scenarios-and-anchors.md §5.5).
 *
 * Every applicable scenario of §5.5 keeps its id (S1-S27; variants get a letter: S2b, S6b ...),
 * device-side scenarios have ids of their own (D1 ...). Each entry says what the server
 * presents and requires, what the module is given, the SECURE expected outcome (a firmware
 * that connects where the entry says `refuse` has a finding) and where the scenario comes from.
 *
 * `pki` states what a standards-following X.509 verifier (the openssl CLI) concludes on each
 * side, so the catalogue can be checked with the real tool (scenarios.test.ts) and so the
 * broker and diagnose areas know which side is meant to refuse.
 *
 * The baseline every scenario deviates from is AWS-IoT-like mutual TLS: an RSA-2048 root →
 * intermediate → server leaf with SANs for the host, a device certificate issued by the root,
 * its key as PKCS#1 ([BX-T] KPRIVKSTORE_0001 uploads `BEGIN RSA PRIVATE KEY`; AWS hands out
 * PKCS#1, docs/reference/aws-iot-and-mosquitto.md T16), PEM with LF line endings and a final newline ([BX-T]).
 *
 * This file is the catalogue's public face: the entries are in scenario-catalogue.ts (a data
 * file), their shape and the builder that fills in the baseline in scenario-entry.ts.
 */
import { UnknownScenarioError } from './errors.ts';
import { scenarios } from './scenario-catalogue.ts';
import type { ScenarioEntry } from './scenario-entry.ts';

export { scenarios } from './scenario-catalogue.ts';
export type * from './scenario-entry.ts';

const byId = new Map(scenarios.map((s) => [s.id, s]));

/** The catalogue entry with this id (case-insensitive); throws UnknownScenarioError (BXHIL_PKI_SCENARIO). */
export function getScenario(id: string): ScenarioEntry {
  const found = byId.get(id) ?? scenarios.find((s) => s.id.toLowerCase() === id.toLowerCase());
  if (!found)
    throw new UnknownScenarioError(
      id,
      scenarios.map((s) => s.id),
    );
  return found;
}

export { buildScenario } from './material.ts';
export type { BuildScenarioOptions, ScenarioFile, ScenarioMaterial } from './material.ts';
