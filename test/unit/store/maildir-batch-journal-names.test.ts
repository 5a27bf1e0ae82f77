// Journals of two MULTIAPPEND writers with the same pid (two containers on one Maildir volume are both pid 1, two
// hosts on NFS) must not share a name: the second's atomic write replaced the first's journal, and its removal at its
// own commit point took the first's away too, which left the first batch shown before its commit point and beyond
// roll-back if that writer then died. A fresh process (this file) so the journal counter starts at 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'alice@example.org';
const message = (n: number): Buffer => Buffer.from(`Subject: m ${n}\r\nFrom: a@b.example\r\n\r\nbody ${n}\r\n`);

test("a batch of this process's pid on another host keeps its journal while this process commits one", { timeout: 60_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-journal-names-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.list(U, 'INBOX');
  const md = store.maildirOf(U);
  // the other host's writer (same pid as ours) has renamed in half its batch: its journal is recent, so it is live
  const theirKey = `1700000000.M1P${process.pid}Q1.otherhost,S=10,W=10`;
  await writeFile(join(md, 'new', theirKey), message(9));
  const journal = `spamgate-batch 1\nowner ${process.pid} other-host.example \n${theirKey}\n`;
  const names: string[] = [];
  for (let n = 1; n <= 5; n++) {
    names.push(`spamgate-batch.${process.pid}.${n}`);
    await writeFile(join(md, `spamgate-batch.${process.pid}.${n}`), journal);
  }
  const res = await store.appendAll?.(U, 'INBOX', [{ raw: message(1) }, { raw: message(2) }]);
  assert.equal(res?.uids.length, 2);
  const left = (await readdir(md)).filter((n) => n.startsWith('spamgate-batch')).sort();
  assert.deepEqual(left, names.sort(), 'the other host’s journals are all there');
  for (const n of names) assert.equal(await readFile(join(md, n), 'utf8'), journal, 'and untouched');
  const subjects: string[] = [];
  for (const m of await store.list(U, 'INBOX')) subjects.push(/^Subject: (.*)$/m.exec((await store.read(U, 'INBOX', m.uid)).toString())?.[1] ?? '?');
  assert.deepEqual(subjects.sort(), ['m 1', 'm 2'], 'its batch is not shown before its commit point');
  await store.settle();
});

test('a live batch of a writer in another pid namespace with our host name and pid is not rolled back', { timeout: 60_000 }, async (t) => {
  // two containers on one volume with one host name (host networking): both may be pid 1, and neither can ask after
  // the other's pids; taking the other's batch back while it commits loses messages its client is told are stored
  const root = await mkdtemp(join(tmpdir(), 'sg-journal-ns-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const md = store.maildirOf(U);
  const key = `1700000000.M1P${process.pid}Q1.samehost,S=10,W=10`;
  await writeFile(join(md, 'new', key), message(7));
  await writeFile(join(md, `spamgate-batch.${process.pid}.1.beef`), `spamgate-batch 1\nowner ${process.pid} ${hostname()} 0/1 pid:[1]\n${key}\n`);
  const fresh = createMaildirStore({ root, fsync: false });
  assert.deepEqual(await fresh.list(U, 'INBOX'), [], 'not shown before its commit point');
  assert.ok((await readdir(join(md, 'new'))).includes(key), 'nor taken back while its writer may be committing it');
  await rm(join(md, `spamgate-batch.${process.pid}.1.beef`));
  assert.equal((await fresh.list(U, 'INBOX')).length, 1, 'and shown once committed');
  await store.settle();
  await fresh.settle();
});
