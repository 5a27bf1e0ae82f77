// The in-process sliding-window rate store, driven by a manual clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryRateStore } from '../../../src/limits/rate-store.ts';
import { ManualClock } from '../../../src/util/clock.ts';

test('counts within a window and forgets after two windows', async () => {
  const clock = new ManualClock(1_000_000);
  const store = new MemoryRateStore(clock);
  const w = 60_000;
  assert.equal(await store.hit('k', w), 1);
  assert.equal(await store.hit('k', w), 2);
  assert.equal(await store.hit('other', w), 1, 'keys are independent');
  clock.advance(2 * w + 1);
  assert.equal(await store.hit('k', w), 1);
});

test('the previous window weighs in proportionally (sliding window)', async () => {
  const clock = new ManualClock(0);
  const store = new MemoryRateStore(clock);
  const w = 1000;
  for (let i = 0; i < 10; i++) await store.hit('k', w);
  clock.set(1500); // half-way through the next window: half of the previous 10 still count
  assert.equal(await store.hit('k', w), 6);
});
