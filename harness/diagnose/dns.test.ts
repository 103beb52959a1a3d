import { describe, expect, test } from 'vitest';
import { EvidenceBus, EvidenceRecorder } from '../evidence.ts';
import { dnsQueriesFrom, editDistance, judgeDnsQueries } from './index.ts';

const BROKER = 'a1b2c3-ats.iot.eu-west-1.amazonaws.com';

describe('DNS verdicts', () => {
  test('no query at all: the module never asked for the broker name', () => {
    const v = judgeDnsQueries([], BROKER);
    expect(v.code).toBe('DNS_NEVER_ASKED');
    expect(v.summary).toContain("never asked for the broker's name");
    expect(v.fix).toContain('dhcp-option=6');
  });

  test('a typo gets its own verdict naming both names and the edit count', () => {
    const v = judgeDnsQueries(
      [{ name: 'a1b2c3-ats.iot.eu-west-1.amazonaws.co', type: 'A', rcode: 'NXDOMAIN', from: '10.0.0.9:4000' }],
      BROKER,
    );
    expect(v).toMatchObject({
      code: 'DNS_WRONG_NAME',
      asked: 'a1b2c3-ats.iot.eu-west-1.amazonaws.co',
      typoDistance: 1,
    });
    expect(v.summary).toBe(
      `the module asked for a different name (a1b2c3-ats.iot.eu-west-1.amazonaws.co) than the broker's (${BROKER}): it looks like a typo (1 character differ)`,
    );
    expect(v.evidence).toEqual([`DNS A a1b2c3-ats.iot.eu-west-1.amazonaws.co from 10.0.0.9:4000: NXDOMAIN`]);
  });

  test('a different name (far from the broker name) is a wrong name, not a typo', () => {
    const v = judgeDnsQueries([{ name: 'time.google.com' }, { name: 'broker.example.net' }], 'broker.lab.test');
    expect(v.code).toBe('DNS_WRONG_NAME');
    expect(v.typoDistance).toBeUndefined();
    expect(v.summary).toBe(
      "the module asked for a different name (broker.example.net) than the broker's (broker.lab.test)",
    );
  });

  test("asking for the broker's name (any case, trailing dot) is DNS_OK, whatever else it asked", () => {
    expect(judgeDnsQueries([{ name: 'pool.ntp.org' }, { name: 'BROKER.lab.test.' }], 'broker.lab.test').code).toBe(
      'DNS_OK',
    );
  });

  test('from= keeps one module apart from another on the same responder', () => {
    const qs = [
      { name: 'broker.lab.test', from: '10.0.0.8:5000' },
      { name: 'brokr.lab.test', from: '10.0.0.9:5001' },
    ];
    expect(judgeDnsQueries(qs, 'broker.lab.test', { from: '10.0.0.8' }).code).toBe('DNS_OK');
    expect(judgeDnsQueries(qs, 'broker.lab.test', { from: '10.0.0.9' }).code).toBe('DNS_WRONG_NAME');
    expect(judgeDnsQueries(qs, 'broker.lab.test', { from: '10.0.0.7' }).code).toBe('DNS_NEVER_ASKED');
  });

  test('reads the queries off an evidence timeline, ignoring other sources', () => {
    const bus = new EvidenceBus();
    const rec = new EvidenceRecorder(bus);
    bus.emit({ source: 'sim', kind: 'query', summary: 'not dns', data: { name: 'x' } });
    bus.emit({ source: 'dns', kind: 'query', summary: 'A broker', data: { name: 'broker.lab.test', type: 'A' } });
    expect(dnsQueriesFrom(rec.events).map((q) => q.name)).toEqual(['broker.lab.test']);
  });

  test('edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
});
