// The reputation store in Redis (a real redis-server): a record stamped in the future (a gateway whose
// clock was ahead) is re-dated at the next observation and decays from then on, as in the in-process store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RedisReputationStore } from '../../../src/redis/reputation-store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { linkTo, startRedis } from './redis-server.ts';

const DAY = 86_400_000;
const HALF = 30 * DAY;
const T0 = 1_700_000_000_000;

test('a record stamped in the future is re-dated to now by the next observation, and decays from there', async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis);
  const store = new RedisReputationStore(link, new ManualClock(T0), HALF);
  // learned by a gateway a year ahead
  for (let i = 0; i < 10; i++) await store.observe('ip:198.51.100.0/24', 12, 1, T0 + 365 * DAY);
  const rec = await store.observe('ip:198.51.100.0/24', 12, 1, T0);
  assert.equal(rec.at, T0);
  const again = await store.observe('ip:198.51.100.0/24', 0, 1, T0 + HALF);
  assert.equal(again.count, 11 / 2 + 1);
  assert.equal(again.at, T0 + HALF);
});

test('Redis keeps at most reputation.max_entries keys: past it the least recently updated go, record and all', async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis);
  const store = new RedisReputationStore(link, new ManualClock(T0), HALF, 3);
  // a spammer walking through IPv6 /64s: one key each, kept eight half-lives without a bound
  for (let i = 0; i < 6; i++) await store.observe(`ip:2001:db8:0:${i}::/64`, 10, 1, T0 + i);
  assert.equal(await store.size(), 3);
  assert.equal(await store.get('ip:2001:db8:0:0::/64'), undefined);
  assert.equal(await store.get('ip:2001:db8:0:2::/64'), undefined);
  assert.deepEqual(await store.get('ip:2001:db8:0:5::/64'), { sum: 10, count: 1, at: T0 + 5 });
  const hashes = await link.run('bench', (c) => c.keys('*{rep}:ip:*'));
  assert.equal(hashes.length, 3);
});

test('a record that is no number (edited by hand, another writer) is taken as no history, and the next observation starts it afresh', async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis);
  const store = new RedisReputationStore(link, new ManualClock(T0), HALF);
  await link.run('bench', (c) => c.hset(`${link.prefix}{rep}:ip:192.0.2.0/24`, 's', 'nan', 'c', 'x', 't', String(T0)));
  assert.equal(await store.get('ip:192.0.2.0/24'), undefined);
  assert.deepEqual(await store.observe('ip:192.0.2.0/24', 10, 1, T0), { sum: 10, count: 1, at: T0 });
  assert.deepEqual(await store.get('ip:192.0.2.0/24'), { sum: 10, count: 1, at: T0 });
});
