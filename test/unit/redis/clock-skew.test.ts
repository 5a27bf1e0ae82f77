// Gateways sharing Redis take the time from Redis (TIME in the scripts), not from their own clocks: a
// gateway whose clock is 10 minutes slow must not let a bot's immediate retry through another gateway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policyOf } from '../../../src/checks/greylist.ts';
import { greylistSection } from '../../../src/config/sections/redis.ts';
import { tripletOf } from '../../../src/greylist/triplet.ts';
import { RedisGreylistStore } from '../../../src/redis/greylist-store.ts';
import { RedisRateStore } from '../../../src/redis/rate-store.ts';
import { linkTo, startRedis } from './redis-server.ts';

const MIN = 60_000;

test('greylist: a retry right away on a gateway 10 minutes ahead of the first one is still early', async (t) => {
  const redis = await startRedis(t);
  const a = new RedisGreylistStore(await linkTo(t, redis));
  const b = new RedisGreylistStore(await linkTo(t, redis));
  const policy = policyOf(greylistSection.parse({}));
  const triplet = tripletOf('192.0.2.10', 'bot@sender.example', 'u@local.example');
  const now = Date.now();
  assert.deepEqual(await a.check(triplet, now - 10 * MIN, policy), { status: 'deferred', retryInMs: 5 * MIN, first: true });
  const retry = await b.check(triplet, now, policy);
  assert.equal(retry.status, 'deferred', `immediate retry through the other gateway: ${JSON.stringify(retry)}`);
  // The other way round: first seen on the gateway ahead, the gateway behind asks for no longer a wait.
  const other = tripletOf('192.0.2.11', 'legit@sender.example', 'u@local.example');
  await b.check(other, now + 10 * MIN, policy);
  const early = await a.check(other, now, policy);
  assert.ok(early.status === 'deferred' && !early.first && early.retryInMs <= 5 * MIN, JSON.stringify(early));
});

test('rate: the bucket is Redis\' time, whatever the gateway\'s clock', async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis);
  const store = new RedisRateStore(link);
  const day = 86_400_000;
  const [before] = await link.client.time();
  assert.equal(await store.hit('ip-msg:192.0.2.1', day), 1);
  const [after] = await link.client.time();
  const keys = await link.client.keys('test:{rate:*');
  assert.equal(keys.length, 1);
  const bucket = Number(keys[0]?.split(':').pop());
  assert.ok([Math.floor((Number(before) * 1000) / day), Math.floor((Number(after) * 1000) / day)].includes(bucket), `bucket ${bucket}`);
  assert.equal(await new RedisRateStore(await linkTo(t, redis)).hit('ip-msg:192.0.2.1', day), 2, 'a second gateway counts in the same bucket');
});
