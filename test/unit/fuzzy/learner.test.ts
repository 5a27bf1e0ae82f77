// withFuzzyLearning (src/fuzzy/learner.ts): what users report reaches the fuzzy store — spam (Junk folder,
// train) adds, ham (out of Junk, quarantine release --learn) removes — autolearning does not, and the
// Bayes learner beside it is still taught; a failing store does not stop Bayes learning.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LearnOutcome, Learner, LearnSource, MessageClass } from '../../../src/bayes/learner.ts';
import { fuzzySection } from '../../../src/config/sections/fuzzy.ts';
import { withFuzzyLearning } from '../../../src/fuzzy/learner.ts';
import { openFuzzy, type FuzzyFilter } from '../../../src/fuzzy/open-fuzzy.ts';
import { parseMail } from '../../../src/mime/parse.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { CAMPAIGN, message, nearCopy, UNRELATED } from './fixtures.ts';

class RecordingLearner implements Learner {
  readonly seen: string[] = [];
  async learn(_raw: Buffer, cls: MessageClass, source: LearnSource): Promise<LearnOutcome> {
    this.seen.push(`${cls}/${source}`);
    return 'learned';
  }
  async forget(): Promise<LearnOutcome> {
    return 'forgotten';
  }
}

const matches = async (fuzzy: FuzzyFilter, body: string): Promise<boolean> => (await fuzzy.check(parseMail(message(body))))?.text !== undefined;

test('spam reported adds, ham reported removes, autolearn leaves the fuzzy store alone; Bayes learns each', async (t) => {
  const fuzzy = openFuzzy({ config: fuzzySection.parse({}), limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 }, clock: new ManualClock(1_000_000), dataDir: tempDir(t) });
  const bayes = new RecordingLearner();
  const learner = withFuzzyLearning(bayes, fuzzy, () => true, (err) => assert.fail(err));
  await learner.learn(message(CAMPAIGN), 'spam', 'autolearn');
  assert.equal(await matches(fuzzy, nearCopy(1)), false, 'autolearn is no report');
  await learner.learn(message(CAMPAIGN), 'spam', 'junk_folder');
  assert.equal(await matches(fuzzy, nearCopy(2)), true);
  await learner.learn(message(nearCopy(3)), 'ham', 'manual');
  assert.equal(await matches(fuzzy, nearCopy(4)), false);
  assert.deepEqual(bayes.seen, ['spam/autolearn', 'spam/junk_folder', 'ham/manual']);
  // Bayes off: the fuzzy store alone learns
  const alone = withFuzzyLearning(undefined, fuzzy, () => true, (err) => assert.fail(err));
  assert.equal(await alone.learn(message(CAMPAIGN), 'spam', 'junk_folder'), 'learned');
  assert.equal(await matches(fuzzy, nearCopy(5)), true);
});

test('while the running configuration has the store switched off, reports teach Bayes only', async (t) => {
  const fuzzy = openFuzzy({ config: fuzzySection.parse({}), limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 }, clock: new ManualClock(1_000_000), dataDir: tempDir(t) });
  const bayes = new RecordingLearner();
  let enabled = false;
  const learner = withFuzzyLearning(bayes, fuzzy, () => enabled, (err) => assert.fail(err));
  await learner.learn(message(CAMPAIGN), 'spam', 'junk_folder');
  assert.equal((await fuzzy.stats()).entries, 0, 'switched off: nothing stored');
  assert.deepEqual(bayes.seen, ['spam/junk_folder']);
  enabled = true;
  await learner.learn(message(CAMPAIGN), 'spam', 'junk_folder');
  assert.equal(await matches(fuzzy, nearCopy(1)), true, 'switched on again: stored');
});

test('Bayes off and the store switched off by reload: a report is learned by nothing, and says so', async (t) => {
  const fuzzy = openFuzzy({ config: fuzzySection.parse({}), limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 }, clock: new ManualClock(1_000_000), dataDir: tempDir(t) });
  const learner = withFuzzyLearning(undefined, fuzzy, () => false, (err) => assert.fail(err));
  assert.equal(await learner.learn(message(CAMPAIGN), 'spam', 'junk_folder'), 'unknown');
  assert.equal((await fuzzy.stats()).entries, 0);
});

test('a failing fuzzy store is reported and Bayes still learns', async () => {
  const broken: FuzzyFilter = {
    check: async () => undefined,
    addSpam: async () => Promise.reject(new Error('store down')),
    remove: async () => Promise.reject(new Error('store down')),
    stats: async () => ({ entries: 0 }),
    close: async () => undefined,
  };
  const bayes = new RecordingLearner();
  const errors: string[] = [];
  const learner = withFuzzyLearning(bayes, broken, () => true, (err) => errors.push(err.message));
  assert.equal(await learner.learn(message(CAMPAIGN), 'spam', 'junk_folder'), 'learned');
  assert.deepEqual(errors, ['store down']);
  assert.deepEqual(bayes.seen, ['spam/junk_folder']);
});

test('reported near-copies of a digest already stored add no entries of their own (each would be read by every look-up of the campaign)', async (t) => {
  const fuzzy = openFuzzy({ config: fuzzySection.parse({}), limits: { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 }, clock: new ManualClock(1_000_000), dataDir: tempDir(t) });
  await fuzzy.addSpam(message(CAMPAIGN));
  // other greetings in letters (numbers are dropped before digesting): 40 distinct near-copies
  const name = (i: number): string => String.fromCharCode(97 + (i % 26), 97 + Math.floor(i / 26) % 26, 107);
  for (let i = 1; i <= 40; i++) await fuzzy.addSpam(message(nearCopy(i).replace('Hello', `Hello ${name(i)}`)));
  assert.equal((await fuzzy.stats()).entries, 1);
  assert.equal(await matches(fuzzy, nearCopy(77)), true);
  // a report of a text not yet covered still adds
  await fuzzy.addSpam(message(UNRELATED));
  assert.equal((await fuzzy.stats()).entries, 2);
  await fuzzy.close();
});
