// Deterministic protocol fuzz (SMTP gateway, after EHLO): fixed seeds, a few hundred mutated commands each followed by a probe;
// no uncaught exception, no hang, no silent close, every reply in the protocol's syntax. The longer, seeded
// exploration is `BENCH=fuzz npm run bench` (test/bench/fuzz.ts).
import path from 'node:path';
import { test } from 'node:test';
import { assertFuzzClean } from '../helpers/fuzz-drive.ts';
import { CORPUS_DIR, smtpFuzzTargets } from '../helpers/fuzz-servers.ts';

const CORPUS = path.join(CORPUS_DIR, 'smtp.txt');

test('SMTP gateway, after EHLO: mutated commands never crash, hang or garble the session', { timeout: 60_000 }, async (t) => {
  await assertFuzzClean('smtp', (await smtpFuzzTargets(t)).gateway, CORPUS, { seeds: [1, 2], perSeed: 150, budgetMs: 7_000 });
});

test('SMTP submission, after AUTH: mutated commands never crash, hang or garble the session', { timeout: 60_000 }, async (t) => {
  await assertFuzzClean('submission', (await smtpFuzzTargets(t)).submission, CORPUS, { seeds: [3], perSeed: 150, budgetMs: 7_000 });
});
