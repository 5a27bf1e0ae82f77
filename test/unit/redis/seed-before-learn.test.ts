// A shared Bayes store found empty (Redis flushed, or restarted without persistence) is seeded from the shipped
// model before the first message is learned into it: otherwise that learn made it look seeded for good.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { openBayes, seedSharedStore, SHIPPED_MODEL_FILE } from '../../../src/bayes/open-bayes.ts';
import { readModelFile } from '../../../src/bayes/model-file.ts';
import { SHIPPED_MODELS_DIR } from '../../../src/config/load.ts';
import { bayesSection } from '../../../src/config/sections/filter.ts';
import { RedisTokenStore } from '../../../src/redis/token-store.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { linkTo, startRedis } from './redis-server.ts';

test('a learn into an empty shared store seeds it from the shipped model first; a seeded store is not seeded again', async (t) => {
  const redis = await startRedis(t);
  const store = new RedisTokenStore(await linkTo(t, redis));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-seed-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = bayesSection.parse({});
  let seedings = 0;
  const bayes = openBayes({
    dataDir,
    modelsDir: SHIPPED_MODELS_DIR,
    config,
    store,
    reseed: async () => {
      seedings++;
      await seedSharedStore(store, SHIPPED_MODELS_DIR, config, silentLogger);
    },
  });
  const model = readModelFile(path.join(SHIPPED_MODELS_DIR, SHIPPED_MODEL_FILE));
  assert.equal(await store.isEmpty(), true);
  assert.equal(await bayes.learner.learn(Buffer.from('Subject: cheap pills\r\n\r\nbuy cheap pills today\r\n'), 'spam', 'autolearn'), 'learned');
  assert.deepEqual(await store.totals(), { spam: model.totals.spam + 1, ham: model.totals.ham }, 'the seed, then the message');
  assert.equal(await bayes.learner.learn(Buffer.from('Subject: notes\r\n\r\nmeeting notes for today\r\n'), 'ham', 'manual'), 'learned');
  assert.deepEqual(await store.totals(), { spam: model.totals.spam + 1, ham: model.totals.ham + 1 }, 'seeded once');
  assert.equal(seedings, 2, 'asked before each write; the second found the store seeded');
});
