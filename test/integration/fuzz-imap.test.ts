// Deterministic protocol fuzz (IMAP, logged in with INBOX selected): fixed seeds, a few hundred mutated commands each followed by a probe;
// no uncaught exception, no hang, no silent close, every reply in the protocol's syntax. The longer, seeded
// exploration is `BENCH=fuzz npm run bench` (test/bench/fuzz.ts).
import path from 'node:path';
import { test } from 'node:test';
import { assertFuzzClean } from '../helpers/fuzz-drive.ts';
import { CORPUS_DIR, imapFuzzTarget } from '../helpers/fuzz-servers.ts';

test('IMAP, logged in with INBOX selected: mutated commands never crash, hang or garble the session', { timeout: 60_000 }, async (t) => {
  await assertFuzzClean('imap', await imapFuzzTarget(t), path.join(CORPUS_DIR, 'imap.txt'), { seeds: [1, 2], perSeed: 150, budgetMs: 15_000 });
});
