// The fuzzy check (src/checks/fuzzy.ts) run offline as the gateway runs it: silent on an empty store,
// FUZZY_SPAM scaled by the similarity with the digest's id as option, FUZZY_ATTACHMENT for the same bytes; a failed
// delayed save of the in-process store is logged.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runOffline } from '../../../src/bayes/cli-support.ts';
import { createFuzzyCheck } from '../../../src/checks/fuzzy.ts';
import { fuzzySection } from '../../../src/config/sections/fuzzy.ts';
import { FUZZY_FILE, openFuzzy } from '../../../src/fuzzy/open-fuzzy.ts';
import { DEFAULT_MIME_LIMITS } from '../../../src/mime/parse.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { capturingLogger } from '../../helpers/capture-logs.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { CAMPAIGN, message, nearCopy, payload, UNRELATED, withAttachment } from './fixtures.ts';

test('silent while empty; a near-copy hits FUZZY_SPAM (factor = similarity), an attachment FUZZY_ATTACHMENT', async (t) => {
  const fuzzy = openFuzzy({ config: fuzzySection.parse({}), limits: DEFAULT_MIME_LIMITS, clock: new ManualClock(1_000_000), dataDir: tempDir(t) });
  const check = createFuzzyCheck({ fuzzy, limits: DEFAULT_MIME_LIMITS });
  const hits = async (raw: Buffer) => (await runOffline([check], raw)).hits;
  assert.deepEqual(await hits(message(nearCopy(1))), []);
  await fuzzy.addSpam(message(CAMPAIGN));
  const [hit, ...rest] = await hits(message(nearCopy(1)));
  assert.deepEqual(rest, []);
  assert.equal(hit?.symbol, 'FUZZY_SPAM');
  const similarity = Number(hit?.options?.[0]);
  assert.ok(similarity >= 0.7 && similarity < 1, String(similarity));
  // k of 32 slots: the option rounds to 2 places, the factor to 3
  assert.ok(Math.abs((hit?.factor ?? 0) - similarity) < 0.006, `factor ${hit?.factor}`);
  assert.match(hit?.options?.[1] ?? '', /^[0-9a-f]{16}$/);
  assert.deepEqual(await hits(message(UNRELATED)), []);
  await fuzzy.addSpam(withAttachment('see attached', payload(5)));
  assert.deepEqual(
    (await hits(withAttachment('another text, same file', payload(5)))).map((h) => h.symbol),
    ['FUZZY_ATTACHMENT'],
  );
});

test('a delayed save that fails is logged (not swallowed), and the report stays to be saved later', async (t) => {
  const dir = tempDir(t);
  const { log, logs } = capturingLogger('warn');
  const fuzzy = openFuzzy({ config: fuzzySection.parse({}), limits: DEFAULT_MIME_LIMITS, clock: new ManualClock(1_000_000), dataDir: dir, saveDelayMs: 10, log });
  // opened; now the store file's place is taken by a directory: every save fails
  mkdirSync(path.join(dir, FUZZY_FILE));
  await fuzzy.addSpam(message(CAMPAIGN));
  for (const until = Date.now() + 5000; !logs.some((l) => /fuzzy store not saved/.test(String(l.msg))) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
  assert.ok(logs.some((l) => /fuzzy store not saved/.test(String(l.msg)) && String(l.file).endsWith(FUZZY_FILE)), JSON.stringify(logs));
  const check = createFuzzyCheck({ fuzzy, limits: DEFAULT_MIME_LIMITS });
  assert.deepEqual((await runOffline([check], message(nearCopy(1)))).hits.map((h) => h.symbol), ['FUZZY_SPAM'], 'still in memory');
  await fuzzy.close().catch(() => undefined);
});
