// Store background work and caches: \Recent claimed once across store instances (RFC 3501 §2.3.2) without renaming,
// the idle-time new/ → cur/ mover, the lazily parsed folder cache, racy stamps re-checked off the command path, spamgate.index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MailboxChange } from '../../../src/store/mailbox-store.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'bob@example.org';
const msg = (n: number): Buffer => Buffer.from(`Subject: Recent ${n}\r\nFrom: "Ann" <ann@example.net>\r\n\r\nbody ${n}\r\n`);

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-recent-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a message is claimed as recent by exactly one of two stores on the same Maildir', async (t) => {
  const root = await tempRoot(t);
  const a = createMaildirStore({ root, fsync: false });
  await a.ensureUser(U);
  const uids: number[] = [];
  for (let i = 0; i < 3; i++) uids.push((await a.append(U, 'INBOX', msg(i))).uid);
  const b = createMaildirStore({ root, fsync: false }); // another process: loads the folder from disk
  assert.deepEqual((await b.list(U, 'INBOX')).map((m) => m.recent), [true, true, true]);
  assert.deepEqual(await a.claimRecent(U, 'INBOX'), uids);
  assert.deepEqual(await b.claimRecent(U, 'INBOX'), [], 'b saw them as recent but a claimed them first');
  const next = await b.append(U, 'INBOX', msg(9));
  assert.deepEqual(await b.claimRecent(U, 'INBOX'), [next.uid]);
  assert.deepEqual(await a.claimRecent(U, 'INBOX'), []);
  const c = createMaildirStore({ root, fsync: false });
  assert.deepEqual((await c.list(U, 'INBOX')).filter((m) => m.recent), [], 'a restart does not make claimed mail recent again');
});

test('a large backlog stays in new/ until the folder is idle; settle() moves it, UIDs and flags unchanged', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  for (let i = 0; i < 40; i++) await store.append(U, 'INBOX', msg(i));
  const before = await store.list(U, 'INBOX');
  assert.equal((await store.claimRecent(U, 'INBOX')).length, 40);
  const md = store.maildirOf(U);
  assert.equal((await readdir(join(md, 'new'))).length, 40, 'nothing renamed on the command path');
  await store.settle();
  assert.equal((await readdir(join(md, 'new'))).length, 0);
  assert.equal((await readdir(join(md, 'cur'))).length, 40);
  const after = await store.list(U, 'INBOX');
  assert.deepEqual(after.map((m) => [m.uid, m.flags.length, m.recent]), before.map((m) => [m.uid, 0, false]));
  const reopened = createMaildirStore({ root, fsync: false });
  assert.deepEqual((await reopened.list(U, 'INBOX')).map((m) => m.uid), before.map((m) => m.uid));
  assert.equal((await reopened.read(U, 'INBOX', before[5]?.uid ?? 0)).toString(), msg(5).toString());
});

test('the folder cache survives a torn last line; fields are parsed on first use', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const { uid } = await store.append(U, 'INBOX', msg(1), { internalDate: Date.UTC(2020, 0, 2) });
  await store.settle();
  await appendFile(join(store.maildirOf(U), 'spamgate.cache'), '["1700000000.torn.host",17000');
  const reopened = createMaildirStore({ root, fsync: false });
  const meta = (await reopened.list(U, 'INBOX'))[0];
  assert.equal(meta?.internalDate, Date.UTC(2020, 0, 2));
  const fields = await reopened.headerFields?.(U, 'INBOX', [uid]);
  assert.deepEqual(fields?.[0]?.find((f) => f[0] === 'subject'), ['subject', 'Recent 1']);
});

test('a file dropped in within the racy window is found by the background re-scan and announced', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', msg(1));
  const seen: MailboxChange[] = [];
  t.after(store.watch(U, 'INBOX', (c) => seen.push(c)));
  await store.list(U, 'INBOX'); // trusts a racy stamp and queues one re-scan
  await writeFile(join(store.maildirOf(U), 'new', '1700000001.external.host'), 'Subject: x\n\nhi\n');
  await store.settle();
  assert.equal((await store.list(U, 'INBOX')).length, 2);
  assert.ok(seen.some((c) => c.kind === 'append'));
  assert.match(await readFile(join(store.maildirOf(U), 'dovecot-uidlist'), 'utf8'), /1700000001\.external\.host/);
});

test('a fresh store opens from spamgate.index while the stamps match, and re-scans once they do not', async (t) => {
  const root = await tempRoot(t);
  const a = createMaildirStore({ root, fsync: false });
  await a.ensureUser(U);
  await a.append(U, 'INBOX', msg(1));
  await a.append(U, 'INBOX', msg(2), { flags: ['\\Seen', 'Work'] });
  await a.settle(); // the background re-scan confirms the state and writes the snapshot
  const md = a.maildirOf(U);
  assert.match(await readFile(join(md, 'spamgate.index'), 'latin1'), /^SGINDEX2 /);
  const row = (m: { uid: number; size: number; internalDate: number; flags: readonly string[] }): unknown[] => [m.uid, m.size, m.internalDate, [...m.flags].sort().join(' ')];
  const expected = (await a.list(U, 'INBOX')).map(row);
  // Proof that the snapshot, not a scan, is used: an in-place edit of the uid list that keeps its inode, size and
  // mtime (set back to the nanosecond by touch -r) goes unseen.
  const uidlist = join(md, 'dovecot-uidlist');
  const original = await readFile(uidlist, 'latin1');
  const times = join(root, 'uidlist-times');
  await writeFile(times, '');
  execFileSync('touch', ['-r', uidlist, times]);
  await writeFile(uidlist, original.replace(/^1 :/m, '7 :'), 'latin1');
  execFileSync('touch', ['-r', times, uidlist]);
  const b = createMaildirStore({ root, fsync: false });
  const opened = await b.list(U, 'INBOX');
  assert.deepEqual(opened.map(row), expected);
  assert.equal(opened[0]?.recent, true, 'still in new/ and unclaimed: recent');
  await writeFile(uidlist, original, 'latin1');
  assert.ok((await b.headerFields?.(U, 'INBOX', [1]))?.[0]?.length, 'the cache is read on first need');
  await writeFile(join(md, 'new', '1700000002.other.host'), 'Subject: y\n\nyo\n'); // new/ changes: the snapshot no longer matches
  const c = createMaildirStore({ root, fsync: false });
  assert.deepEqual((await c.list(U, 'INBOX')).map((m) => m.uid), [1, 2, 3]);
  await writeFile(join(md, 'spamgate.index'), 'SGINDEX2 garbage\n');
  const d = createMaildirStore({ root, fsync: false });
  assert.deepEqual((await d.list(U, 'INBOX')).map((m) => m.uid), [1, 2, 3], 'a foreign or torn snapshot is ignored');
  for (const s of [b, c, d]) await s.settle();
});
