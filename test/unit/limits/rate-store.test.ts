// The in-process sliding-window rate store, driven by a manual clock; hits over the limit are not counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryRateStore } from '../../../src/limits/rate-store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { steadyRetrier } from './steady-retrier.ts';

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

test('attempts over the limit are not counted: a steady retrier gets through again', async () => {
  const clock = new ManualClock(10 * 3_600_000);
  const seq = await steadyRetrier(new MemoryRateStore(clock), clock);
  assert.deepEqual(seq.slice(0, 4), ['ok', 'ok', 'ok', 'X']);
  assert.ok(seq.slice(4).includes('ok'), seq.join(' '));
  assert.ok(seq.filter((s) => s === 'ok').length <= 3 * 7, seq.join(' '));
  // Without a limit every hit counts.
  const plain = new MemoryRateStore(clock);
  for (let i = 0; i < 5; i++) await plain.hit('k', 60_000, { limit: 3 });
  assert.equal(await plain.hit('k', 60_000), 4, 'the refused hits were not counted');
});
