// Deterministic protocol fuzz (spamd listener): fixed seeds, a few hundred mutated spamc requests, each on its own
// connection and followed by a PING; no uncaught exception, every request answered with a SPAMD/1.x line, the
// listener still answers PING. The longer, seeded exploration is `BENCH=fuzz npm run bench` (test/bench/fuzz.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describe } from '../helpers/fuzz-drive.ts';
import { fuzzRequests } from '../helpers/fuzz-request.ts';
import { spamdFuzzTarget } from '../helpers/fuzz-servers.ts';

test('spamd: mutated requests are answered with a SPAMD reply and the listener goes on', { timeout: 60_000 }, async (t) => {
  const target = await spamdFuzzTarget(t);
  // bounded in count and in time; the time bound only stops early, it is not asserted
  const result = await fuzzRequests(target, { seed: 1, iterations: 200, budgetMs: 12_000, timeoutMs: 10_000 });
  assert.deepEqual(result.findings, [], describe('spamd', result));
});
