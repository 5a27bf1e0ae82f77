// Two processes writing one Maildir folder at once (a second spamgate on the same mail root; Dovecot's LDA would be
// the same): every file keeps one UID of its own, the uid list ascends, the next UID is above them all, the UID an
// APPEND or COPY answered is the one stored, and a fresh store (a restart) sees each message once under that UID.
// RFC 3501 §2.3.1.1: UIDs strictly ascending, never reused within one UIDVALIDITY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';
import { checkFolder, runTogether, startWriter } from '../../helpers/maildir-writers.ts';

const U = 'dana@example.org';

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sg-two-writers-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', Buffer.from('Subject: seed-0\r\n\r\nfirst\r\n'));
  return root;
}

test('two processes appending to one folder at once: distinct, ascending UIDs, as answered', { timeout: 120_000 }, async (t) => {
  const root = await tempRoot(t);
  const [a, b] = await runTogether([startWriter(root, U, 'INBOX', 'a', 150, 'append'), startWriter(root, U, 'INBOX', 'b', 150, 'append')]);
  await checkFolder(root, U, 'INBOX', { 'seed-0': 1, ...a, ...b });
});

test('appends, COPYs and a third process re-reading the folder: distinct UIDs, as answered', { timeout: 120_000 }, async (t) => {
  const root = await tempRoot(t);
  const [a, b] = await runTogether([
    startWriter(root, U, 'INBOX', 'a', 100, 'append'),
    startWriter(root, U, 'INBOX', 'c', 100, 'copy'),
    startWriter(root, U, 'INBOX', 'r', 4000, 'read'),
  ]);
  await checkFolder(root, U, 'INBOX', { 'seed-0': 1, ...a, ...b });
});

test('UIDs are handed out under the lock: what another writer listed meanwhile is kept, and a file it numbered keeps its UID', { timeout: 30_000 }, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.list(U, 'INBOX');
  const md = store.maildirOf(U);
  const before = new Set(await readdir(join(md, 'new')));
  // Another program holds dovecot-uidlist.lock (a live process on this host) while our append is on its way.
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  t.after(() => void holder.kill('SIGKILL'));
  await writeFile(join(md, 'dovecot-uidlist.lock'), `${holder.pid}:${hostname()}`);
  const appended = store.append(U, 'INBOX', Buffer.from('Subject: ours\r\n\r\nx\r\n'));
  let ours: string | undefined;
  for (let i = 0; i < 500 && ours === undefined; i++) {
    ours = (await readdir(join(md, 'new'))).find((f) => !before.has(f)); // in place, waiting for its UID
    if (ours === undefined) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(ours, 'our file is placed before the lock is taken');
  // Meanwhile the other writer (as Dovecot's sync would) numbers our file and delivers one of its own.
  const theirs = '1700000000.M1P1.other.host,S=22,W=22';
  await writeFile(join(md, 'new', theirs), 'Subject: theirs\r\n\r\nx\r\n');
  await appendFile(join(md, 'dovecot-uidlist'), `4 :${ours}\n5 :${theirs}\n`);
  await unlink(join(md, 'dovecot-uidlist.lock'));
  assert.equal((await appended).uid, 4, 'the UID the other writer gave our file');
  const next = await store.append(U, 'INBOX', Buffer.from('Subject: after\r\n\r\nx\r\n'));
  assert.equal(next.uid, 6, 'above every UID in the list');
  await store.settle();
  const answered = { 'seed-0': 1, ours: 4, theirs: 5, after: 6 };
  await checkFolder(root, U, 'INBOX', answered);
});

test('a folder snapshot is not used once the uid list changed in place (same inode and size): no stale next UID', async (t) => {
  const root = await tempRoot(t);
  const a = createMaildirStore({ root, fsync: false });
  await a.append(U, 'INBOX', Buffer.from('Subject: two\r\n\r\nx\r\n'));
  await a.settle(); // writes spamgate.index
  const md = a.maildirOf(U);
  const uidlist = join(md, 'dovecot-uidlist');
  await writeFile(uidlist, (await readFile(uidlist, 'latin1')).replace(/ N\d\n/, ' N9\n'), 'latin1'); // same length
  const b = createMaildirStore({ root, fsync: false });
  assert.equal((await b.status(U, 'INBOX')).uidNext, 9);
  assert.equal((await b.append(U, 'INBOX', Buffer.from('Subject: three\r\n\r\nx\r\n'))).uid, 9);
  await b.settle();
});

test('an APPEND that gets no UID (the uid list cannot be written) leaves no file behind (RFC 3501 §6.3.11)', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.list(U, 'INBOX');
  const md = store.maildirOf(U);
  const files = async (): Promise<string[]> => [...(await readdir(join(md, 'new'))), ...(await readdir(join(md, 'cur')))].sort();
  const before = await files();
  const uidlist = join(md, 'dovecot-uidlist');
  const saved = await readFile(uidlist);
  await rm(uidlist);
  await mkdir(uidlist); // not a file: opening it for the append fails
  await assert.rejects(store.append(U, 'INBOX', Buffer.from('Subject: lost\r\n\r\nx\r\n')));
  assert.deepEqual(await files(), before);
  await rm(uidlist, { recursive: true });
  await writeFile(uidlist, saved);
  const fresh = createMaildirStore({ root, fsync: false });
  assert.equal((await fresh.append(U, 'INBOX', Buffer.from('Subject: kept\r\n\r\nx\r\n'))).uid, 2);
  await fresh.settle();
  await store.settle().catch(() => undefined);
});

test('reading a folder while another process holds the uid list lock is not held up: files still unnumbered wait for it', { timeout: 60_000 }, async (t) => {
  const root = await tempRoot(t);
  const loaded = createMaildirStore({ root, fsync: false });
  await loaded.list(U, 'INBOX');
  const md = loaded.maildirOf(U);
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 50000)'], { stdio: 'ignore' });
  t.after(() => void holder.kill('SIGKILL'));
  await writeFile(join(md, 'dovecot-uidlist.lock'), `${holder.pid}:${hostname()}`);
  // a file another program put in place and has not numbered yet (an MDA that keeps no uid list, or one mid-delivery)
  const dropped = '1700000001.M1P1.mda.host,S=22,W=22';
  await writeFile(join(md, 'new', dropped), 'Subject: dropped\r\n\r\nx\r\n');
  const fresh = createMaildirStore({ root, fsync: false }); // a POP3 login after a restart: first open
  for (const [who, store] of [['first open', fresh], ['loaded', loaded]] as const) {
    const started = Date.now();
    const msgs = await store.list(U, 'INBOX');
    assert.ok(Date.now() - started < 5000, `${who}: the listing waited ${Date.now() - started} ms for the lock`);
    assert.deepEqual(msgs.map((m) => m.uid), [1], `${who}: the numbered message is there, the unnumbered one not yet`);
  }
  await unlink(join(md, 'dovecot-uidlist.lock'));
  for (const store of [fresh, loaded]) assert.deepEqual((await store.list(U, 'INBOX')).map((m) => m.uid), [1, 2], 'numbered once the lock is free');
  await fresh.settle();
  await loaded.settle();
  await checkFolder(root, U, 'INBOX', { 'seed-0': 1, dropped: 2 });
});

test('an EXPUNGE while another process holds the uid list lock removes the messages at once; their lines go later', { timeout: 60_000 }, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.append(U, 'INBOX', Buffer.from('Subject: two\r\n\r\nx\r\n'));
  const md = store.maildirOf(U);
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 50000)'], { stdio: 'ignore' });
  t.after(() => void holder.kill('SIGKILL'));
  await writeFile(join(md, 'dovecot-uidlist.lock'), `${holder.pid}:${hostname()}`);
  const started = Date.now();
  await store.expunge(U, 'INBOX', [1]);
  assert.ok(Date.now() - started < 5000, `EXPUNGE waited ${Date.now() - started} ms for the lock`);
  assert.deepEqual((await store.list(U, 'INBOX')).map((m) => m.uid), [2]);
  await unlink(join(md, 'dovecot-uidlist.lock'));
  assert.deepEqual((await store.list(U, 'INBOX')).map((m) => m.uid), [2]);
  await store.settle();
  await checkFolder(root, U, 'INBOX', { two: 2 });
});

test('a uid list cut short by a person while the folder is open is made whole again: the messages keep their UIDs across a restart', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  for (const s of ['two', 'three']) await store.append(U, 'INBOX', Buffer.from(`Subject: ${s}\r\n\r\nx\r\n`));
  await store.list(U, 'INBOX');
  const uidlist = join(store.maildirOf(U), 'dovecot-uidlist');
  const text = await readFile(uidlist, 'utf8');
  await writeFile(uidlist, text.slice(0, text.indexOf('\n') + 1)); // the header alone
  // the next change makes the store look again (a new delivery)
  assert.equal((await store.append(U, 'INBOX', Buffer.from('Subject: four\r\n\r\nx\r\n'))).uid, 4);
  assert.deepEqual((await store.list(U, 'INBOX')).map((m) => m.uid), [1, 2, 3, 4]);
  await store.settle();
  await checkFolder(root, U, 'INBOX', { 'seed-0': 1, two: 2, three: 3, four: 4 });
});
