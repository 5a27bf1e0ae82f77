// The openspf/pyspf conformance suites (RFC 7208: 203 tests, RFC 4408: 191) through checkSpf, the
// project's SPF entry point, with a Resolver fed from each scenario's zonedata by pyspf's driver rules.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { checkSpf } from '../../../src/dns/spf.ts';
import { createZoneResolver, type ZoneEntry, type ZoneRecord, type Zones } from '../../helpers/dns-server.ts';

interface SuiteTest {
  spec?: string | string[];
  helo?: string;
  host: string;
  mailfrom: string;
  result: string | string[];
  explanation?: string;
}
interface Scenario {
  description: string;
  tests: Record<string, SuiteTest>;
  zonedata?: Record<string, Array<Record<string, unknown> | string>>;
}

/**
 * pyspf's driver rules: SPF counts as TXT where a name has no TXT; TXT: NONE turns that off; TIMEOUT
 * times out every question for a type the name has no records of (alone, the whole name).
 */
export function zonesFromSuite(zonedata: Scenario['zonedata']): Zones {
  const zones: Zones = {};
  for (const [name, entries] of Object.entries(zonedata ?? {})) {
    const records: ZoneRecord[] = [];
    if (entries.some((e) => e === 'TIMEOUT')) records.push({ TIMEOUT: true });
    let hasTxt = false;
    let txtNone = false;
    for (const e of entries) {
      if (typeof e === 'string') continue;
      const [type, value] = Object.entries(e)[0] as [string, unknown];
      if (type === 'TXT') {
        if (value === 'NONE') txtNone = true;
        else hasTxt = true;
      }
    }
    for (const e of entries) {
      if (typeof e === 'string') continue;
      const [type, value] = Object.entries(e)[0] as [string, unknown];
      const text = (v: unknown): string | string[] => (Array.isArray(v) ? v.map(String) : String(v));
      if (type === 'TXT' && value !== 'NONE') records.push({ TXT: text(value) });
      else if (type === 'SPF') {
        records.push({ SPF: text(value) });
        if (!hasTxt && !txtNone) records.push({ TXT: text(value) });
      } else if (type === 'A') records.push({ A: String(value) });
      else if (type === 'AAAA') records.push({ AAAA: String(value) });
      else if (type === 'PTR') records.push({ PTR: String(value) });
      else if (type === 'CNAME') records.push({ CNAME: String(value) });
      else if (type === 'MX') {
        const [prio, host] = value as [number, string];
        records.push({ MX: [Number(prio), String(host)] });
      }
    }
    zones[name] = records satisfies ZoneEntry;
  }
  return zones;
}

async function runSuite(file: string): Promise<{ passed: number; failures: string[] }> {
  const docs = parseAllDocuments(readFileSync(new URL(`../../fixtures/spf/${file}`, import.meta.url), 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  let passed = 0;
  const failures: string[] = [];
  for (const doc of list) {
    const scenario = doc.toJS() as Scenario | null;
    if (!scenario?.tests) continue;
    const zones = zonesFromSuite(scenario.zonedata);
    for (const [name, t] of Object.entries(scenario.tests)) {
      const resolver = createZoneResolver(zones);
      const out = await checkSpf({ resolver, ip: t.host, mailFrom: t.mailfrom ?? '', helo: t.helo ?? '', hostname: 'receiver.test', timeoutMs: 20_000 });
      const allowed = Array.isArray(t.result) ? t.result : [t.result];
      let ok = allowed.includes(out.result);
      let why = `got ${out.result}, want ${allowed.join('|')}`;
      // An explanation is checked only where the result is the fail it explains.
      if (ok && t.explanation !== undefined && out.result === 'fail') {
        // Compared case-insensitively: pyspf keeps the case of the client address in %{i} nibbles
        // ("CAFE:BABE::1" → "E.B.A.B..."), RFC 7208 §7.4's own example writes them in lower case,
        // and DNS names are case-insensitive (RFC 4343).
        const want = t.explanation === 'DEFAULT' ? undefined : t.explanation;
        if (out.explanation?.toLowerCase() !== want?.toLowerCase()) {
          ok = false;
          why = `explanation ${JSON.stringify(out.explanation)}, want ${JSON.stringify(want)}`;
        }
      }
      if (ok) passed++;
      else failures.push(`${file} ${scenario.description} / ${name}: ${why}`);
    }
  }
  return { passed, failures };
}

test('SPF conformance suites (RFC 7208, RFC 4408)', async (t) => {
  let passed = 0;
  const failures: string[] = [];
  const counts: Record<string, number> = {};
  for (const file of ['rfc7208-tests.yml', 'rfc4408-tests.yml']) {
    const r = await runSuite(file);
    passed += r.passed;
    failures.push(...r.failures);
    counts[file] = r.passed + r.failures.length;
  }
  for (const f of failures) t.diagnostic(f);
  const line = `SPF suite: ${passed} passed, ${failures.length} failed`;
  t.diagnostic(line);
  console.log(line);
  assert.equal(counts['rfc7208-tests.yml'], 203, 'every RFC 7208 test ran');
  assert.equal(counts['rfc4408-tests.yml'], 191, 'every RFC 4408 test ran');
  assert.deepEqual(failures, []);
});
