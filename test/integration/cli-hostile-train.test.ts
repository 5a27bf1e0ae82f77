// `spamgate train` and `forget` as real processes under hostile conditions: two trains on one store at once,
// a reader that goes away, a message given as both spam and ham.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { assertNoStack, cli, CLI, tempDir, type Run } from '../helpers/cli-hostile.ts';

/** A temp directory with a data directory and a config whose Bayes store starts empty (no shipped model). */
function emptyBayesDirs(t: TestContext): { dir: string; data: string; config: string } {
  const dir = tempDir(t);
  const data = path.join(dir, 'data');
  const config = path.join(dir, 'spamgate.yaml');
  writeFileSync(config, 'bayes:\n  use_shipped_model: false\n');
  return { dir, data, config };
}

test('two trains at once on one data directory: the second is refused, nothing learned is lost', async (t) => {
  const { dir, data, config } = emptyBayesDirs(t);
  const corpus = (cls: string, n: number): string => {
    const d = path.join(dir, cls);
    mkdirSync(d);
    for (let i = 0; i < n; i++) writeFileSync(path.join(d, `${i}.eml`), `From: ${cls}${i}@x.example\nSubject: ${cls} ${i}\nMessage-ID: <${cls}${i}@x>\n\n${cls} words number ${i} token${i}\n`);
    return d;
  };
  const spam = corpus('spam', 3000);
  const ham = corpus('ham', 3000);
  // each alone takes well over a second: the two overlap
  const [a, b] = await Promise.all([cli(['train', '--spam', spam, '--config', config, '--data-dir', data]), cli(['train', '--ham', ham, '--config', config, '--data-dir', data])]);
  const learned = { spam: 0, ham: 0 };
  for (const [cls, r] of [['spam', a], ['ham', b]] as const) {
    assertNoStack(r);
    if (r.code === 0) learned[cls] = 3000;
    else {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^spamgate train: the Bayes store in .* is in use by process \d+ \(another spamgate train or forget/);
    }
  }
  assert.ok(learned.spam + learned.ham > 0);
  // the store holds exactly what the successful runs said they learned
  const again = await cli(['train', '--spam', spam, '--ham', ham, '--config', config, '--data-dir', data]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^learned ${6000 - learned.spam - learned.ham}, relearned 0, already known ${learned.spam + learned.ham} `));
});

test('forget whose reader has gone (| head) still forgets every message and saves the store', async (t) => {
  const { dir, data, config } = emptyBayesDirs(t);
  const spam = path.join(dir, 'spam');
  mkdirSync(spam);
  for (let i = 0; i < 50; i++) writeFileSync(path.join(spam, `${i}.eml`), `From: s${i}@x.example\nSubject: offer ${i}\n\nwin money ${i}\n`);
  assert.equal((await cli(['train', '--spam', spam, '--config', config, '--data-dir', data])).code, 0);
  // the reading end is closed before the command writes its first line: every write gets EPIPE
  const gone = await new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'forget', spam, '--config', config, '--data-dir', data], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: '', stderr }));
  });
  assert.equal(gone.code, 0, gone.stderr);
  assertNoStack(gone);
  const after = await cli(['forget', spam, '--config', config, '--data-dir', data]);
  assert.match(after.stdout, /forgotten 0, not learned 50; store now 0 spam \/ 0 ham\n$/);
});

test('train refuses a message given as both spam and ham (the same path, or a file inside the other\'s directory): exit 2, nothing learned', async (t) => {
  const { dir, data, config } = emptyBayesDirs(t);
  const corpus = path.join(dir, 'corpus');
  mkdirSync(path.join(corpus, '.Junk', 'cur'), { recursive: true });
  writeFileSync(path.join(corpus, 'a.eml'), 'From: a@x.example\nSubject: a\n\nwords\n');
  writeFileSync(path.join(corpus, '.Junk', 'cur', 'b.eml'), 'From: b@x.example\nSubject: b\n\nother words\n');
  const same = await cli(['train', '--spam', corpus, '--ham', corpus, '--config', config, '--data-dir', data]);
  assertNoStack(same);
  assert.equal(same.code, 2, same.stderr);
  assert.equal(same.stderr, `spamgate train: ${corpus} is given as both --spam and --ham\n`);
  const inside = await cli(['train', '--spam', path.join(corpus, 'a.eml'), '--ham', `${corpus}/`, '--config', config, '--data-dir', data]);
  assert.equal(inside.code, 2, inside.stderr);
  assert.match(inside.stderr, /^spamgate train: .*a\.eml is under both --spam .*a\.eml and --ham .*corpus\/\n$/);
  assert.equal(same.stdout + inside.stdout, '');
  // a Maildir++ subfolder is not walked from its parent: Junk as spam and the rest as ham do not overlap
  const apart = await cli(['train', '--spam', path.join(corpus, '.Junk'), '--ham', corpus, '--config', config, '--data-dir', data]);
  assert.equal(apart.code, 0, apart.stderr);
  assert.match(apart.stdout, /^learned 2, .*store now 1 spam \/ 1 ham\n$/);
});