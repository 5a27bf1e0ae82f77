// What a first open leaves for later: INTERNALDATE read on demand (cache, else mtime) and kept, SELECT in one step
// (open), header fields narrowed for a search, the folder cache's lines kept as text, the snapshot's unknown dates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'dave@example.org';

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-lazy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A Maildir another program filled: two files, no dovecot-uidlist, no spamgate files; mtimes set as delivery dates. */
async function foreignMaildir(root: string): Promise<string> {
  const seed = createMaildirStore({ root, fsync: false });
  await seed.ensureUser(U);
  const md = seed.maildirOf(U);
  const files: [string, string, number][] = [
    ['new', '1700000001.M1P1.h,S=40,W=41', Date.UTC(2021, 5, 1)],
    ['cur', '1700000002.M2P1.h,S=40,W=41:2,S', Date.UTC(2021, 5, 2)],
  ];
  for (const [sub, name, date] of files) {
    await writeFile(join(md, sub, name), 'Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\nFrom: a@b\n\nhi\n');
    await utimes(join(md, sub, name), date / 1000, date / 1000);
  }
  return md;
}

test('a first open reads no dates; list() reads them from the files and the cache keeps them', async (t) => {
  const root = await tempRoot(t);
  const md = await foreignMaildir(root);
  const store = createMaildirStore({ root, fsync: false });
  const quick = await store.list(U, 'INBOX', { dates: false });
  assert.deepEqual(quick.map((m) => [m.uid, m.size, m.flags]), [[1, 41, []], [2, 41, ['\\Seen']]]);
  assert.ok(quick.every((m) => Number.isNaN(m.internalDate)), 'not read on the SELECT path');
  const full = await store.list(U, 'INBOX');
  assert.deepEqual(full.map((m) => m.internalDate), [Date.UTC(2021, 5, 1), Date.UTC(2021, 5, 2)]);
  assert.equal(quick[0]?.internalDate, Date.UTC(2021, 5, 1), 'metas handed out gain their date');
  assert.match(await readFile(join(md, 'spamgate.cache'), 'utf8'), /1700000002\.M2P1\.h,S=40,W=41",1622592000000/);
  const again = createMaildirStore({ root, fsync: false });
  assert.equal((await again.meta(U, 'INBOX', 2))?.internalDate, Date.UTC(2021, 5, 2));
  await Promise.all([store.settle(), again.settle()]);
});

test('a snapshot keeps unknown dates unknown; COPY reads the date it needs', async (t) => {
  const root = await tempRoot(t);
  await foreignMaildir(root);
  const a = createMaildirStore({ root, fsync: false });
  await a.list(U, 'INBOX', { dates: false });
  await a.settle(); // writes spamgate.index with the dates still unknown
  assert.match(await readFile(join(a.maildirOf(U), 'spamgate.index'), 'utf8'), /"dates":\[null,null\]/);
  const b = createMaildirStore({ root, fsync: false });
  assert.ok((await b.list(U, 'INBOX', { dates: false })).every((m) => Number.isNaN(m.internalDate)));
  const copied = await b.copy(U, 'INBOX', [2], 'Trash');
  assert.equal((await b.meta(U, 'Trash', copied.uids[0] ?? 0))?.internalDate, Date.UTC(2021, 5, 2));
  await Promise.all([a.settle(), b.settle()]);
});

test('open claims \\Recent first (SELECT) or only reports it (EXAMINE)', async (t) => {
  const root = await tempRoot(t);
  await foreignMaildir(root);
  const store = createMaildirStore({ root, fsync: false });
  const examined = await store.open(U, 'INBOX', { claimRecent: false });
  assert.deepEqual([examined.recent, examined.uidNext], [[1], 3]);
  const selected = await store.open(U, 'INBOX', { claimRecent: true });
  assert.deepEqual(selected.recent, [1]);
  assert.equal(selected.messages[0]?.recent, false, 'the list already carries the claim');
  assert.deepEqual((await store.open(U, 'INBOX', { claimRecent: true })).recent, []);
  assert.equal(selected.uidValidity, examined.uidValidity);
  await store.settle();
});

test('header fields narrowed to one field, and messages without the searched text ruled out unparsed', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const mail = (subject: string): Buffer => Buffer.from(`From: "Q \\"x\\"" <q@x>\r\nSubject: ${subject}\r\nTo: t@x\r\n\r\nbody\r\n`);
  const uids: number[] = [];
  for (const s of ['Quarterly report', 'lunch', '=?utf-8?q?Quarterly?=', 'say "report"']) uids.push((await store.append(U, 'INBOX', mail(s))).uid);
  const reopened = createMaildirStore({ root, fsync: false }); // fields come from spamgate.cache lines
  const only = await reopened.headerFields?.(U, 'INBOX', uids, { only: 'subject' });
  assert.deepEqual(only?.map((f) => f?.map((x) => x[1])), [['Quarterly report'], ['lunch'], ['=?utf-8?q?Quarterly?='], ['say "report"']]);
  const from = await reopened.headerFields?.(U, 'INBOX', uids.slice(0, 1), { only: 'from' });
  assert.deepEqual(from?.[0], [['from', '"Q \\"x\\"" <q@x>']], 'an escaped value is parsed');
  const hits = await reopened.headerFields?.(U, 'INBOX', uids, { only: 'subject', mentions: 'QUARTERLY' });
  assert.deepEqual(hits?.map((f) => f?.length), [1, 0, 1, 0], 'the encoded word stays: it might decode to the text');
  // Entries recorded since the file was read (one with 8-bit text), and a second search with other text.
  for (const s of ['quarterly numbers', 'tea', 'Grüße']) uids.push((await reopened.append(U, 'INBOX', mail(s))).uid);
  const later = await reopened.headerFields?.(U, 'INBOX', uids, { only: 'subject', mentions: 'quarterly' });
  assert.deepEqual(later?.map((f) => f?.length), [1, 0, 1, 0, 1, 0, 1]);
  const lunch = await reopened.headerFields?.(U, 'INBOX', uids, { mentions: 'LUNCH' });
  assert.deepEqual(lunch?.map((f) => f?.length ?? 0), [0, 3, 3, 0, 0, 0, 3]);
  await reopened.settle();
  const third = createMaildirStore({ root, fsync: false }); // now the file itself holds 8-bit text
  const again = await third.headerFields?.(U, 'INBOX', uids, { mentions: 'LUNCH' });
  assert.deepEqual(again?.map((f) => f?.length ?? 0), [0, 3, 3, 0, 0, 0, 3]);
  await third.settle();
  assert.deepEqual(await reopened.headerFields?.(U, 'INBOX', [999]), [undefined]);
  await Promise.all([store.settle(), reopened.settle()]);
});

test('a line appended after a torn last line of the cache is not lost', async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', Buffer.from('Subject: one\r\n\r\nx\r\n'));
  await store.settle();
  const cacheFile = join(store.maildirOf(U), 'spamgate.cache');
  await appendFile(cacheFile, '["1700000000.torn.host",17');
  const b = createMaildirStore({ root, fsync: false });
  await b.headerFields?.(U, 'INBOX', [1]); // reads the cache
  await b.append(U, 'INBOX', Buffer.from('Subject: two\r\n\r\ny\r\n'));
  await b.settle();
  const parses = (line: string): boolean => {
    try {
      return Array.isArray(JSON.parse(line));
    } catch {
      return false;
    }
  };
  const lines = (await readFile(cacheFile, 'utf8')).split('\n');
  assert.ok(lines.some((l) => l.includes('"subject","two"') && parses(l)), 'the new entry is a line of its own');
});
