// Greylisting: triplet normalisation, the store transition (in-process and Redis, same scenario), and the
// rcpt check's skips (whitelisted networks, SPF-pass domains, low score) and store-failure policy.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createGreylistCheck, policyOf } from '../../../src/checks/greylist.ts';
import type { CheckContext } from '../../../src/checks/types.ts';
import { greylistSection } from '../../../src/config/sections/redis.ts';
import { MemoryGreylistStore, type GreylistStore } from '../../../src/greylist/store.ts';
import { clientNetwork, normalizeSender, tripletOf } from '../../../src/greylist/triplet.ts';
import { RedisGreylistStore } from '../../../src/redis/greylist-store.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { eventually, linkTo, startRedis } from './redis-server.ts';

const MIN = 60_000;
const DAY = 86_400_000;

test('triplet: /24 and /64 networks, normalised sender', () => {
  assert.equal(clientNetwork('203.0.113.77'), '203.0.113.0/24');
  assert.equal(clientNetwork('::ffff:203.0.113.77'), '203.0.113.0/24');
  assert.equal(clientNetwork('2001:db8:1:2:aaaa::1'), '2001:db8:1:2:0:0:0:0/64');
  assert.equal(clientNetwork('64:ff9b::203.0.113.77'), '203.0.113.0/24', 'an IPv4 host behind NAT64 (RFC 6052 §2.1)');
  assert.equal(clientNetwork('::ffff:cb00:714d'), '203.0.113.0/24', 'IPv4-mapped, written in hex');
  assert.equal(clientNetwork('10.1.2.3', 16), '10.1.0.0/16');
  assert.equal(normalizeSender(''), '<>');
  assert.equal(normalizeSender('Bounce-12345-77@Lists.Example.org'), 'bounce-#-#@lists.example.org');
  assert.equal(normalizeSender('prvs=1234abcd=alice@example.org'), 'alice@example.org');
  assert.deepEqual(tripletOf('198.51.100.9', 'A@x.example', 'Bob@Y.example'), { network: '198.51.100.0/24', sender: 'a@x.example', recipient: 'bob@y.example' });
});

async function scenario(store: GreylistStore, clock: ManualClock): Promise<void> {
  const policy = policyOf(greylistSection.parse({}));
  const t1 = tripletOf('192.0.2.10', 'a@sender.example', 'u@local.example');
  const sameNet = tripletOf('192.0.2.200', 'a@sender.example', 'u@local.example');
  const t0 = clock.now();
  assert.deepEqual(await store.check(t1, clock.now(), policy), { status: 'deferred', retryInMs: 5 * MIN, first: true });
  clock.advance(2 * MIN);
  assert.deepEqual(await store.check(sameNet, clock.now(), policy), { status: 'deferred', retryInMs: 3 * MIN, first: false }, 'same /24 is the same triplet');
  clock.advance(3 * MIN);
  assert.deepEqual(await store.check(t1, clock.now(), policy), { status: 'passed', waitedMs: 5 * MIN });
  clock.advance(30 * DAY);
  assert.deepEqual(await store.check(t1, clock.now(), policy), { status: 'whitelisted' }, 'use refreshes the whitelisting');
  clock.advance(35 * DAY);
  assert.deepEqual(await store.check(t1, clock.now(), policy), { status: 'whitelisted' });
  clock.advance(37 * DAY);
  assert.equal((await store.check(t1, clock.now(), policy)).status, 'deferred', 'whitelisting expired after 36 days unused');
  // A sender whose retry gaps grew past hours still gets through: max_wait is 2 days by default (postgrey's).
  const slow = tripletOf('198.51.100.50', 'slow@sender.example', 'u@local.example');
  await store.check(slow, clock.now(), policy);
  clock.advance(30 * 3_600_000);
  assert.deepEqual(await store.check(slow, clock.now(), policy), { status: 'passed', waitedMs: 30 * 3_600_000 }, 'retried after 30 hours');
  // A first attempt never retried within max_wait starts over.
  const t2 = tripletOf('198.51.100.1', 'b@sender.example', 'u@local.example');
  await store.check(t2, clock.now(), policy);
  clock.advance(2 * DAY + 3_600_000);
  assert.deepEqual(await store.check(t2, clock.now(), policy), { status: 'deferred', retryInMs: 5 * MIN, first: true });
  // Network scope: one passed retry whitelists the whole /24 for any sender and recipient.
  const netPolicy = { ...policy, scope: 'network' as const };
  const t3 = tripletOf('203.0.113.5', 'c@sender.example', 'u@local.example');
  await store.check(t3, clock.now(), netPolicy);
  clock.advance(6 * MIN);
  assert.equal((await store.check(t3, clock.now(), netPolicy)).status, 'passed');
  assert.equal((await store.check(tripletOf('203.0.113.99', 'other@else.example', 'v@local.example'), clock.now(), netPolicy)).status, 'whitelisted');
  assert.ok(clock.now() > t0);
}

test('in-process store: defer, early retry, pass, whitelist, expiry, network scope', async () => {
  const clock = new ManualClock(1_700_000_000_000);
  await scenario(new MemoryGreylistStore(clock), clock);
});

test('redis store: the same scenario, shared by two clients', async (t) => {
  const redis = await startRedis(t);
  const clock = new ManualClock(1_700_000_000_000);
  const a = new RedisGreylistStore(await linkTo(t, redis), 'caller');
  const b = new RedisGreylistStore(await linkTo(t, redis), 'caller');
  const alternating: GreylistStore = { kind: 'alt', close: async () => undefined, check: (tr, now, p) => ((now / MIN) % 2 < 1 ? a : b).check(tr, now, p) };
  await scenario(alternating, clock);
});

function ctx(over: Partial<CheckContext> & { ip?: string } = {}): CheckContext {
  return {
    phase: 'rcpt',
    session: { id: 's1', clientIp: over.ip ?? '192.0.2.10', clientPort: 1, secure: false, trusted: false, submission: false, localIp: '127.0.0.1', localPort: 25 },
    envelope: { mailFrom: 'a@sender.example', rcptTo: [], smtputf8: false, body8bit: false },
    rcpt: 'u@local.example',
    signal: new AbortController().signal,
    now: 1_700_000_000_000,
    log: silentLogger,
    addHeader: () => undefined,
    results: new Map(),
    hitsSoFar: [],
    ...over,
  };
}

function check(t: TestContext, store: GreylistStore, config: Record<string, unknown> = {}, onError: 'tempfail' | 'skip' = 'tempfail') {
  t.after(() => store.close());
  return createGreylistCheck({ store, config: greylistSection.parse({ enabled: true, ...config }), ruleset: loadRuleset(['rules']), onError });
}

test('check: defers the first attempt, skips whitelisted networks, SPF-pass domains and low scores', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const c = check(t, new MemoryGreylistStore(clock), { whitelist_networks: ['198.51.100.0/24'], whitelist_spf_domains: ['bigmail.example'], min_score: 0 });
  const first = await c.run(ctx());
  assert.equal(first[0]?.symbol, 'GREYLIST_DEFER');
  assert.deepEqual(first[0]?.options, ['192.0.2.0/24', 'first attempt', 'retry in 300s']);
  assert.deepEqual(await c.run(ctx({ ip: '198.51.100.3' })), []);
  const spf = new Map<string, unknown>([['spf', { result: 'pass', domain: 'out.bigmail.example' }]]);
  assert.deepEqual(await c.run(ctx({ ip: '203.0.113.1', results: spf })), []);
  // Score so far below min_score (a good reputation symbol) skips greylisting.
  assert.deepEqual(await c.run(ctx({ ip: '203.0.113.2', hitsSoFar: [{ symbol: 'BAYES_HAM' }] })), []);
  const retry = await c.run(ctx({ now: 1_700_000_000_000 + 5 * MIN }));
  assert.equal(retry[0]?.symbol, 'GREYLIST_PASS');
  assert.equal(c.phase, 'rcpt');
});

test('check: without min_score every first attempt is greylisted, an SPF pass (the sender\'s own claim) included', async (t) => {
  const c = check(t, new MemoryGreylistStore(new ManualClock(1_700_000_000_000)));
  const spfPass = new Map<string, unknown>([['spf', { result: 'pass', domain: 'throwaway.example' }]]);
  const first = await c.run(ctx({ ip: '203.0.113.9', hitsSoFar: [{ symbol: 'SPF_PASS' }], results: spfPass }));
  assert.equal(first[0]?.symbol, 'GREYLIST_DEFER');
});

test('check: store failure becomes GREYLIST_UNAVAILABLE (tempfail) or GREYLIST_SKIPPED (skip) within the budget', async (t) => {
  const redis = await startRedis(t);
  // a budget of 5 s, not the 1 s default, so that a loaded machine meets it; redis.timeout 30 s, so that a
  // store that waited for redis to answer would still miss it
  const link = await linkTo(t, redis, { timeout: '30s' });
  const store = new RedisGreylistStore(link);
  await redis.kill();
  await eventually(() => !link.isUp);
  const tempfail = check(t, store, { timeout: '5s' }, 'tempfail');
  assert.equal(tempfail.timeoutMs, 5000);
  const started = performance.now();
  assert.equal((await tempfail.run(ctx()))[0]?.symbol, 'GREYLIST_UNAVAILABLE');
  assert.ok(performance.now() - started < (tempfail.timeoutMs ?? 0));
  assert.equal((await check(t, store, {}, 'skip').run(ctx()))[0]?.symbol, 'GREYLIST_SKIPPED');
});
