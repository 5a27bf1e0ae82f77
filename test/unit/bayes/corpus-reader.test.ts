// The corpus reader: mbox files streamed message by message (splitting, ">From " unquoting, lines across
// read boundaries, oversize messages skipped without losing the rest), single files over the limit, Maildirs
// (their messages only) and directory trees with links back up.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { listCorpusFiles, readCorpus } from '../../../src/bayes/corpus.ts';
import { readMbox } from '../../../src/bayes/mbox-reader.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-corpus-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const MBOX = [
  'From alice@example.org Thu Jan  1 00:00:00 2024\n',
  'Subject: one\n\nfirst body\nFrom inside a paragraph stays\n>From quoted once\n>>From quoted twice\n\n',
  'From bob@example.org Thu Jan  1 00:00:01 2024\r\n',
  'Subject: two\r\n\r\nsecond body\r\n\r\n',
  'From carol@example.org Thu Jan  1 00:00:02 2024\n',
  'Subject: three\n\nthird body without a final newline',
].join('');

const EXPECTED = [
  'Subject: one\n\nfirst body\nFrom inside a paragraph stays\nFrom quoted once\n>From quoted twice\n\n',
  'Subject: two\r\n\r\nsecond body\r\n\r\n',
  'Subject: three\n\nthird body without a final newline',
];

test('an mbox splits at separator lines only, unquotes one ">" level, at every read size', (t) => {
  const file = path.join(tempDir(t), 'box.mbox');
  writeFileSync(file, MBOX);
  for (const chunk of [16, 17, 23, 64, 1 << 20]) {
    const got = [...readMbox(file, 1 << 20, chunk)].map((m) => m.raw?.toString('latin1'));
    assert.deepEqual(got, EXPECTED, `read size ${chunk}`);
  }
});

test('a message over the limit is reported and skipped; the messages after it still come', (t) => {
  const file = path.join(tempDir(t), 'box.mbox');
  const big = 'x'.repeat(300) + '\n';
  writeFileSync(file, `From a\nSubject: small\n\nok\n\nFrom b\nSubject: big\n\n${big.repeat(10)}\nFrom c\nSubject: after\n\nstill read\n`);
  for (const chunk of [16, 100, 4096]) {
    const items = [...readMbox(file, 1000, chunk)];
    assert.equal(items.length, 3, `read size ${chunk}`);
    assert.equal(items[0]?.raw?.toString(), 'Subject: small\n\nok\n\n');
    assert.match(items[1]?.error ?? '', /over the 1000-byte limit/);
    assert.equal(items[2]?.raw?.toString(), 'Subject: after\n\nstill read\n');
  }
  // one line longer than the limit (no newline for 5000 bytes) does not grow the reader's buffer
  const longLine = path.join(path.dirname(file), 'long.mbox');
  writeFileSync(longLine, `From a\nSubject: long\n\n${'y'.repeat(5000)}\n\nFrom b\nSubject: fine\n\nbody\n`);
  const items = [...readMbox(longLine, 1000, 64)];
  assert.deepEqual(items.map((m) => (m.error ? 'error' : m.raw?.toString())), ['error', 'Subject: fine\n\nbody\n']);
});

test('readCorpus: mbox ids by position, one-message "From " files keep their path, big files are refused', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'a.mbox'), MBOX);
  writeFileSync(path.join(dir, 'b.eml'), 'From single@example.org Thu Jan  1 00:00:00 2024\nSubject: alone\n\nbody\n');
  writeFileSync(path.join(dir, 'c.eml'), `Subject: huge\n\n${'z'.repeat(2000)}\n`);
  writeFileSync(path.join(dir, 'd.eml'), 'Subject: plain\n\nbody\n');
  const items = [...readCorpus([dir], 1000)];
  assert.deepEqual(
    items.map((m) => [path.basename(m.id), m.error === undefined ? m.raw.toString().split('\n')[0] : m.error]),
    [
      ['a.mbox#1', 'Subject: one'],
      ['a.mbox#2', 'Subject: two\r'],
      ['a.mbox#3', 'Subject: three'],
      ['b.eml', 'Subject: alone'],
      ['c.eml', '2016 bytes, over the 1000-byte limit, skipped'],
      ['d.eml', 'Subject: plain'],
    ],
  );
});

test('a Maildir gives the messages in cur/ and new/, not its index, uid list or tmp/; its subfolders stay apart', (t) => {
  const dir = tempDir(t);
  const maildir = path.join(dir, 'Maildir');
  for (const sub of ['cur', 'new', 'tmp', '.Junk/cur', '.Junk/new', '.Junk/tmp']) mkdirSync(path.join(maildir, sub), { recursive: true });
  writeFileSync(path.join(maildir, 'cur', '1700000000.M1P1Q1.host,S=20:2,S'), 'Subject: read\n\nbody\n');
  writeFileSync(path.join(maildir, 'new', '1700000001.M2P1Q2.host,S=20'), 'Subject: new\n\nbody\n');
  writeFileSync(path.join(maildir, 'tmp', '1700000002.M3P1Q3.host'), 'Subject: half writ');
  // what spamgate's own store (and Dovecot, Courier) keep beside the messages
  for (const f of ['dovecot-uidlist', 'dovecot-keywords', 'spamgate.index', 'spamgate.cache', 'spamgate-recent', 'subscriptions']) writeFileSync(path.join(maildir, f), '3 V1700000000 N4\n1 1700000000.M1P1Q1.host\n');
  writeFileSync(path.join(maildir, '.Junk', 'maildirfolder'), '');
  writeFileSync(path.join(maildir, '.Junk', 'cur', '1700000003.M4P1Q4.host,S=20:2,S'), 'Subject: junk\n\nbody\n');
  assert.deepEqual(
    listCorpusFiles(maildir).map((f) => path.relative(maildir, f)),
    ['cur/1700000000.M1P1Q1.host,S=20:2,S', 'new/1700000001.M2P1Q2.host,S=20'],
  );
  assert.deepEqual(
    listCorpusFiles(path.join(maildir, '.Junk')).map((f) => path.relative(maildir, f)),
    ['.Junk/cur/1700000003.M4P1Q4.host,S=20:2,S'],
  );
  // a directory of mailboxes: each one's messages
  assert.equal(listCorpusFiles(dir).length, 2);
});

test('a symbolic link back up the tree does not list the same messages again and again', (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'a.eml'), 'Subject: a\n\nbody\n');
  writeFileSync(path.join(dir, 'sub', 'b.eml'), 'Subject: b\n\nbody\n');
  symlinkSync('..', path.join(dir, 'sub', 'up'));
  symlinkSync(path.join(dir, 'sub'), path.join(dir, 'again'));
  const files = listCorpusFiles(dir).map((f) => path.relative(dir, f));
  assert.equal(files.length, 2, files.join(' '));
  assert.deepEqual(new Set(files.map((f) => path.basename(f))), new Set(['a.eml', 'b.eml']));
  assert.deepEqual([...readCorpus([dir])].map((m) => m.error ?? 'ok'), ['ok', 'ok']);
});

test('a pipe (/dev/stdin, a shell\'s <(zcat corpus.mbox.gz)) is read once: a message or an mbox, whole', async (t) => {
  const dir = tempDir(t);
  const cases: [string, string, string[]][] = [
    ['message', 'From: alice@example.org\nSubject: piped\n\nbody\n', ['From: alice@example.org\nSubject: piped\n\nbody\n']],
    ['mbox', MBOX, EXPECTED],
  ];
  for (const [name, text, expected] of cases) {
    const source = path.join(dir, `${name}.txt`);
    writeFileSync(source, text);
    const fifo = path.join(dir, `${name}.fifo`);
    execFileSync('mkfifo', [fifo]);
    // another process writes the pipe, as a shell's process substitution does
    const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', source, fifo], { stdio: 'ignore' });
    const exited = once(writer, 'exit');
    const items = [...readCorpus([fifo])];
    await exited;
    assert.deepEqual(items.map((m) => m.error ?? m.raw.toString('latin1')), expected, name);
  }
});

test('a tree past the listing bounds is reported, not cut short silently', (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'sub'));
  for (const f of ['a.eml', 'b.eml', 'sub/c.eml']) writeFileSync(path.join(dir, f), 'Subject: x\n\nbody\n');
  const problems: { id: string; error: string }[] = [];
  assert.equal(listCorpusFiles(dir, 2, problems).length, 2);
  assert.deepEqual(problems, [{ id: dir, error: 'more than 2 files or 100000 directories: the rest was not read' }]);
  const whole: { id: string; error: string }[] = [];
  assert.equal(listCorpusFiles(dir, 3, whole).length, 3);
  assert.deepEqual(whole, []);
});
