// Deterministic protocol fuzz (IMAP, logged in with INBOX selected): fixed seeds, a few hundred mutated commands each followed by a probe;
// no uncaught exception, no hang, no silent close, every reply in the protocol's syntax. The longer, seeded
// exploration is `BENCH=fuzz npm run bench` (test/bench/fuzz.ts).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { describe, fuzz, readCorpus } from '../helpers/fuzz-drive.ts';
import { CORPUS_DIR, imapFuzzTarget } from '../helpers/fuzz-servers.ts';

const SEEDS = [1, 2];
const PER_SEED = 150;

test('IMAP, logged in with INBOX selected: mutated commands never crash, hang or garble the session', { timeout: 60_000 }, async (t) => {
  const target = await imapFuzzTarget(t);
  const corpus = readCorpus(path.join(CORPUS_DIR, 'imap.txt'));
  for (const seed of SEEDS) {
    // bounded in count and in time; the time bound only stops early, it is not asserted
    const result = await fuzz(target, corpus, { seed, iterations: PER_SEED, budgetMs: 15_000, probeTimeoutMs: 10_000 });
    assert.deepEqual(result.findings, [], describe('imap', result));
  }
});
