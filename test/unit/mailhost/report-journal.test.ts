// The pieces of report retries on their own: the backoff (attempts and the 24-hour window, RFC 8460 §5.5) and the
// round journal (read back after a restart, a torn last line skipped, 0600, removed, bounded by a rewrite).
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { deliverAll, type Attempt } from '../../../src/mailhost/report-deliveries.ts';
import { MAX_DESTINATIONS, MAX_JOURNAL_BYTES, openDayJournal } from '../../../src/mailhost/report-journal.ts';
import { DEFAULT_RETRY, nextAttempt } from '../../../src/mailhost/report-retry.ts';
import { createLogger } from '../../../src/util/logger.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const log = createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }));
const MIN = 60_000;

test('backoff: 15 min, 1 h, 3 h, 6 h, 12 h after the failures; given up after the sixth attempt or past 24 hours', () => {
  assert.equal(nextAttempt(DEFAULT_RETRY, { tries: 1, firstAt: 0, lastAt: 0 }, 14 * MIN), 'wait');
  assert.equal(nextAttempt(DEFAULT_RETRY, { tries: 1, firstAt: 0, lastAt: 0 }, 15 * MIN), 'due');
  assert.equal(nextAttempt(DEFAULT_RETRY, { tries: 2, firstAt: 0, lastAt: 15 * MIN }, 74 * MIN), 'wait');
  assert.equal(nextAttempt(DEFAULT_RETRY, { tries: 5, firstAt: 0, lastAt: 600 * MIN }, 1320 * MIN), 'due');
  assert.equal(nextAttempt(DEFAULT_RETRY, { tries: 6, firstAt: 0, lastAt: 1320 * MIN }, 5000 * MIN), 'give_up');
  // the next attempt would start more than 24 hours after the first
  assert.equal(nextAttempt(DEFAULT_RETRY, { tries: 5, firstAt: 0, lastAt: 800 * MIN }, 2000 * MIN), 'give_up');
});

test('the journal is read back after a restart (a torn last line skipped), mode 0600, and removed with its round', async (t) => {
  const file = path.join(tempDir(t, 'spamgate-journal-'), 'tls-reports.2026-03-10.journal');
  const j = openDayJournal(file, log);
  await j.mark('a.test', 'https://r.test/x', { s: 'sent' });
  await j.mark('b.test', 'mailto:r@b.test', { s: 'failed', tries: 2, firstAt: 1, lastAt: 2 });
  await j.finish('a.test');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  appendFileSync(file, '{"d":"c.test","done":tr');
  const again = openDayJournal(file, log);
  assert.equal(again.isDone('a.test'), true);
  assert.equal(again.isDone('c.test'), false, 'the torn line is not taken');
  assert.deepEqual(again.destinations('b.test').get('mailto:r@b.test'), { s: 'failed', tries: 2, firstAt: 1, lastAt: 2 });
  await again.remove();
  assert.equal(existsSync(file), false);
});

test('the journal stays within its bound: past it, rewritten from its state', async (t) => {
  const file = path.join(tempDir(t, 'spamgate-journal-'), 'dmarc-reports.2026-03-10.journal');
  const j = openDayJournal(file, log);
  const key = `mailto:${'x'.repeat(4000)}@r.test`;
  // one destination failing over and over: lines pile up, the state stays one line
  for (let i = 1; i <= Math.ceil(MAX_JOURNAL_BYTES / 4000) + 10; i++) await j.mark('d.test', key, { s: 'failed', tries: (i % 5) + 1, firstAt: 0, lastAt: i });
  assert.ok(statSync(file).size <= MAX_JOURNAL_BYTES, `${statSync(file).size} bytes`);
  assert.ok(readFileSync(file, 'utf8').split('\n').length < 2100);
  const last = openDayJournal(file, log).destinations('d.test').get(key);
  assert.equal(last?.s, 'failed');
});

test('a line appended after a torn last line (a crash mid-write) is read back after the next restart', async (t) => {
  const file = path.join(tempDir(t, 'spamgate-journal-'), 'tls-reports.2026-03-11.journal');
  const j = openDayJournal(file, log);
  await j.mark('a.test', 'https://r.test/x', { s: 'sent' });
  appendFileSync(file, '{"d":"b.test","u":"mailto:r@b.te');
  // the restart after the crash sends b.test's report and journals it
  const second = openDayJournal(file, log);
  await second.mark('b.test', 'mailto:r@b.test', { s: 'sent' });
  await second.finish('c.test');
  // a later restart must not send it again
  const third = openDayJournal(file, log);
  assert.deepEqual(third.destinations('a.test').get('https://r.test/x'), { s: 'sent' });
  assert.deepEqual(third.destinations('b.test').get('mailto:r@b.test'), { s: 'sent' }, 'the line written after the torn one is lost');
  assert.equal(third.isDone('c.test'), true);
});

test('destinations past MAX_DESTINATIONS are not sent at all (never sent unjournaled), also after a restart', async (t) => {
  const file = path.join(tempDir(t, 'spamgate-journal-'), 'tls-reports.2026-03-12.journal');
  const calls: string[] = [];
  const dests = Array.from({ length: MAX_DESTINATIONS + 4 }, (_, i) => ({
    key: `https://r${i}.test/`,
    // the first destination fails for now (the report stays pending), the others take it
    send: async (): Promise<Attempt> => (calls.push(`r${i}`), i === 0 ? 'retry' : 'sent'),
  }));
  let now = 0;
  const round = (journal: ReturnType<typeof openDayJournal>) => ({ domain: 'a.test', journal, policy: DEFAULT_RETRY, now: () => now, closing: new AbortController().signal });
  const first = await deliverAll(round(openDayJournal(file, log)), dests);
  assert.equal(first.pending, true);
  assert.equal(calls.length, MAX_DESTINATIONS, 'only the destinations the journal can hold are sent to');
  assert.equal(first.skipped, 4);
  // a restart, then the retry of the first destination: nothing else is sent again
  now = 15 * MIN;
  calls.length = 0;
  const again = await deliverAll(round(openDayJournal(file, log)), dests);
  assert.deepEqual(calls, ['r0']);
  assert.equal(again.skipped, 4);
});
