// The shared day store's bound on days: a day with reports still to send is kept through downtime, up to MAX_DAYS;
// past the cap the oldest is evicted and logged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { createDayStore, MAX_DAYS } from '../../../src/mailhost/report-days.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { capturingLogger } from '../../helpers/capture-logs.ts';

const DAY = 86_400_000;
const D0 = Date.parse('2026-03-01T12:00:00Z');

test('days with reports still to send stay up to MAX_DAYS; past it the oldest is evicted with a warning', async () => {
  const { log, logs } = capturingLogger('warn');
  const store = createDayStore<number>({ entrySchema: z.number(), domainsPerDay: 10, maxFileBytes: 1 << 20, what: 'test counters', clock: new ManualClock(D0), log });
  // three days, then spamgate down for two: a new day's entry keeps the three
  for (const d of [0, 1, 2, 5]) store.entry(D0 + d * DAY, 'a.test', () => 1);
  assert.deepEqual(store.days(), ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-06']);
  assert.equal(logs.length, 0);
  for (let d = 6; d < 6 + MAX_DAYS; d++) store.entry(D0 + d * DAY, 'a.test', () => 1);
  assert.equal(store.days().length, MAX_DAYS);
  assert.equal(store.days()[0], '2026-03-07');
  assert.equal(logs.filter((l) => /evicted/.test(String(l.msg))).length, 4);
  await store.close();
});
