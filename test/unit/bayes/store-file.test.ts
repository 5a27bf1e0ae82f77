// The in-process store's file: a crafted header cannot make it unreadable, a malformed token line is skipped,
// malformed totals are an error, and a failed background save neither ends the process nor loses learning;
// and the learning commands' progress bar.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { progressBar } from '../../../src/bayes/cli-support.ts';
import { MemoryTokenStore } from '../../../src/bayes/memory-store.ts';
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
  const store = new MemoryTokenStore({ file: path.join(blocker, 'tokens.gz'), saveDelayMs: 0, onSaveError: (err) => errors.push(err) });
  await store.update({ tokens: ['viagra'], cls: 'spam', delta: 1, digest: 'd1' });
  for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(errors.length, 1, 'reported, and the process is still here');
  await assert.rejects(store.flush(), 'flush() says it cannot save there (the caller decides)');
  // the cause goes away: the next save writes what was learned before the failure
  rmSync(blocker);
  await store.flush();
  assert.deepEqual(readModelFile(path.join(blocker, 'tokens.gz')).tokens.get('viagra'), { spam: 1, ham: 0 });
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
