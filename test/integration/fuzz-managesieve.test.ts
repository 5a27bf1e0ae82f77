// Deterministic protocol fuzz (ManageSieve, authenticated): fixed seeds, a few hundred mutated commands each followed by a probe;
// no uncaught exception, no hang, no silent close, every reply in the protocol's syntax. The longer, seeded
// exploration is `BENCH=fuzz npm run bench` (test/bench/fuzz.ts).
import path from 'node:path';
import { test } from 'node:test';
import { assertFuzzClean } from '../helpers/fuzz-drive.ts';
import { CORPUS_DIR, sieveFuzzTarget } from '../helpers/fuzz-servers.ts';

test('ManageSieve, authenticated: mutated commands never crash, hang or garble the session', { timeout: 60_000 }, async (t) => {
  await assertFuzzClean('managesieve', await sieveFuzzTarget(t), path.join(CORPUS_DIR, 'managesieve.txt'), { seeds: [1, 2], perSeed: 150, budgetMs: 15_000 });
});
