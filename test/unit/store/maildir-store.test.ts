// Maildir store on a temp dir: delivery, UIDs across reopen, flags, expunge, copy, rename with hierarchy, name validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';
import { MailboxError, type MailboxChange } from '../../../src/store/mailbox-store.ts';
import { decodeMutf7, encodeMutf7 } from '../../../src/store/mutf7.ts';

const U = 'alice@example.org';
const msg = (n: number): Buffer => Buffer.from(`Subject: m${n}\r\nFrom: a@b\r\n\r\nbody ${n}\r\n`);

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-maildir-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('ensureUser lays out Maildir++ with default folders and subscriptions', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const md = join(root, 'example.org', 'alice', 'Maildir');
  const entries = (await readdir(md)).sort();
  for (const e of ['.Drafts', '.Junk', '.Sent', '.Trash', 'cur', 'new', 'tmp']) assert.ok(entries.includes(e), e);
  const boxes = await store.listMailboxes(U);
  assert.deepEqual(boxes.map((b) => b.name).sort(), ['Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
  assert.equal(boxes.find((b) => b.name === 'Junk')?.specialUse, '\\Junk');
  assert.ok(boxes.every((b) => b.subscribed));
});

test('append delivers to new/, UIDs and UIDVALIDITY survive reopening the store', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: true });
  await store.ensureUser(U);
  const a = await store.append(U, 'INBOX', msg(1));
  const b = await store.append(U, 'INBOX', msg(2), { flags: ['\\Seen', 'Work'], internalDate: Date.UTC(2020, 0, 2) });
  assert.equal(b.uid, a.uid + 1);
  const md = store.maildirOf(U);
  assert.equal((await readdir(join(md, 'new'))).length, 1);
  const cur = await readdir(join(md, 'cur'));
  assert.match(cur[0] ?? '', /,S=\d+,W=\d+:2,Sa$/);
  assert.match(await readFile(join(md, 'dovecot-keywords'), 'utf8'), /^0 Work$/m);

  const again = createMaildirStore({ root, fsync: false });
  const list = await again.list(U, 'INBOX');
  assert.deepEqual(list.map((m) => m.uid), [a.uid, b.uid]);
  assert.deepEqual([...(list[1]?.flags ?? [])].sort(), ['Work', '\\Seen']);
  assert.equal(list[1]?.internalDate, Date.UTC(2020, 0, 2));
  assert.equal((await again.status(U, 'INBOX')).uidValidity, a.uidValidity);
  assert.deepEqual(await again.read(U, 'INBOX', b.uid), msg(2));
  assert.equal(list[0]?.size, msg(1).length);
});

test('files dropped in by other tools get UIDs; bare LF is served as CRLF', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const first = await store.append(U, 'INBOX', msg(1));
  const seen: MailboxChange[] = [];
  const stop = store.watch(U, 'INBOX', (c) => seen.push(c));
  t.after(stop);
  await writeFile(join(store.maildirOf(U), 'new', '1700000000.external.host'), 'Subject: x\n\nhello\n');
  const list = await store.list(U, 'INBOX');
  assert.equal(list.length, 2);
  assert.equal(list[1]?.uid, first.uid + 1);
  assert.equal(list[1]?.size, 'Subject: x\r\n\r\nhello\r\n'.length);
  assert.equal((await store.read(U, 'INBOX', first.uid + 1)).toString(), 'Subject: x\r\n\r\nhello\r\n');
  assert.deepEqual(seen, [{ kind: 'append', uids: [first.uid + 1] }]);
});

test('flags, recent, expunge and watch notifications', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const { uid } = await store.append(U, 'INBOX', msg(1));
  const { uid: uid2 } = await store.append(U, 'INBOX', msg(2));
  const changes: MailboxChange[] = [];
  t.after(store.watch(U, 'inbox', (c) => changes.push(c)));
  assert.deepEqual(await store.claimRecent(U, 'INBOX'), [uid, uid2]);
  assert.deepEqual(await store.claimRecent(U, 'INBOX'), []);
  assert.equal((await store.list(U, 'INBOX'))[0]?.recent, false);
  await store.setFlags(U, 'INBOX', uid, ['\\Seen', '\\Deleted', '$Label1']);
  assert.deepEqual([...((await store.list(U, 'INBOX'))[0]?.flags ?? [])].sort(), ['$Label1', '\\Deleted', '\\Seen']);
  assert.deepEqual((await readdir(join(store.maildirOf(U), 'new'))), []);
  await store.expunge(U, 'INBOX', [uid]);
  assert.deepEqual((await store.list(U, 'INBOX')).map((m) => m.uid), [uid2]);
  assert.deepEqual(changes.map((c) => c.kind), ['flags', 'expunge']);
  const reopened = createMaildirStore({ root, fsync: false });
  const next = await reopened.append(U, 'INBOX', msg(3));
  assert.equal(next.uid, uid2 + 1, 'expunged UIDs are never reused');
  await assert.rejects(store.setFlags(U, 'INBOX', uid, ['\\Seen']), (e: unknown) => e instanceof MailboxError && e.code === 'NONEXISTENT');
});

test('copy keeps flags and returns target UIDs in source order', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const a = await store.append(U, 'INBOX', msg(1), { flags: ['\\Flagged', 'Important'] });
  const b = await store.append(U, 'INBOX', msg(2));
  const res = await store.copy(U, 'INBOX', [b.uid, a.uid], 'Junk');
  assert.deepEqual(res.uids, [1, 2]);
  const junk = await store.list(U, 'Junk');
  assert.deepEqual([...(junk[1]?.flags ?? [])].sort(), ['Important', '\\Flagged']);
  assert.deepEqual(await store.read(U, 'Junk', 1), msg(2));
  assert.equal((await store.status(U, 'Junk')).messages, 2);
});

test('a copy that fails part way leaves the target as it was: no files, no index entries, no uid list lines', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  // The target knows 25 keywords; the second keyword the copy brings is one too many (26 letters a..z).
  await store.append(U, 'Junk', msg(0), { flags: Array.from({ length: 25 }, (_, i) => `k${i}`) });
  const uids = [(await store.append(U, 'INBOX', msg(1))).uid, (await store.append(U, 'INBOX', msg(2), { flags: ['x1'] })).uid, (await store.append(U, 'INBOX', msg(3), { flags: ['x2'] })).uid];
  const junk = join(store.maildirOf(U), '.Junk');
  const files = async (): Promise<string[]> => [...(await readdir(join(junk, 'new'))), ...(await readdir(join(junk, 'cur')))].sort();
  const [before, listBefore] = [await files(), await readFile(join(junk, 'dovecot-uidlist'), 'utf8')];
  await assert.rejects(store.copy(U, 'INBOX', uids, 'Junk'), (err: unknown) => err instanceof MailboxError && err.code === 'INVALID');
  assert.deepEqual(await files(), before);
  assert.equal(await readFile(join(junk, 'dovecot-uidlist'), 'utf8'), listBefore);
  assert.deepEqual((await store.list(U, 'Junk')).map((m) => m.uid), [1]);
  const fresh = createMaildirStore({ root, fsync: false });
  assert.equal((await fresh.list(U, 'Junk')).length, 1);
});

test('create, rename with hierarchy, subscriptions, delete', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.createMailbox(U, 'Projects/2024/Q1');
  await store.createMailbox(U, 'Ünïcode.dots & more');
  await store.setSubscribed(U, 'Projects/2024', true);
  const { uid } = await store.append(U, 'Projects/2024/Q1', msg(1));
  const validity = (await store.status(U, 'Projects/2024/Q1')).uidValidity;
  const dirs = await readdir(store.maildirOf(U));
  assert.ok(dirs.includes('.Projects.2024.Q1'));
  assert.ok(dirs.includes('.&ANw-n&AO8-code&AC4-dots &- more'), dirs.join(','));
  await store.renameMailbox(U, 'Projects', 'Archive/Old');
  const names = (await store.listMailboxes(U)).map((b) => b.name);
  assert.ok(names.includes('Archive/Old/2024/Q1'));
  assert.ok(names.includes('Ünïcode.dots & more'));
  assert.ok(!names.some((n) => n.startsWith('Projects')));
  assert.deepEqual(await store.read(U, 'Archive/Old/2024/Q1', uid), msg(1));
  assert.equal((await store.status(U, 'Archive/Old/2024/Q1')).uidValidity, validity);
  assert.ok((await store.listSubscriptions(U)).includes('Archive/Old/2024'));
  await assert.rejects(store.deleteMailbox(U, 'Archive/Old'), (e: unknown) => e instanceof MailboxError && e.code === 'HASCHILDREN');
  await assert.rejects(store.deleteMailbox(U, 'INBOX'), (e: unknown) => e instanceof MailboxError && e.code === 'NOPERM');
  await store.deleteMailbox(U, 'Archive/Old/2024/Q1');
  await assert.rejects(store.list(U, 'Archive/Old/2024/Q1'), (e: unknown) => e instanceof MailboxError && e.code === 'NONEXISTENT');
  await store.createMailbox(U, 'Archive/Old/2024/Q1');
  assert.notEqual((await store.status(U, 'Archive/Old/2024/Q1')).uidValidity, validity, 'a re-created name gets a new UIDVALIDITY');
  await assert.rejects(store.createMailbox(U, 'Sent'), (e: unknown) => e instanceof MailboxError && e.code === 'ALREADYEXISTS');
});

test('renaming INBOX moves its messages and leaves it empty', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', msg(1));
  await store.renameMailbox(U, 'INBOX', 'Old');
  assert.equal((await store.list(U, 'INBOX')).length, 0);
  assert.equal((await store.list(U, 'Old')).length, 1);
});

test('names that could escape the root are refused before touching the disk', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  const isInvalid = (e: unknown): boolean => e instanceof MailboxError && e.code === 'INVALID';
  for (const user of ['../etc@example.org', 'a/b@example.org', 'alice@../x', 'alice@exa/mple.org', 'noat', 'a\u0000b@x.org', 'x'.repeat(65) + '@a.org', '@a.org', 'a@'])
    await assert.rejects(store.ensureUser(user), isInvalid, user);
  await store.ensureUser(U);
  for (const box of ['..', 'a/../b', '../x', '/abs', 'a//b', 'tab\there', 'a/', '', 'x'.repeat(600), 'wild*', 'per%'])
    await assert.rejects(store.createMailbox(U, box), isInvalid, JSON.stringify(box));
  assert.deepEqual((await readdir(root)).sort(), ['example.org']);
});

test('a name longer than one directory name allows is refused whole: CREATE leaves no parents, RENAME moves nothing', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  const isInvalid = (e: unknown): boolean => e instanceof MailboxError && e.code === 'INVALID';
  await store.ensureUser(U);
  const md = store.maildirOf(U);
  const before = (await readdir(md)).sort();
  // Every level fits in a directory name; the hierarchy, which Maildir++ keeps in one name (".A.B.C"), does not.
  for (const box of [`${'A'.repeat(200)}/${'B'.repeat(200)}`, Array.from({ length: 12 }, () => 'E'.repeat(30)).join('/'), 'C'.repeat(255), '台'.repeat(100)])
    await assert.rejects(store.createMailbox(U, box), isInvalid, box.slice(0, 40));
  assert.deepEqual((await readdir(md)).sort(), before);
  await store.createMailbox(U, 'D'.repeat(254));
  await store.createMailbox(U, `P/child-${'c'.repeat(60)}`);
  await store.append(U, 'P', msg(1));
  await assert.rejects(store.renameMailbox(U, 'P', 'L'.repeat(200)), isInvalid);
  const names = (await store.listMailboxes(U)).map((b) => b.name);
  assert.ok(names.includes('P') && names.includes(`P/child-${'c'.repeat(60)}`), names.join());
  assert.ok(!names.some((n) => n.startsWith('L')), names.join());
  assert.equal((await store.status(U, 'P')).messages, 1);
});

test('modified UTF-7 round trip (RFC 3501 §5.1.3)', () => {
  assert.equal(encodeMutf7('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  assert.equal(decodeMutf7('~peter/mail/&U,BTFw-/&ZeVnLIqe-'), '~peter/mail/台北/日本語');
  assert.equal(encodeMutf7('A&B'), 'A&-B');
  assert.equal(decodeMutf7('&Jjo!'), undefined);
  assert.equal(decodeMutf7(encodeMutf7('😀 emoji')), '😀 emoji');
});

test('concurrent appends to one folder get distinct UIDs', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const res = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(U, 'INBOX', msg(i))));
  assert.equal(new Set(res.map((r) => r.uid)).size, 50);
  const again = createMaildirStore({ root, fsync: false });
  assert.equal((await again.list(U, 'INBOX')).length, 50);
  assert.equal(await store.usage(U), res.reduce((s, _r, i) => s + msg(i).length, 0));
});

test('updateFlags applies each change to the flags as they are: concurrent changes to one message all stay', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const uids: number[] = [];
  for (let i = 0; i < 20; i++) uids.push((await store.append(U, 'INBOX', msg(i))).uid);
  // two "sessions" at once: one adds \Seen, the other \Flagged and a keyword, a third removes \Draft
  await store.setFlags(U, 'INBOX', uids[0] ?? 0, ['\\Draft']);
  await Promise.all([
    ...uids.map((uid) => store.updateFlags(U, 'INBOX', uid, { add: ['\\Seen'] })),
    ...uids.map((uid) => store.updateFlags(U, 'INBOX', uid, { add: ['\\Flagged', '$Work'] })),
    store.updateFlags(U, 'INBOX', uids[0] ?? 0, { remove: ['\\draft'] }),
  ]);
  for (const m of await store.list(U, 'INBOX')) assert.deepEqual([...m.flags].sort(), ['$Work', '\\Flagged', '\\Seen'], `uid ${m.uid}`);
  assert.deepEqual(await store.updateFlags(U, 'INBOX', uids[1] ?? 0, { replace: ['\\Answered'] }), ['\\Answered']);
  assert.equal(await store.updateFlags(U, 'INBOX', 9999, { add: ['\\Seen'] }), undefined, 'no such message');
  // other sessions hear of real changes only
  const heard: string[] = [];
  t.after(store.watch(U, 'INBOX', (c) => heard.push(c.kind)));
  await store.updateFlags(U, 'INBOX', uids[2] ?? 0, { add: ['\\Seen'] });
  assert.deepEqual(heard, [], 'adding a flag it has changes nothing');
  await store.updateFlags(U, 'INBOX', uids[2] ?? 0, { remove: ['\\Seen'] });
  assert.deepEqual(heard, ['flags']);
});

test('a folder deleted and made again after a restart never gets its old UIDVALIDITY, even when values ran ahead of the clock', async (t) => {
  const root = await tempRoot(t);
  const clock = { now: () => Date.UTC(2026, 0, 1) };
  const first = createMaildirStore({ root, fsync: false, clock });
  await first.ensureUser(U);
  for (let i = 0; i < 5; i++) await first.createMailbox(U, `Box${i}`);
  const old = (await first.status(U, 'Box4')).uidValidity;
  await first.deleteMailbox(U, 'Box4');
  await first.settle();
  // the clock has not moved: a restarted store must still go past every value handed out
  const restarted = createMaildirStore({ root, fsync: false, clock });
  await restarted.createMailbox(U, 'Box4');
  const again = (await restarted.status(U, 'Box4')).uidValidity;
  assert.ok(again > old, `new ${again} after old ${old}`);
});

test('a download-and-delete mailbox does not keep header-cache entries of messages it no longer has', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const cacheLines = async (): Promise<number> => (await readFile(join(store.maildirOf(U), 'spamgate.cache'), 'utf8').catch(() => '')).split('\n').length - 1;
  let most = 0;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 150; i++) await store.append(U, 'INBOX', msg(round * 1000 + i));
    const list = await store.list(U, 'INBOX');
    await store.headerFields?.(U, 'INBOX', list.map((m) => m.uid));
    await store.expunge(U, 'INBOX', list.map((m) => m.uid));
    await store.settle();
    most = Math.max(most, await cacheLines());
  }
  // 900 messages went through; the file is rewritten once most of its lines are of gone messages
  assert.ok(most <= 2 * 150 + 256 + 1, `the cache file reached ${most} lines`);
});

test('status reads its folder only, not the list of every mailbox (LIST-STATUS asks one per mailbox listed)', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  for (let i = 0; i < 20; i++) await store.createMailbox(U, `Box${i}`);
  await store.append(U, 'Box3', msg(1));
  const md = store.maildirOf(U);
  const real = fs.promises.readdir;
  let listings = 0;
  // every readdir of the user's Maildir (where the folders are listed) is counted
  const counting = ((path: fs.PathLike, ...rest: unknown[]) => {
    if (String(path) === md) listings++;
    return (real as (...a: unknown[]) => unknown)(path, ...rest);
  }) as typeof real;
  fs.promises.readdir = counting;
  syncBuiltinESMExports();
  t.after(() => {
    fs.promises.readdir = real;
    syncBuiltinESMExports();
  });
  await store.status(U, 'Box0'); // the folders are loaded once
  listings = 0;
  for (let i = 0; i < 20; i++) await store.status(U, `Box${i}`);
  assert.equal((await store.status(U, 'Box3')).messages, 1);
  assert.equal(listings, 0);
});
