// Cold scan of a Maildir another program filled: dovecot-uidlist parsing (fast path, extension lines, duplicates),
// UID order when the list is not sorted, flags and sizes from file names, the cache file's quick and full lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUidList } from '../../../src/store/maildir-files.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'carol@example.org';

test('parseUidList: plain lines, extension fields, old format, torn and duplicate lines', () => {
  const list = parseUidList('3 V42 N7 Gabc\n1 :a.host,S=3:2,S\n2 G1 W5 :b.host\n3 c.host\n2 :b2.host\nbad line\n 4 :x\n5 :\n6 :d.host');
  assert.ok(list);
  assert.equal(list.uidValidity, 42);
  assert.equal(list.nextUid, 7);
  assert.deepEqual(list.uids.map((u, i) => [u, list.keys[i]]), [[1, 'a.host,S=3'], [2, 'b2.host'], [3, 'c.host'], [5, ''], [6, 'd.host']]);
  assert.equal(parseUidList('1 V1 N1\n1 :a\n'), undefined);
  assert.equal(parseUidList('3 V9 N2\n10 :z\n')?.nextUid, 11);
});

test('a cold open adopts the uid list in UID order, keeps unknown files after it by name, parses flags and sizes', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-scan-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const seed = createMaildirStore({ root, fsync: false });
  await seed.ensureUser(U);
  const md = seed.maildirOf(U);
  const files: [string, string][] = [
    ['cur', '1700000001.M1P1.h,S=10,W=12:2,FS'],
    ['new', '1700000002.M2P1.h,S=20,W=22'],
    ['cur', '1700000003.M3P1.h,W=30:2,T'],
    ['new', '1700000005.M5P1.h,W=50'],
    ['new', '1700000004.M4P1.h,W=40'],
  ];
  for (const [sub, name] of files) await writeFile(join(md, sub, name), 'x');
  // Not in UID order; the second file is listed twice (its later UID wins).
  await writeFile(join(md, 'dovecot-uidlist'), '3 V77 N20\n9 :1700000003.M3P1.h,W=30\n4 :1700000001.M1P1.h,S=10,W=12\n5 :1700000002.M2P1.h,S=20,W=22\n12 :1700000002.M2P1.h,S=20,W=22\n');
  await mkdir(join(md, 'tmp'), { recursive: true });
  const cache = ['SGCACHE2', '["1700000001.M1P1.h,S=10,W=12",1000]', '["1700000002.M2P1.h,S=20,W=22",2000,[["subject","two"]]]', '["torn'].join('\n');
  await writeFile(join(md, 'spamgate.cache'), cache);
  const store = createMaildirStore({ root, fsync: false });
  const list = await store.list(U, 'INBOX');
  assert.deepEqual(
    list.map((m) => [m.uid, m.size, m.flags, m.recent]),
    [
      [4, 12, ['\\Flagged', '\\Seen'], false],
      [9, 30, ['\\Deleted'], false],
      [12, 22, [], true],
      [20, 40, [], true],
      [21, 50, [], true],
    ],
  );
  assert.deepEqual([list[0]?.internalDate, list[2]?.internalDate], [1000, 2000]);
  const st = await store.status(U, 'INBOX');
  assert.equal(st.uidValidity, 77);
  assert.equal(st.uidNext, 22);
  const fields = await store.headerFields?.(U, 'INBOX', [12]);
  assert.deepEqual(fields?.[0], [['subject', 'two']]);
});

test('info strings other programs wrote: unnamed keyword letters survive a flag change; stray characters are dropped', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-scan-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const cur = join(store.maildirOf(U), 'cur');
  const body = 'Subject: planted\r\n\r\nhi\r\n';
  await writeFile(join(cur, '101.b.host:2,abcz'), body); // keyword letters, no dovecot-keywords
  await writeFile(join(cur, '107.i.host:2,S:2,F'), body); // a second ":2," appended by some tool
  await writeFile(join(cur, '108.j.host:2,SX'), body); // a flag letter of another program
  const metas = await store.list(U, 'INBOX');
  assert.equal(metas.length, 3);
  for (const m of metas) await store.updateFlags(U, 'INBOX', m.uid, { add: ['\\Flagged'] });
  assert.deepEqual((await readdir(cur)).sort(), ['101.b.host:2,Fabcz', '107.i.host:2,FS', '108.j.host:2,FSX']);
  const flags = (await store.list(U, 'INBOX')).map((m) => [...m.flags].sort().join(' '));
  assert.deepEqual(flags, ['\\Flagged', '\\Flagged \\Seen', '\\Flagged \\Seen']);
});

test('an SGCACHE1 cache file (lines without References) is read as lost: References come from the message, trimmed, and the file is rewritten', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-scan-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const seed = createMaildirStore({ root, fsync: false });
  await seed.ensureUser(U);
  const md = seed.maildirOf(U);
  const refs = Array.from({ length: 40 }, (_, i) => `<r${i}@x>`);
  const name = '1700000001.M1P1.h,W=90';
  await writeFile(join(md, 'cur', `${name}:2,S`), `Subject: old\r\nReferences: ${refs.slice(0, 20).join('\r\n ')}\r\n ${refs.slice(20).join(' ')}\r\n\r\nhi\r\n`);
  await writeFile(join(md, 'dovecot-uidlist'), `3 V5 N2\n1 :${name}\n`);
  await mkdir(join(md, 'tmp'), { recursive: true });
  await writeFile(join(md, 'spamgate.cache'), `SGCACHE1\n["${name}",1000,[["subject","stale"]]]\n`);
  const store = createMaildirStore({ root, fsync: false });
  const [fields] = (await store.headerFields?.(U, 'INBOX', [1])) ?? [];
  assert.deepEqual(fields, [
    ['subject', 'old'],
    ['references', [refs[0], ...refs.slice(25)].join(' ')],
  ]);
  await store.list(U, 'INBOX');
  const again = createMaildirStore({ root, fsync: false });
  assert.deepEqual((await again.headerFields?.(U, 'INBOX', [1]))?.[0], fields);
  const text = await readFile(join(md, 'spamgate.cache'), 'utf8');
  assert.ok(text.startsWith('SGCACHE2\n'), text.slice(0, 40));
});
