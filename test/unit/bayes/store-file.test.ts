// The in-process store's file: a crafted header cannot make it unreadable, a malformed token line is skipped,
// malformed totals are an error, and a failed background save neither ends the process nor loses learning;
// and the learning commands' progress bar.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { progressBar } from '../../../src/bayes/cli-support.ts';
import { MemoryTokenStore, type ExpiryReport } from '../../../src/bayes/memory-store.ts';
import { emptyModel, parseModel, readModelFile, serializeModel } from '../../../src/bayes/model-file.ts';
import { tokenize } from '../../../src/bayes/tokenizer.ts';
import { parseMail } from '../../../src/mime/parse.ts';

test('a charset that decodes to a line break gives a one-word token; a token with a line break is never written', () => {
  const mail = parseMail(Buffer.from('Subject: x\r\nContent-Type: text/plain; charset==?utf-8?q?x=0Ay?=\r\n\r\nbody words\r\n'));
  const tokens = tokenize(mail);
  assert.ok(tokens.includes('charset:x_y'), tokens.filter((t) => t.startsWith('charset:')).join(','));
  assert.ok(tokens.every((t) => !/[\r\n]/.test(t)));
  const model = emptyModel();
  model.totals = { spam: 1, ham: 0 };
  model.tokens.set('good', { spam: 1, ham: 0 });
  model.tokens.set('bad\ntoken', { spam: 1, ham: 0 });
  const back = parseModel(serializeModel(model));
  assert.deepEqual([...back.tokens.keys()], ['good']);
  assert.equal(back.skipped, undefined);
});

test('reading: a malformed token line is skipped and counted; malformed totals are an error naming the line', () => {
  const file = (lines: string[]): Buffer => gzipSync(lines.join('\n') + '\n');
  const m = parseModel(file(['spamgate-bayes 1', 'totals 3 4', '1 0 fine', 'y', '-1 2 negative', '1 x notanumber', '2 1 also fine']));
  assert.deepEqual([...m.tokens.keys()], ['fine', 'also fine']);
  assert.equal(m.skipped, 3);
  assert.throws(() => parseModel(file(['spamgate-bayes 1', 'totals 5 x']), 'tokens.gz'), /tokens\.gz:2: malformed totals line/);
});

test('a background save that fails is reported and retried; the learning is not lost', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sg-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const blocker = path.join(dir, 'bayes');
  writeFileSync(blocker, 'a file where the store directory should be');
  const errors: unknown[] = [];
  const store = new MemoryTokenStore({ file: path.join(blocker, 'tokens.gz'), saveDelayMs: 0, onSaveError: (err) => errors.push(err), today: () => 20_000 });
  await store.update({ tokens: ['viagra'], cls: 'spam', delta: 1, digest: 'd1' });
  for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(errors.length, 1, 'reported, and the process is still here');
  await assert.rejects(store.flush(), 'flush() says it cannot save there (the caller decides)');
  // the cause goes away: the next save writes what was learned before the failure
  rmSync(blocker);
  await store.flush();
  assert.deepEqual(readModelFile(path.join(blocker, 'tokens.gz')).tokens.get('viagra'), { spam: 1, ham: 0, day: 20_000 });
  await store.close();
});

test('the progress bar redraws at most ten times a second, also past its total (an mbox file holds many messages)', () => {
  const written: string[] = [];
  const out = new Writable({ write: (chunk: Buffer, _enc, cb) => { written.push(chunk.toString()); cb(); } });
  const bar = progressBar(out, true, 1);
  for (let i = 0; i < 3000; i++) bar.tick(`box.mbox#${i}`);
  bar.done();
  assert.ok(written.length <= 5, `${written.length} writes for 3000 ticks in well under a second`);
  assert.match(written[0] ?? '', /\[#+\] 1\/1 /);
  const silent: string[] = [];
  const off = progressBar(new Writable({ write: (c: Buffer, _e, cb) => { silent.push(c.toString()); cb(); } }), false, 10);
  off.tick();
  off.done();
  assert.deepEqual(silent, [], 'nothing when not on a terminal');
});

test('past max_tokens the store forgets the tokens learned longest ago, rarest first on the day the cut falls; past max_digests the oldest digests', async () => {
  let today = 20_000;
  const reports: ExpiryReport[] = [];
  const store = new MemoryTokenStore({ maxTokens: 100, maxDigests: 10, today: () => today, onExpire: (r) => reports.push(r) });
  // day 20000: 40 tokens; t0..t19 in one message, t20..t39 in two
  await store.update({ tokens: range('old', 0, 40), cls: 'ham', delta: 1, digest: 'm0' });
  await store.update({ tokens: range('old', 20, 40), cls: 'ham', delta: 1, digest: 'm1' });
  today = 20_001;
  await store.update({ tokens: range('mid', 0, 40), cls: 'spam', delta: 1, digest: 'm2' });
  // relearning old20..old24 on a later day keeps them
  await store.update({ tokens: range('old', 20, 25), cls: 'spam', delta: 1, digest: 'm3' });
  today = 20_002;
  assert.equal(store.size, 80);
  assert.equal(reports.length, 0);
  // 30 new tokens: 110 > 100, cut to 90 → 20 go: all of the 20 one-message tokens of day 20000 (old0..old19)
  await store.update({ tokens: range('new', 0, 30), cls: 'spam', delta: 1, digest: 'm4' });
  assert.equal(store.size, 90);
  assert.deepEqual(reports, [{ tokensForgotten: 20, oldestDayKept: 20_000, digestsForgotten: 0 }]);
  const has = (t: string): boolean => store.getManySync([t])[0] !== undefined;
  assert.ok(!has('old0') && !has('old19') && has('old20') && has('old39') && has('mid0') && has('new29'));
  // 15 more: 105 → 90, the 15 left of day 20000 go, and old20..old24 (learned on 20001) stay
  await store.update({ tokens: range('more', 0, 15), cls: 'spam', delta: 1, digest: 'm5' });
  assert.equal(store.size, 90);
  assert.ok(!has('old25') && !has('old39') && has('old20') && has('old24') && has('mid39'));
  // digests: 6 so far; 5 more make 11 > 10, the first two learned are forgotten (to 9)
  for (let i = 6; i < 11; i++) await store.update({ tokens: [], cls: 'ham', delta: 1, digest: `m${i}` });
  assert.equal(await store.learnedAs('m0'), undefined);
  assert.equal(await store.learnedAs('m1'), undefined);
  assert.equal(await store.learnedAs('m2'), 'spam');
  assert.equal(reports.at(-1)?.digestsForgotten, 2);
});

test('the store file keeps each token\'s last-learned day; the shipped format (1) and future days read as today', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sg-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tokens.gz');
  let today = 20_000;
  const store = new MemoryTokenStore({ file, saveDelayMs: 0, today: () => today });
  await store.update({ tokens: ['a', 'b'], cls: 'spam', delta: 1, digest: 'd1' });
  today = 20_005;
  await store.update({ tokens: ['b'], cls: 'ham', delta: 1, digest: 'd2' });
  await store.flush();
  const back = readModelFile(file, 20_010);
  assert.deepEqual(back.tokens.get('a'), { spam: 1, ham: 0, day: 20_000 });
  assert.deepEqual(back.tokens.get('b'), { spam: 1, ham: 1, day: 20_005 });
  assert.equal(back.digests.get('d2'), 'ham');
  assert.equal(readModelFile(file, 20_002).tokens.get('b')?.day, 20_002, 'a day past today counts as today');
  const v1 = parseModel(serializeModel(back), '(v1)', 20_010);
  assert.deepEqual(v1.tokens.get('a'), { spam: 1, ham: 0, day: 20_010 });
  await store.close();
});

test('saving a large store leaves the event loop free; changes made during a save are saved by the next one', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sg-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tokens.gz');
  const model = emptyModel();
  for (let i = 0; i < 300_000; i++) model.tokens.set(`token-${i}`, { spam: i % 3, ham: 1 });
  model.totals = { spam: 10, ham: 10 };
  const store = new MemoryTokenStore({ file, saveDelayMs: 0, initial: model });
  await store.update({ tokens: ['first'], cls: 'spam', delta: 1, digest: 'd1' });
  // while the save runs, the event loop keeps turning: count the turns until the file appears
  let turns = 0;
  let learnedDuringSave = false;
  for (let i = 0; i < 2000 && !existsSync(file); i++) {
    turns++;
    if (turns === 3) {
      await store.update({ tokens: ['second'], cls: 'spam', delta: 1, digest: 'd2' });
      learnedDuringSave = true;
    }
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(learnedDuringSave && turns > 3, `the loop turned ${turns} times during the save`);
  await store.flush();
  const back = readModelFile(file);
  assert.equal(back.tokens.size, 300_002);
  assert.deepEqual([back.tokens.get('second')?.spam, back.totals.spam], [1, 12]);
  await store.close();
});

function range(prefix: string, from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);
}
