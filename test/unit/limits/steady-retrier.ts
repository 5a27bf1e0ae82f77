// Test helper: a queue retrying steadily against a rate limit (3/h, one attempt every 15 min for 6 h),
// shared by the in-process and the Redis rate store tests.
import type { RateStore } from '../../../src/limits/rate-store.ts';
import type { ManualClock } from '../../../src/util/clock.ts';

/** One attempt every 15 min for 6 h against 3/h: 'ok' when within the limit, 'X' when over it. */
export async function steadyRetrier(store: RateStore, clock: ManualClock): Promise<string[]> {
  const seq: string[] = [];
  for (let i = 0; i < 24; i++) {
    seq.push((await store.hit('ip-msg:198.51.100.1', 3_600_000, { limit: 3 })) > 3 ? 'X' : 'ok');
    clock.advance(15 * 60_000);
  }
  return seq;
}
