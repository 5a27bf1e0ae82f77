// Deterministic protocol fuzz (rspamd HTTP listener): fixed seeds, a few hundred mutated HTTP requests (request
// line, Content-Length, Transfer-Encoding and chunk sizes, the rspamd envelope headers with garbage, bodies, the
// legacy RSPAMC line), each on its own connection and followed by a valid /checkv2; no uncaught exception, every
// request answered with one HTTP response (an error with rspamd's {"error"}), the listener still scans. The
// longer, seeded exploration is `BENCH=fuzz npm run bench` (test/bench/fuzz.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describe } from '../helpers/fuzz-drive.ts';
import { fuzzRequests } from '../helpers/fuzz-request.ts';
import { rspamdHttpFuzzTarget } from '../helpers/fuzz-servers.ts';

test('rspamd http: mutated requests get one well-formed response each and the listener goes on', { timeout: 60_000 }, async (t) => {
  const target = await rspamdHttpFuzzTarget(t);
  for (const seed of [1, 2]) {
    // bounded in count and in time; the time bound only stops early, it is not asserted
    const result = await fuzzRequests(target, { seed, iterations: 150, budgetMs: 7_000, timeoutMs: 10_000 });
    assert.deepEqual(result.findings, [], describe('rspamd-http', result));
  }
});
