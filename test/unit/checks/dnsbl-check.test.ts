// DNSBL/RHSBL checks against the dns2 test server: listings, undocumented codes, IPv6 nibbles, TXT
// reasons, RFC 5782 §5 health (dead lists skipped), temperrors, and the HELO / FCrDNS checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createDnsblChecks } from '../../../src/checks/dnsbl.ts';
import { createFcrdnsCheck } from '../../../src/checks/fcrdns.ts';
import { createHeloCheck } from '../../../src/checks/helo.ts';
import { createResolver } from '../../../src/dns/dns2-resolver.ts';
import { createDnsblEngine, reversedName } from '../../../src/dns/dnsbl.ts';
import { dnsblSectionSchema } from '../../../src/dns/dnsbl-rules.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { startDnsServer, type Zones } from '../../helpers/dns-server.ts';
import { makeContext } from './dns-context.ts';

const zones: Zones = {
  // bl.test: healthy, IPv4 and IPv6
  '2.0.0.127.bl.test': [{ A: '127.0.0.2' }],
  '10.2.0.192.bl.test': [{ A: '127.0.0.2' }, { A: '127.0.0.4' }, { TXT: 'Listed: see https://bl.test/192.0.2.10' }],
  '11.2.0.192.bl.test': [{ A: '127.255.255.254' }],
  '12.2.0.192.bl.test': 'TIMEOUT',
  [reversedName('2001:db8::10', 'bl.test') as string]: [{ A: '127.0.0.2' }],
  // dead.test: fails the health check (127.0.0.2 not listed)
  '10.2.0.192.dead.test': [{ A: '127.0.0.2' }],
  // dbl.test: domain list
  'test.dbl.test': [{ A: '127.0.1.2' }],
  'spammer.test.dbl.test': [{ A: '127.0.1.2' }],
  // reverse DNS
  '10.2.0.192.in-addr.arpa': [{ PTR: 'good.sender.test' }],
  '20.2.0.192.in-addr.arpa': [{ PTR: 'liar.sender.test' }],
  '30.2.0.192.in-addr.arpa': 'SERVFAIL',
  'good.sender.test': [{ A: '192.0.2.10' }],
  'liar.sender.test': [{ A: '198.51.100.1' }],
};

const section = dnsblSectionSchema.parse({
  bl: { zone: 'bl.test', ipv6: true, txt: true, codes: { '127.0.0.2': 'DNSBL_BL_SPAM', '127.0.0.4/30': 'DNSBL_BL_XBL' } },
  dead: { zone: 'dead.test', codes: { '127.0.0.2': 'DNSBL_DEAD' } },
  off: { zone: 'off.test', enabled: false, codes: { '127.0.0.2': 'DNSBL_OFF' } },
  dbl: { zone: 'dbl.test', kind: 'from_domain', codes: { '127.0.1.2': 'RHSBL_DBL_SPAM' } },
});

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dns = await startDnsServer(zones);
  t.after(() => dns.close());
  const registry = new Registry();
  const clock = new ManualClock(1_000_000);
  // Room for a loaded machine: a health probe that times out is inconclusive and leaves the dead list in use.
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 1500, retries: 0, clock });
  const engine = createDnsblEngine({ resolver, lists: section, registry, log: silentLogger, clock });
  const checks = createDnsblChecks(engine, section);
  const byName = (n: string) => checks.find((c) => c.name === n)!;
  return { dns, engine, registry, clock, ip: byName('dnsbl'), from: byName('rhsbl_from'), resolver, checks };
}

test('query names: reversed octets and nibbles (RFC 5782 §2.1, §2.4)', () => {
  assert.equal(reversedName('192.0.2.10', 'bl.test'), '10.2.0.192.bl.test');
  assert.equal(reversedName('2001:db8:1:2::abcd', 'bl.test'), 'd.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test');
  assert.equal(reversedName('::ffff:192.0.2.1', 'bl.test'), '1.2.0.192.bl.test');
});

test('checks per kind declare every symbol; disabled lists are left out', async (t) => {
  const { checks } = await setup(t);
  assert.deepEqual(checks.map((c) => [c.name, c.phase]), [['dnsbl', 'connect'], ['rhsbl_from', 'mail']]);
  assert.deepEqual([...checks[0]!.symbols].sort(), ['DNSBL_BL_SPAM', 'DNSBL_BL_XBL', 'DNSBL_DEAD', 'DNSBL_TEMPERROR']);
});

test('a listed address maps codes to symbols with the TXT reason; dead list skipped', async (t) => {
  const { ip, registry } = await setup(t);
  const ctx = makeContext('connect', { clientIp: '192.0.2.10' });
  const hits = await ip.run(ctx);
  assert.deepEqual(hits.map((h) => h.symbol).sort(), ['DNSBL_BL_SPAM', 'DNSBL_BL_XBL']);
  assert.ok(hits[0]?.options?.includes('Listed: see https://bl.test/192.0.2.10'));
  assert.equal(ctx.results.get('dnsbl_reason'), 'Listed: see https://bl.test/192.0.2.10');
  const text = await registry.metrics();
  assert.match(text, /spamgate_dnsbl_list_up\{list="bl"\} 1/);
  assert.match(text, /spamgate_dnsbl_list_up\{list="dead"\} 0/);
  assert.match(text, /spamgate_dnsbl_lookups_total\{list="dead",result="skipped"\} 1/);
});

test('not listed, undocumented code (list error, counted) and IPv6', async (t) => {
  const { ip, registry } = await setup(t);
  assert.deepEqual(await ip.run(makeContext('connect', { clientIp: '192.0.2.99' })), []);
  assert.deepEqual(await ip.run(makeContext('connect', { clientIp: '192.0.2.11' })), [], '127.255.255.254 is never a listing');
  assert.match(await registry.metrics(), /spamgate_dnsbl_lookups_total\{list="bl",result="error"\} 1/);
  const v6 = await ip.run(makeContext('connect', { clientIp: '2001:db8::10' }));
  assert.deepEqual(v6.map((h) => h.symbol), ['DNSBL_BL_SPAM']);
});

test('a lookup timeout is DNSBL_TEMPERROR; the check deadline ends it early', async (t) => {
  const { ip } = await setup(t);
  assert.deepEqual(await ip.run(makeContext('connect', { clientIp: '192.0.2.12' })), [{ symbol: 'DNSBL_TEMPERROR', options: ['bl'] }]);
  const ac = new AbortController();
  const pending = ip.run(makeContext('connect', { clientIp: '192.0.2.12' }, {}, { signal: ac.signal }));
  ac.abort();
  assert.deepEqual(await pending, [{ symbol: 'DNSBL_TEMPERROR', options: ['bl'] }]);
});

test('RHSBL on the MAIL FROM domain', async (t) => {
  const { from } = await setup(t);
  assert.deepEqual((await from.run(makeContext('mail', {}, { mailFrom: 'x@spammer.test' }))).map((h) => h.symbol), ['RHSBL_DBL_SPAM']);
  assert.deepEqual(await from.run(makeContext('mail', {}, { mailFrom: 'x@clean.test' })), []);
  assert.deepEqual(await from.run(makeContext('mail', {}, { mailFrom: '' })), []);
});

test('health is re-checked after health_interval: a list that recovers is used again', async (t) => {
  const { engine, dns, clock } = await setup(t);
  assert.deepEqual(await engine.checkHealth(), { bl: true, dead: false, dbl: true });
  dns.set('2.0.0.127.dead.test', [{ A: '127.0.0.2' }]);
  clock.advance(301_000);
  assert.equal((await engine.lookup('dead', '192.0.2.10')).status, 'skipped', 'the refresh runs in the background');
  await engine.checkHealth();
  assert.equal(engine.isUp('dead'), true);
  assert.equal((await engine.lookup('dead', '192.0.2.10')).status, 'listed');
});

test('HELO checks', () => {
  const check = createHeloCheck({ hostnames: ['mx.receiver.test'], localAddresses: ['203.0.113.25'] });
  const run = (helo: string, clientIp = '192.0.2.10') => (check.run(makeContext('helo', { helo, clientIp })) as Array<{ symbol: string }>).map((h) => h.symbol);
  assert.deepEqual(run('mail.sender.test'), []);
  assert.deepEqual(run('[192.0.2.10]'), []);
  assert.deepEqual(run('localhost'), ['HELO_NOT_FQDN']);
  assert.deepEqual(run('192.0.2.10'), ['HELO_BARE_IP']);
  assert.deepEqual(run('203.0.113.25'), ['HELO_BARE_IP', 'HELO_FORGED_SELF']);
  assert.deepEqual(run('MX.receiver.test.'), ['HELO_FORGED_SELF']);
  assert.deepEqual(run('[203.0.113.25]'), ['HELO_FORGED_SELF']);
  assert.deepEqual(run('[198.51.100.7]'), ['HELO_LITERAL_MISMATCH']);
  assert.deepEqual(run('[IPv6:2001:db8::1]', '2001:db8::1'), []);
  assert.deepEqual(run('bad_name!'), ['HELO_BAD_SYNTAX']);
  assert.deepEqual(run(''), ['HELO_BAD_SYNTAX']);
});

test('FCrDNS: pass, fail, none, temperror', async (t) => {
  const { resolver } = await setup(t);
  const check = createFcrdnsCheck(resolver);
  const run = async (clientIp: string) => (await check.run(makeContext('connect', { clientIp })))[0]?.symbol;
  assert.equal(await run('192.0.2.10'), 'RDNS_FCRDNS_PASS');
  assert.equal(await run('192.0.2.20'), 'RDNS_FCRDNS_FAIL');
  assert.equal(await run('192.0.2.40'), 'RDNS_NONE');
  assert.equal(await run('192.0.2.30'), 'RDNS_TEMPERROR');
});
