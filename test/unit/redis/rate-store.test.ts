// RedisRateStore: same sliding-window arithmetic as MemoryRateStore, shared between clients, TTL-bounded
// keys, and the redis.on_error degradation (skip counts nothing / tempfail throws) with metrics while Redis is down.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryRateStore } from '../../../src/limits/rate-store.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { RedisUnavailableError } from '../../../src/redis/connection.ts';
import { RedisRateStore } from '../../../src/redis/rate-store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { steadyRetrier } from '../limits/steady-retrier.ts';
import { eventually, linkTo, startRedis } from './redis-server.ts';

test('counts like MemoryRateStore across bucket boundaries', async (t) => {
  const redis = await startRedis(t);
  const clock = new ManualClock(1_000_000);
  const shared = new RedisRateStore(await linkTo(t, redis), clock);
  const local = new MemoryRateStore(clock);
  const window = 10_000;
  const steps = [0, 1000, 2500, 4000, 7000, 9000, 11_000, 13_000, 17_000, 23_000, 31_000, 31_500];
  for (const [i, step] of steps.entries()) {
    clock.set(1_000_000 + step);
    const amount = (i % 3) + 1;
    assert.equal(await shared.hit('ip-msg:192.0.2.1', window, { amount }), await local.hit('ip-msg:192.0.2.1', window, { amount }), `step ${step}`);
  }
});

test('attempts over the limit are not counted, as in MemoryRateStore: a steady retrier gets through again', async (t) => {
  const redis = await startRedis(t);
  const clock = new ManualClock(10 * 3_600_000);
  const seq = await steadyRetrier(new RedisRateStore(await linkTo(t, redis), clock), clock);
  const localClock = new ManualClock(10 * 3_600_000);
  assert.deepEqual(seq, await steadyRetrier(new MemoryRateStore(localClock), localClock));
  assert.ok(seq.slice(4).includes('ok'), seq.join(' '));
});

test('two clients (two gateways) share one counter; keys expire by TTL', async (t) => {
  const redis = await startRedis(t);
  const clock = new ManualClock(5_000_000);
  const linkA = await linkTo(t, redis);
  const a = new RedisRateStore(linkA, clock);
  const b = new RedisRateStore(await linkTo(t, redis), clock);
  const counts: number[] = [];
  for (let i = 0; i < 6; i++) counts.push(await (i % 2 ? b : a).hit('ip-msg:198.51.100.7', 60_000));
  assert.deepEqual(counts, [1, 2, 3, 4, 5, 6]);
  const keys = await linkA.client.keys('test:*');
  assert.equal(keys.length, 1);
  const ttl = await linkA.client.pttl(keys[0] ?? '');
  assert.ok(ttl > 0 && ttl <= 120_000, `ttl ${ttl}`);
});

for (const onError of ['skip', 'tempfail'] as const) {
  test(`redis down: on_error ${onError}, counted in metrics, recovers when redis is back`, async (t) => {
    const redis = await startRedis(t);
    const registry = createRegistry(false);
    const link = await linkTo(t, redis, { on_error: onError }, registry);
    const store = new RedisRateStore(link, new ManualClock(0));
    assert.equal(await store.hit('k', 60_000), 1);
    await redis.kill();
    await eventually(() => !link.isUp);
    const started = performance.now();
    const n = await store.hit('k', 60_000).catch((err: unknown) => err);
    // Redis stays down: a call that waited for it (offline queue, reconnect) would not come back at all.
    assert.ok(performance.now() - started < 10_000, 'fails without waiting for redis to return');
    // skip counts nothing; tempfail throws, and the rate check reports RATE_STORE_UNAVAILABLE (not "exceeded").
    if (onError === 'skip') assert.equal(n, 0);
    else assert.ok(n instanceof RedisUnavailableError && n.store === 'rate', String(n));
    const metrics = await registry.getMetricsAsJSON();
    const errors = metrics.find((m) => m.name === 'spamgate_redis_errors_total');
    assert.equal(errors?.values.find((v) => v.labels.store === 'rate')?.value, 1);
    assert.equal(metrics.find((m) => m.name === 'spamgate_redis_up')?.values[0]?.value, 0);
    await redis.restart();
    await eventually(() => link.isUp);
    assert.equal(await store.hit('k', 60_000), 1, 'a restarted (empty) redis counts afresh');
    assert.equal((await registry.getMetricsAsJSON()).find((m) => m.name === 'spamgate_redis_up')?.values[0]?.value, 1);
  });
}
