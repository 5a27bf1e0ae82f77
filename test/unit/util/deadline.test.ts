// The deadline signal: it aborts when its time is up even though only the combined signal is held and garbage is
// collected meanwhile (AbortSignal.any() holds its sources weakly: an AbortSignal.timeout() source was collected);
// expired tells its own time from the other signal; clear() stops the timer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startDeadline } from '../../../src/util/deadline.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Resolves 'aborted' once the signal aborts, or 'never' after `waitMs`, collecting garbage all along. */
async function abortsDespiteGc(signal: AbortSignal, waitMs: number): Promise<'aborted' | 'never'> {
  const collect = setInterval(gc, 10);
  try {
    return await new Promise((resolve) => {
      signal.addEventListener('abort', () => resolve('aborted'), { once: true });
      setTimeout(() => resolve('never'), waitMs);
    });
  } finally {
    clearInterval(collect);
  }
}

test('the combined signal aborts at its time though nothing but it is held and garbage is collected', async () => {
  const other = new AbortController();
  // only the combined signals are kept, as a request keeps the signal it was given
  const signals = Array.from({ length: 20 }, () => startDeadline(100, other.signal).signal);
  gc();
  const results = await Promise.all(signals.map((s) => abortsDespiteGc(s, 2000)));
  assert.deepEqual(new Set(results), new Set(['aborted']));
  assert.equal(other.signal.aborted, false);
});

test('expired is the deadline\'s own time; the other signal aborts it too; clear() stops the timer', async () => {
  const other = new AbortController();
  const a = startDeadline(30, other.signal);
  other.abort();
  assert.equal(a.signal.aborted, true);
  assert.equal(a.expired, false, 'ended by the other signal, not by time');
  a.clear();
  const b = startDeadline(20);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(b.signal.aborted, true);
  assert.equal(b.expired, true);
  const c = startDeadline(20);
  c.clear();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(c.signal.aborted, false, 'cleared: never aborts');
});
