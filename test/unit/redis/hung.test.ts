// A hung Redis (SIGSTOP: the socket stays open, nothing answers): calls fail within redis.timeout, the silent
// socket is dropped, and the calls that failed meanwhile are not run later, when Redis resumes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RedisUnavailableError } from '../../../src/redis/connection.ts';
import { RedisRateStore } from '../../../src/redis/rate-store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { eventually, linkTo, startRedis } from './redis-server.ts';

const HOUR = 3_600_000;

test('hung redis: failed calls are dropped, not applied when it resumes', { timeout: 60_000 }, async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis, { timeout: '200ms' });
  const store = new RedisRateStore(link, new ManualClock(10 * HOUR));
  const key = 'ip-msg:203.0.113.9';
  assert.equal(await store.hit(key, HOUR), 1);
  redis.pause();
  // The call that finds Redis hung: it times out, and its command is the only one left on that socket.
  await assert.rejects(store.hit(key, HOUR), RedisUnavailableError);
  // The silent socket is dropped (not waited for: the calls below go on either way).
  await eventually(() => !link.isUp, 10_000).catch(() => undefined);
  const calls = 2000;
  const settled = await Promise.allSettled(Array.from({ length: calls }, () => store.hit(key, HOUR)));
  assert.equal(settled.filter((s) => s.status === 'rejected').length, calls, 'every call fails while redis is hung');
  redis.resume();
  await eventually(() => link.isUp, 10_000);
  const n = await store.hit(key, HOUR);
  // 1 before the hang + at most the one call sent to the hung socket + this one.
  assert.ok(n <= 3, `the counter reads ${n}: ${n - 1} calls that failed were applied later`);
});
