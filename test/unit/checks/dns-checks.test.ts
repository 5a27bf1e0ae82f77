// createDnsChecks: the checks it builds, and every symbol they can emit is defined in rules/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDnsChecks } from '../../../src/checks/dns-checks.ts';
import type { DnsblSection } from '../../../src/dns/dnsbl-rules.ts';
import { loadRuleFiles } from '../../../src/scoring/rules-loader.ts';
import { RULES_SECTIONS } from '../../../src/scoring/sections-registry.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { createZoneResolver } from '../../helpers/dns-server.ts';

test('every symbol of every DNS check (all shipped lists enabled) has a rules definition', () => {
  const rules = loadRuleFiles([new URL('../../../rules', import.meta.url).pathname], RULES_SECTIONS);
  const symbols = rules.sections.get('symbols') as Record<string, unknown>;
  const shipped = rules.sections.get('dnsbl') as DnsblSection;
  assert.ok(shipped.zen && !shipped.zen.enabled, 'the shipped lists stay disabled: no public DNS by default');
  const allOn = Object.fromEntries(Object.entries(shipped).map(([k, v]) => [k, { ...v, enabled: true }]));
  const { checks } = createDnsChecks({ resolver: createZoneResolver({}), dnsbl: allOn, hostname: 'mx.test', log: silentLogger, clock: new ManualClock() });
  assert.deepEqual(checks.map((c) => `${c.phase}:${c.name}`), ['connect:fcrdns', 'helo:helo', 'mail:spf', 'helo:spf_helo', 'mail:sender_domain', 'connect:dnsbl', 'mail:rhsbl_from', 'data:uribl', 'data:dkim_dmarc']);
  const missing = checks.flatMap((c) => c.symbols).filter((s) => !(s in symbols));
  assert.deepEqual(missing, []);
});
