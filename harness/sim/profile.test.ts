/**
 * Firmware profiles are data validated at the edge: shipped profiles load, a wrong field is
 * refused with the field named, capabilities agree with their knobs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isInstant, timingFields, timingSourceOf } from '../timing.ts';
import { CAPABILITIES, capabilityNames, loadProfile, parseProfile, shippedProfiles, sourceOf } from './index.ts';

const configError = (field: string) => expect.objectContaining({ code: 'BXHIL_CONFIG', field });

describe('shipped profiles', () => {
  test.each(shippedProfiles)('%s loads, is frozen, declares only known capabilities, and tags its quirks', (name) => {
    const p = loadProfile(name);
    expect(p.name).toBe(name);
    expect(Object.isFrozen(p.tls)).toBe(true);
    for (const c of p.capabilities) expect(capabilityNames).toContain(c);
    expect(p.knownIssues).toEqual(expect.any(Array));
    // every source entry carries a reference tag
    for (const [field, text] of Object.entries(p.sources))
      expect(text, field).toMatch(/^\[(BX-T|BX-L|HL-T|HL-Z|HL-G|3P|guess|derived|report)/);
  });

  test('the quirks the issue names are where they belong', () => {
    const v263 = loadProfile('2.6.3');
    const legacy = loadProfile('legacy');
    const reference = loadProfile('reference');
    expect(v263.keys.readForm).toBe('cme918');
    // The 2.6.3 known issue excuses only the CME 918 it is about.
    expect(v263.knownIssues.map((k) => k.expects)).toEqual([{ code: 'BXHIL_CME', cme: 918 }]);
    expect(v263.params.trailingEmptyOptional).toBe('default');
    expect(legacy.mqtt.incomingUrc).toBe('kmqttsub');
    expect(legacy.keys.readForm).toBe('list');
    expect(reference.tls.maxVersion).toBe('TLSv1.3');
    expect(reference.capabilities).toEqual(expect.arrayContaining(['tls.1.2', 'tls.1.3', 'tls.sni']));
    expect(v263.capabilities).not.toContain('keys.readForm');
    expect(sourceOf(v263, 'keys.readForm')).toMatch(/^\[report\]/);
    expect(sourceOf(v263, 'tls.verify.dates')).toMatch(/^\[BX-L\]/); // falls back to the parent field
  });

  test.each(shippedProfiles)('%s has a realistic timing block with a source for every value', (name) => {
    const t = loadProfile(name).timing;
    expect(t.name).toBe('realistic');
    expect(isInstant(t)).toBe(false);
    expect(t.line).toEqual({ baudRate: 115200, bitsPerByte: 10 });
    for (const field of timingFields(t))
      expect(timingSourceOf(t, field), `timing.${field}`).toMatch(/^\[(report|derived|guess|measured)/);
    // The field report's whole connect (DNS, TCP, TLS, CONNECT over the Internet) took about
    // 3 s against AWS: the module's own TLS work for an RSA chain and key stays well under it.
    const { tls } = t;
    const awsLike = tls.keyExchangeMs + 2 * tls.verifyPerCertMs.rsa2048 + tls.signMs.rsa2048 + t.mqtt.connackMs;
    expect(awsLike).toBeGreaterThan(300);
    expect(awsLike).toBeLessThan(3000);
  });

  test('the capability vocabulary is documented', () => {
    for (const name of capabilityNames) expect(CAPABILITIES[name].length).toBeGreaterThan(10);
  });
});

describe('parseProfile', () => {
  test('a partial profile extends a shipped one; capabilities follow the knobs when not given', () => {
    const p = parseProfile({ extends: '2.6.3', name: 'my-build', tls: { maxVersion: 'TLSv1.3', sni: false } });
    expect(p.name).toBe('my-build');
    expect(p.mqtt.incomingUrc).toBe('kmqtt_data');
    expect(p.capabilities).toContain('tls.1.3');
    expect(p.capabilities).not.toContain('tls.sni');
  });

  test.each([
    [{ tls: { sni: 'yes' } }, 'tls.sni'],
    [{ mqtt: { sesions: 3 } }, 'mqtt.sesions'],
    [{ mqtt: { sessions: 0 } }, 'mqtt.sessions'],
    [{ uploads: { lineEndings: ['lf', 'dos'] } }, 'uploads.lineEndings[1]'],
    [{ keys: { readForm: 'echo' } }, 'keys.readForm'],
    [{ capabilities: ['tls.1.2', 'tls.9'] }, 'capabilities[1]'],
    [{ capabilities: ['tls.1.3'] }, 'capabilities'],
    [{ knownIssues: [{ test: 'x', reason: 'y' }] }, 'knownIssues[0].source'],
    [{ knownIssues: [{ test: 'x', reason: 'y', source: 'z' }] }, 'knownIssues[0].expects'],
    [{ knownIssues: [{ test: 'x', reason: 'y', source: 'z', expects: {} }] }, 'knownIssues[0].expects'],
    [
      { knownIssues: [{ test: 'x', reason: 'y', source: 'z', expects: { message: '[' } }] },
      'knownIssues[0].expects.message',
    ],
    [{ sources: { 'tls.nope': '[guess]' } }, 'sources.tls.nope'],
    [{ timing: { tls: { signMs: { rsa4096: -5 } } } }, 'timing.tls.signMs.rsa4096'],
    [{ timing: { line: { parity: 'none' } } }, 'timing.line.parity'],
    [{ timing: { sources: { 'wifi.scanMs': '[guess]' } } }, 'timing.sources.wifi.scanMs'],
    [{ timing: { sources: { 'wifi.joinMs': 'about 2 s' } } }, 'timing.sources.wifi.joinMs'],
    [{ timing: 'realistic' }, 'timing'],
    [{ extends: '9.9.9' }, 'extends'],
    [{ tls: { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' } }, 'tls.minVersion'],
    [{ name: '' }, 'name'],
  ])('%j is refused naming %s', (input, field) => {
    expect(() => parseProfile(input)).toThrow(configError(field));
  });

  test('a profile of its own changes some timing values and keeps the rest and their sources', () => {
    const p = parseProfile({
      extends: '2.6.3',
      name: 'slow-flash',
      timing: { flash: { perItemMs: 400 }, sources: { 'flash.perItemMs': '[measured 2026-01-05] bench module' } },
    });
    expect(p.timing.flash).toEqual({ perItemMs: 400, perKbMs: loadProfile('2.6.3').timing.flash.perKbMs });
    expect(timingSourceOf(p.timing, 'flash.perItemMs')).toMatch(/^\[measured/);
    expect(timingSourceOf(p.timing, 'bootMs')).toMatch(/^\[guess/);
  });

  test('not an object', () => {
    expect(() => parseProfile([1])).toThrow(configError('profile'));
  });
});

describe('loadProfile', () => {
  test('a JSON file by path; unknown names and bad JSON are refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bxhil-prof-'));
    try {
      const good = join(dir, 'mine.json');
      writeFileSync(good, JSON.stringify({ extends: 'legacy', name: 'mine', mqtt: { subscriptionsPerSession: 7 } }));
      expect(loadProfile(good)).toMatchObject({
        name: 'mine',
        mqtt: { subscriptionsPerSession: 7, incomingUrc: 'kmqttsub' },
      });
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{ nope');
      expect(() => loadProfile(bad)).toThrow(configError('profile'));
      expect(() => loadProfile(join(dir, 'missing.json'))).toThrow(configError('profile'));
      expect(() => loadProfile('2.6.4')).toThrow(configError('profile'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
