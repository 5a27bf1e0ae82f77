// The dns2 Resolver against the local test server: records, TTL cache, negative cache, coalescing, timeouts, TCP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createResolver } from '../../../src/dns/dns2-resolver.ts';
import { parseNameServer, parseResolvConf, resolveNameServers } from '../../../src/dns/servers.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { startDnsServer, type TestDnsServer } from '../../helpers/dns-server.ts';

const long = 'v=spf1 ' + Array.from({ length: 40 }, (_, i) => `ip4:192.0.2.${i}`).join(' ') + ' -all';

async function setup(t: { after(fn: () => Promise<void>): void }, opts: { timeoutMs?: number; retries?: number } = {}) {
  const dns: TestDnsServer = await startDnsServer(
    {
      'example.test': [{ A: '192.0.2.1', ttl: 120 }, { AAAA: '2001:db8::1' }, { MX: [10, 'mx.example.test'] }, { TXT: ['v=spf1 ', 'a -all'] }],
      'big.example.test': [{ TXT: long }],
      'alias.example.test': [{ CNAME: 'example.test', ttl: 30 }],
      '1.2.0.192.in-addr.arpa': [{ PTR: 'host.example.test' }],
      'huge-ttl.example.test': [{ A: '192.0.2.7', ttl: 9_999_999 }],
      'slow.example.test': 'TIMEOUT',
      'broken.example.test': 'SERVFAIL',
    },
    { negativeTtl: 30 },
  );
  t.after(() => dns.close());
  const clock = new ManualClock(1_000_000);
  const registry = new Registry();
  const resolver = createResolver({ servers: [dns.server], timeoutMs: opts.timeoutMs ?? 1000, retries: opts.retries ?? 0, clock, registry, maxTtl: 3600 });
  return { dns, clock, registry, resolver };
}

test('answers A, AAAA, MX, TXT (strings joined), PTR and follows CNAME', async (t) => {
  const { resolver } = await setup(t);
  assert.deepEqual(await resolver.lookup('example.test', 'A'), { status: 'ok', records: ['192.0.2.1'], ttl: 120 });
  const aaaa = await resolver.lookup('EXAMPLE.test.', 'AAAA');
  assert.equal(aaaa.status, 'ok');
  assert.deepEqual(aaaa.status === 'ok' && aaaa.records, ['2001:db8::1']);
  const mx = await resolver.lookup('example.test', 'MX');
  assert.deepEqual(mx.status === 'ok' && mx.records, [{ exchange: 'mx.example.test', priority: 10 }]);
  const txt = await resolver.lookup('example.test', 'TXT');
  assert.deepEqual(txt.status === 'ok' && txt.records, ['v=spf1 a -all']);
  const ptr = await resolver.lookup('1.2.0.192.in-addr.arpa', 'PTR');
  assert.deepEqual(ptr.status === 'ok' && ptr.records, ['host.example.test']);
  const alias = await resolver.lookup('alias.example.test', 'A');
  assert.deepEqual(alias, { status: 'ok', records: ['192.0.2.1'], ttl: 30 });
});

test('NXDOMAIN and NODATA are told apart', async (t) => {
  const { resolver } = await setup(t);
  assert.deepEqual(await resolver.lookup('nope.example.test', 'A'), { status: 'nxdomain', ttl: 30 });
  assert.deepEqual(await resolver.lookup('big.example.test', 'A'), { status: 'nodata', ttl: 30 });
});

test('a truncated UDP answer is retried over TCP', async (t) => {
  const { resolver, dns } = await setup(t);
  const r = await resolver.lookup('big.example.test', 'TXT');
  assert.deepEqual(r.status === 'ok' && r.records, [long]);
  assert.deepEqual(
    dns.log.filter((e) => e.name === 'big.example.test').map((e) => e.transport),
    ['udp', 'tcp'],
  );
});

test('positive answers are cached for their TTL, capped by maxTtl', async (t) => {
  const { resolver, dns, clock, registry } = await setup(t);
  await resolver.lookup('example.test', 'A');
  clock.advance(60_000);
  const again = await resolver.lookup('example.test', 'A');
  assert.equal(again.status === 'ok' && again.ttl, 60, 'remaining TTL is reported');
  assert.equal(dns.count('example.test', 'A'), 1);
  clock.advance(61_000);
  await resolver.lookup('example.test', 'A');
  assert.equal(dns.count('example.test', 'A'), 2, 'expired entry is fetched again');
  await resolver.lookup('huge-ttl.example.test', 'A');
  clock.advance(3_601_000);
  await resolver.lookup('huge-ttl.example.test', 'A');
  assert.equal(dns.count('huge-ttl.example.test', 'A'), 2, 'TTL capped at maxTtl');
  const text = await registry.metrics();
  assert.match(text, /spamgate_dns_cache_lookups_total\{result="hit"\} 1/);
  assert.match(text, /spamgate_dns_queries_total\{type="A",result="ok"\} 4/);
});

test('negative answers are cached for the SOA minimum (RFC 2308)', async (t) => {
  const { resolver, dns, clock } = await setup(t);
  await resolver.lookup('nope.example.test', 'TXT');
  clock.advance(29_000);
  await resolver.lookup('nope.example.test', 'TXT');
  assert.equal(dns.count('nope.example.test'), 1);
  clock.advance(2_000);
  await resolver.lookup('nope.example.test', 'TXT');
  assert.equal(dns.count('nope.example.test'), 2);
});

test('identical in-flight questions share one query', async (t) => {
  const { resolver, dns } = await setup(t);
  const all = await Promise.all(Array.from({ length: 5 }, () => resolver.lookup('example.test', 'MX')));
  assert.equal(dns.count('example.test', 'MX'), 1);
  for (const r of all) assert.equal(r.status, 'ok');
});

test('a silent server is a temperror after timeout × attempts, counted, not cached', async (t) => {
  const { resolver, dns, registry } = await setup(t, { timeoutMs: 150, retries: 1 });
  const started = Date.now();
  const r = await resolver.lookup('slow.example.test', 'TXT');
  assert.deepEqual(r, { status: 'temperror', reason: 'timeout' });
  assert.ok(Date.now() - started < 2000);
  assert.equal(dns.count('slow.example.test'), 2, 'one retry');
  assert.match(await registry.metrics(), /spamgate_dns_timeouts_total 2/);
  await resolver.lookup('slow.example.test', 'TXT');
  assert.equal(dns.count('slow.example.test'), 4, 'temperrors are not cached');
});

test('with the first name server silent, every question is answered by the next one on its retry', async (t) => {
  const names = ['a.test', 'b.test', 'c.test', 'd.test', 'e.test'];
  const dead = await startDnsServer(Object.fromEntries(names.map((n) => [n, 'TIMEOUT' as const])));
  const live = await startDnsServer(Object.fromEntries(names.map((n, i) => [n, [{ A: `192.0.2.${i + 1}` }]])));
  t.after(async () => {
    await dead.close();
    await live.close();
  });
  // 1 s: the live server's answer must beat the timeout on the retry, which a loaded machine can take over 150 ms to read
  const resolver = createResolver({ servers: [dead.server, live.server], timeoutMs: 1000, retries: 1 });
  for (const [i, n] of names.entries()) assert.deepEqual(await resolver.lookup(n, 'A'), { status: 'ok', records: [`192.0.2.${i + 1}`], ttl: 300 }, n);
  assert.ok(names.every((n) => dead.count(n) + live.count(n) <= 2), 'at most one retry each');
});

test('the cache is bounded by bytes too: answers of thousands of records cannot fill the memory', async (t) => {
  const many = Array.from({ length: 2000 }, (_, i) => ({ A: `10.0.${Math.floor(i / 250)}.${i % 250}` }));
  const dns = await startDnsServer(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`h${i}.big.test`, many])));
  t.after(() => dns.close());
  // a generous timeout: the test server builds each 2,000-record answer in JavaScript, slow on a busy machine
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 15_000, retries: 0, cacheBytes: 1024 * 1024 });
  for (let i = 0; i < 40; i++) assert.equal((await resolver.lookup(`h${i}.big.test`, 'A')).status, 'ok');
  assert.ok(resolver.cacheEntries < 40, `kept ${resolver.cacheEntries} of 40 answers in 1 MiB`);
  assert.ok(resolver.cacheEntries > 0);
});

test('a Unicode name is asked as its A-labels, at once (it used to go out mangled and time out)', async (t) => {
  const dns = await startDnsServer({ 'xn--mller-kva.x.test': [{ A: '192.0.2.9' }] });
  t.after(() => dns.close());
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 1000, retries: 1 });
  assert.deepEqual(await resolver.lookup('müller.x.test', 'A'), { status: 'ok', records: ['192.0.2.9'], ttl: 300 });
  assert.equal(dns.count('xn--mller-kva.x.test'), 1);
  assert.equal((await resolver.lookup('\u0000\u00ff.x.test', 'A')).status, 'nxdomain', 'no A-label form: cannot exist');
});

test('SERVFAIL is a temperror', async (t) => {
  const { resolver } = await setup(t);
  const r = await resolver.lookup('broken.example.test', 'A');
  assert.equal(r.status, 'temperror');
});

test('name server entries and resolv.conf parse', () => {
  assert.deepEqual(parseNameServer('192.0.2.53'), { host: '192.0.2.53', port: 53 });
  assert.deepEqual(parseNameServer('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
  assert.deepEqual(parseNameServer('[2001:db8::53]:5300'), { host: '2001:db8::53', port: 5300 });
  assert.deepEqual(parseNameServer('2001:db8::53'), { host: '2001:db8::53', port: 53 });
  assert.equal(parseNameServer('dns.example:53'), undefined);
  assert.deepEqual(parseResolvConf('# c\nsearch x\nnameserver 10.0.0.1\nnameserver 192.0.2.x\nnameserver ::1\n'), [
    { host: '10.0.0.1', port: 53 },
    { host: '::1', port: 53 },
  ]);
  assert.throws(() => resolveNameServers(['nonsense']), /dns.servers/);
  assert.deepEqual(resolveNameServers(undefined, '/nonexistent/resolv.conf'), [{ host: '127.0.0.1', port: 53 }]);
});
