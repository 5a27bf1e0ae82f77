// Deterministic protocol fuzz (milter listener): fixed seeds, a few hundred mutated packet sequences (wrong
// lengths up to 4 GB, unknown commands, strings without NUL, missing arguments, reordered and repeated packets,
// BODY before MAIL, OPTNEG again, oversized macros), each followed by a probe OPTNEG; a close is the milter's
// answer to a protocol error, after which a fresh connection must negotiate. No uncaught exception, no hang,
// every reply a well-formed milter packet. The longer, seeded exploration is `BENCH=fuzz npm run bench`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describe, fuzz } from '../helpers/fuzz-drive.ts';
import { MILTER_SESSIONS } from '../helpers/fuzz-milter.ts';
import { milterFuzzTarget } from '../helpers/fuzz-servers.ts';

test('milter: mutated packet sequences never crash, hang or garble the listener', { timeout: 60_000 }, async (t) => {
  const target = await milterFuzzTarget(t);
  for (const seed of [1, 2]) {
    // bounded in count and in time; the time bound only stops early, it is not asserted
    const result = await fuzz(target, Object.keys(MILTER_SESSIONS), { seed, iterations: 150, budgetMs: 7_000, probeTimeoutMs: 10_000 });
    assert.deepEqual(result.findings, [], describe('milter', result));
  }
});
