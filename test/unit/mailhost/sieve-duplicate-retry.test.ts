// RFC 7352 §3: the duplicate test finds ids of earlier messages. A retry of the same delivery (an alias whose other
// member failed for a while, a redirect that could not be queued, a crash before the queue marked it done) is no
// earlier message: its run must not take the ids its own first attempt recorded as a duplicate of itself.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createSieveFiltering } from '../../../src/mailhost/sieve-delivery.ts';
import { createSieveDuplicateStore } from '../../../src/mailhost/sieve-duplicates.ts';
import { createSieveScripts, writeSieveScript } from '../../../src/mailhost/sieve-scripts.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const USER = 'alice@corp.example';
const RAW = Buffer.from('From: a@remote.example\r\nMessage-ID: <m1@remote.example>\r\nSubject: Report\r\n\r\nbody\r\n');

test('a retried delivery does not see itself as a duplicate; another message with the id does', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-sieve-dup-retry-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeSieveScript(dir, USER, 'require ["duplicate", "fileinto"];\nif duplicate { fileinto "Dups"; }\n');
  let now = 1_000_000;
  const filtering = createSieveFiltering(createSieveScripts(dir), createRegistry(false), silentLogger, {
    store: { mailboxNames: () => Promise.resolve([]) },
    duplicates: createSieveDuplicateStore(dir, false),
    subaddressDelimiter: () => '+',
    hostname: () => 'mx.corp.example',
    now: () => now,
  });
  const plan = (queueId: string) => filtering.plan({ user: USER, mailFrom: 'a@remote.example', recipient: USER, raw: RAW, queueId });
  const first = await plan('q1');
  assert.deepEqual(first.copies, [{ flags: [] }]);
  await filtering.delivered(USER, 'q1', first);
  now += 60_000;
  assert.deepEqual((await plan('q1')).copies, [{ flags: [] }], 'the same delivery, retried: the same plan (no second copy in Dups)');
  assert.deepEqual((await plan('q2')).copies, [{ folder: 'Dups', flags: [] }], 'another message with the same Message-ID is a duplicate');
});

test('with :last, a later message that renews an id does not make it its own: its retry still sees the earlier one', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-sieve-dup-last-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = createSieveDuplicateStore(dir, false);
  const rec = { handle: '', id: '<m1@remote.example>', seconds: 3600, last: true };
  await store.record(USER, [rec], 0, 'q1');
  assert.equal((await store.load(USER, 'q2')).seen('', rec.id, 3600, 1000), true, 'the second message is a duplicate');
  await store.record(USER, [rec], 1000, 'q2');
  assert.equal((await store.load(USER, 'q2')).seen('', rec.id, 3600, 2000), true, 'and stays one when its delivery is retried');
  assert.equal((await store.load(USER, 'q1')).seen('', rec.id, 3600, 2000), false, 'the first one, retried, is still no duplicate of itself');
  assert.equal((await store.load(USER, 'q3')).seen('', rec.id, 3600, 1000 + 3599_000), true, 'the period started again at the second');
});
