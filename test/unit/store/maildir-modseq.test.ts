// Mod-sequences of the Maildir store (RFC 7162 §3.1) with two stores on one Maildir, as two processes would be:
// every change gets a value above all before it whoever made it, both agree on each message's, and UNCHANGEDSINCE
// sees the other's changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'alice@example.org';
const msg = (s: string): Buffer => Buffer.from(`Subject: ${s}\r\n\r\nx\r\n`);

async function root(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-modseq-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('two stores on one Maildir hand out rising mod-sequences and agree on each message', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  const b = createMaildirStore({ root: dir, fsync: false });
  t.after(async () => {
    await a.settle();
    await b.settle();
  });
  await a.ensureUser(U);
  const seen: number[] = [(await a.status(U, 'INBOX')).highestModseq ?? 0];
  const step = async (label: string, fn: () => Promise<unknown>, who: typeof a): Promise<void> => {
    await fn();
    const h = (await who.status(U, 'INBOX')).highestModseq ?? 0;
    assert.ok(h > (seen[seen.length - 1] as number), `${label}: ${h} after ${seen.join(',')}`);
    seen.push(h);
  };
  await step('append in A', () => a.append(U, 'INBOX', msg('one')), a);
  await step('append in B', () => b.append(U, 'INBOX', msg('two')), b);
  await step('flags in A', () => a.updateFlags(U, 'INBOX', 2, { add: ['\\Seen'] }), a);
  await step('flags in B', () => b.updateFlags(U, 'INBOX', 1, { add: ['\\Flagged'] }), b);
  await step('expunge in A', () => a.expunge(U, 'INBOX', [1]), a);
  const inA = (await a.list(U, 'INBOX')).map((m) => [m.uid, m.modseq]);
  const inB = (await b.list(U, 'INBOX')).map((m) => [m.uid, m.modseq]);
  assert.deepEqual(inA, inB);
  assert.equal((await b.status(U, 'INBOX')).highestModseq, seen[seen.length - 1]);
  // UNCHANGEDSINCE in B sees the change A made after B last looked
  const m2 = inA[0]?.[1] as number;
  await a.updateFlags(U, 'INBOX', 2, { add: ['$Work'] });
  assert.deepEqual(await b.storeFlags(U, 'INBOX', [2], { add: ['\\Answered'] }, { unchangedSince: m2 }), [{ kind: 'modified' }]);
  const now = (await b.status(U, 'INBOX')).highestModseq as number;
  const [done] = await b.storeFlags(U, 'INBOX', [2, 7], { add: ['\\Answered'] }, { unchangedSince: now });
  assert.ok(done?.kind === 'done' && done.changed && (done.modseq ?? 0) > now);
});

test('one STORE over more messages than a lock batch: every message changed, each batch under its own rising mod-sequence', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  t.after(() => a.settle());
  await a.ensureUser(U);
  await Promise.all(Array.from({ length: 300 }, (_, i) => a.append(U, 'INBOX', msg(`m${i}`))));
  const before = (await a.status(U, 'INBOX')).highestModseq as number;
  const uids = (await a.list(U, 'INBOX')).map((m) => m.uid);
  const res = await a.storeFlags(U, 'INBOX', [...uids, 9999], { add: ['\\Seen'] });
  assert.equal(res.length, 301);
  assert.deepEqual(res[300], { kind: 'gone' });
  const values = res.slice(0, 300).map((r) => (r.kind === 'done' && r.changed ? r.modseq : -1));
  assert.ok(values.every((v) => v !== undefined && v > before), 'all changed, above what was before');
  assert.equal(new Set(values).size, 2, 'two batches, two values');
  assert.equal((await a.status(U, 'INBOX')).highestModseq, Math.max(...(values as number[])));
  assert.ok((await a.list(U, 'INBOX')).every((m) => m.flags.includes('\\Seen')));
});

test('a log that is missing, torn or foreign is rebuilt, and HIGHESTMODSEQ does not go down in a running store', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  t.after(() => a.settle());
  await a.ensureUser(U);
  await a.append(U, 'INBOX', msg('one'));
  await a.append(U, 'INBOX', msg('two'));
  const log = join(a.maildirOf(U), 'spamgate-modseq');
  const before = (await a.status(U, 'INBOX')).highestModseq as number;
  await writeFile(log, 'garbage\n12 x :S\n1 99999999999999999 :S');
  await a.updateFlags(U, 'INBOX', 1, { add: ['\\Seen'] });
  const after = (await a.status(U, 'INBOX')).highestModseq as number;
  assert.ok(after > before);
  assert.match(await readFile(log, 'utf8'), /^SGMODSEQ1 V\d+ H\d+ E\d+\n/, 'rewritten with a header');
  const fresh = createMaildirStore({ root: dir, fsync: false });
  t.after(() => fresh.settle());
  assert.equal((await fresh.status(U, 'INBOX')).highestModseq, after);
  assert.deepEqual((await fresh.list(U, 'INBOX')).map((m) => m.modseq), (await a.list(U, 'INBOX')).map((m) => m.modseq));
});

test('a log deleted while no process runs: the rebuilt one starts above every value clients saw, each message counted as changed', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  await a.ensureUser(U);
  for (const s of ['one', 'two', 'three']) await a.append(U, 'INBOX', msg(s));
  for (let i = 0; i < 5; i++) await a.updateFlags(U, 'INBOX', 1, i % 2 ? { remove: ['\\Flagged'] } : { add: ['\\Flagged'] });
  const seen = (await a.status(U, 'INBOX')).highestModseq as number;
  await a.settle();
  await rm(join(a.maildirOf(U), 'spamgate-modseq'));
  const fresh = createMaildirStore({ root: dir, fsync: false });
  t.after(() => fresh.settle());
  const now = (await fresh.status(U, 'INBOX')).highestModseq as number;
  assert.ok(now > seen, `HIGHESTMODSEQ ${now} after the rebuild, ${seen} before`);
  const modseqs = (await fresh.list(U, 'INBOX')).map((m) => m.modseq);
  assert.equal(modseqs.length, 3);
  assert.ok(modseqs.every((m) => (m ?? 0) > seen), `every message changed since ${seen}: ${modseqs.join(' ')}`);
});

test('expunge history: the UIDs expunged since a mod-sequence, seen by another process, kept over a rewrite; older states get none', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  t.after(() => a.settle());
  await a.ensureUser(U);
  for (let i = 1; i <= 6; i++) await a.append(U, 'INBOX', msg(`m${i}`));
  const h0 = (await a.status(U, 'INBOX')).highestModseq as number;
  await a.expunge(U, 'INBOX', [2]);
  const h1 = (await a.status(U, 'INBOX')).highestModseq as number;
  await a.expunge(U, 'INBOX', [4, 5]);
  assert.deepEqual(await a.expungedSince?.(U, 'INBOX', h0), [2, 4, 5]);
  assert.deepEqual(await a.expungedSince?.(U, 'INBOX', h1), [4, 5]);
  assert.equal(await a.expungedSince?.(U, 'INBOX', h0 - 100), undefined, 'before the log began: no history');
  // another process reads the same history from the log
  const b = createMaildirStore({ root: dir, fsync: false });
  t.after(() => b.settle());
  assert.deepEqual(await b.expungedSince?.(U, 'INBOX', h1), [4, 5]);
  const opened = await b.open(U, 'INBOX', { claimRecent: false, expungedSince: h1 });
  assert.deepEqual(opened.vanished, [4, 5]);
  // a rewrite (the log made anew, as after a torn line) keeps the history and says where it starts
  const log = join(a.maildirOf(U), 'spamgate-modseq');
  await writeFile(log, `${await readFile(log, 'utf8')}3 12`);
  await a.updateFlags(U, 'INBOX', 1, { add: ['\\Seen'] });
  const text = await readFile(log, 'utf8');
  assert.match(text, /^SGMODSEQ1 V\d+ H\d+ E\d+\n/);
  assert.match(text, /^4 \d+ -$/m);
  const c = createMaildirStore({ root: dir, fsync: false });
  t.after(() => c.settle());
  assert.deepEqual(await c.expungedSince?.(U, 'INBOX', h1), [4, 5]);
});

test('a log from before the expunge history (no E in its header): history from its H on', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  t.after(() => a.settle());
  await a.ensureUser(U);
  for (let i = 1; i <= 3; i++) await a.append(U, 'INBOX', msg(`m${i}`));
  const log = join(a.maildirOf(U), 'spamgate-modseq');
  const text = await readFile(log, 'utf8');
  const head = /^SGMODSEQ1 V(\d+) H(\d+)/.exec(text);
  assert.ok(head?.[1] && head[2]);
  const lines = text.split('\n').slice(1).join('\n');
  await writeFile(log, `SGMODSEQ1 V${head[1]} H${head[2]}\n${lines}`);
  const b = createMaildirStore({ root: dir, fsync: false });
  t.after(() => b.settle());
  const h = (await b.status(U, 'INBOX')).highestModseq as number;
  await b.expunge(U, 'INBOX', [3]);
  assert.deepEqual(await b.expungedSince?.(U, 'INBOX', h), [3]);
  assert.equal(await b.expungedSince?.(U, 'INBOX', Number(head[2]) - 1), undefined);
});

test('a log of another UIDVALIDITY (a foreign file put in place) vouches for no expunge history until it is rebuilt', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  t.after(() => a.settle());
  await a.ensureUser(U);
  for (let i = 1; i <= 4; i++) await a.append(U, 'INBOX', msg(`m${i}`));
  const h0 = (await a.status(U, 'INBOX')).highestModseq as number;
  await a.expunge(U, 'INBOX', [2]);
  assert.deepEqual(await a.expungedSince?.(U, 'INBOX', h0), [2]);
  const { uidValidity } = await a.status(U, 'INBOX');
  // another folder's log copied over this one: its lines name other messages, its E says nothing about ours
  await writeFile(join(a.maildirOf(U), 'spamgate-modseq'), `SGMODSEQ1 V${uidValidity + 1} H${h0 + 50} E${h0 - 10}\n9 ${h0 + 40} -\n`);
  const told = await a.expungedSince?.(U, 'INBOX', h0);
  assert.ok(told === undefined || told.includes(2), `UID 2, expunged after ${h0}, is not omitted: ${JSON.stringify(told)}`);
  const opened = await a.open(U, 'INBOX', { claimRecent: false, expungedSince: h0 });
  assert.ok(opened.vanished === undefined || opened.vanished.includes(2), JSON.stringify(opened.vanished));
  // a header without H (torn or foreign) vouches for nothing either
  await writeFile(join(a.maildirOf(U), 'spamgate-modseq'), `SGMODSEQ1 V${uidValidity}\n`);
  const bare = await a.expungedSince?.(U, 'INBOX', h0);
  assert.ok(bare === undefined || bare.includes(2), JSON.stringify(bare));
});

test('HIGHESTMODSEQ stays below the expunge of a message the listing still shows (another process expunged it after the scan)', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  t.after(() => a.settle());
  await a.ensureUser(U);
  for (let i = 1; i <= 3; i++) await a.append(U, 'INBOX', msg(`m${i}`));
  const h0 = (await a.status(U, 'INBOX')).highestModseq as number;
  const box = a.maildirOf(U);
  // another process's expunge of UID 2: its log line lands after this store's scan, its unlink shows later
  await writeFile(join(box, 'spamgate-modseq'), `${await readFile(join(box, 'spamgate-modseq'), 'utf8')}2 ${h0 + 1} -\n`);
  const first = await a.open(U, 'INBOX', { claimRecent: false, expungedSince: h0 });
  assert.ok(first.messages.some((m) => m.uid === 2), 'UID 2 still listed');
  const told = first.highestModseq as number;
  // the file goes; a client that kept the HIGHESTMODSEQ told with UID 2 listed comes back with it
  const { readdir, unlink } = await import('node:fs/promises');
  for (const sub of ['new', 'cur'])
    for (const f of await readdir(join(box, sub))) if ((await readFile(join(box, sub, f), 'latin1')).includes('Subject: m2\r\n')) await unlink(join(box, sub, f));
  const again = await a.open(U, 'INBOX', { claimRecent: false, expungedSince: told });
  assert.ok(!again.messages.some((m) => m.uid === 2));
  assert.ok(again.vanished === undefined || again.vanished.includes(2), `UID 2 told as vanished since ${told}: ${JSON.stringify(again.vanished)}`);
});

test('a log deleted under a running store, then a message removed by another program: states told before the rebuild get no history, even with the clock stepped back', async (t) => {
  const dir = await root(t);
  const a = createMaildirStore({ root: dir, fsync: false });
  t.after(() => a.settle());
  await a.ensureUser(U);
  for (let i = 1; i <= 3; i++) await a.append(U, 'INBOX', msg(`m${i}`));
  const told = (await a.status(U, 'INBOX')).highestModseq as number;
  const box = a.maildirOf(U);
  const { readdir, unlink } = await import('node:fs/promises');
  await unlink(join(box, 'spamgate-modseq'));
  for (const sub of ['new', 'cur'])
    for (const f of await readdir(join(box, sub))) if ((await readFile(join(box, sub, f), 'latin1')).includes('Subject: m2\r\n')) await unlink(join(box, sub, f));
  // the clock an hour back (an NTP step): the rebuilt log's floor is below the values told
  const now = Date.now;
  Date.now = () => now() - 3_600_000;
  try {
    await a.status(U, 'INBOX');
  } finally {
    Date.now = now;
  }
  const opened = await a.open(U, 'INBOX', { claimRecent: false, expungedSince: told });
  assert.ok(!opened.messages.some((m) => m.uid === 2));
  assert.ok(opened.vanished === undefined || opened.vanished.includes(2), `UID 2 not left out: ${JSON.stringify(opened.vanished)}`);
});
