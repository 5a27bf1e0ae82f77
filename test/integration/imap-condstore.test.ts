// CONDSTORE (RFC 7162 §3.1) over real sockets: HIGHESTMODSEQ rising on APPEND, STORE and EXPUNGE and surviving a
// restart, FETCH CHANGEDSINCE and MODSEQ, STORE UNCHANGEDSINCE with [MODIFIED], SEARCH MODSEQ, a flag change made
// by renaming the Maildir file from outside, ENABLE, and malformed modifiers answered BAD with the session going on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createImapServer } from '../../src/imap/server.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createMaildirStore } from '../../src/store/maildir-store.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { sample, startImap, USERS, type Harness } from './imap-harness.ts';
import { loggedIn, type Raw } from './imap-raw.ts';

const USER = 'alice@example.org';

function highest(text: string): number {
  const m = /\* OK \[HIGHESTMODSEQ (\d+)\]/.exec(text);
  assert.ok(m?.[1], `no HIGHESTMODSEQ in ${text}`);
  return Number(m[1]);
}

async function statusHighest(c: Raw, tag: string): Promise<number> {
  const r = await c.cmd(tag, 'STATUS INBOX (HIGHESTMODSEQ MESSAGES)');
  const m = /\* STATUS INBOX \(HIGHESTMODSEQ (\d+) MESSAGES \d+\)/.exec(r);
  assert.ok(m?.[1], r);
  return Number(m[1]);
}

/** MODSEQ per UID from untagged FETCH responses. */
function modseqs(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of text.matchAll(/\bUID (\d+)[^\r]*?MODSEQ \((\d+)\)/g)) out.set(Number(m[1]), Number(m[2]));
  return out;
}

async function withMessages(t: Parameters<typeof startImap>[0], n: number): Promise<Harness> {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  for (let i = 1; i <= n; i++) await h.store.append(USER, 'INBOX', Buffer.from(sample(`m${i}`)));
  return h;
}

test('CONDSTORE is advertised; HIGHESTMODSEQ rises on APPEND, STORE and EXPUNGE, and FETCH MODSEQ tells each message', async (t) => {
  const h = await withMessages(t, 2);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('a', 'CAPABILITY'), /^\* CAPABILITY .*\bCONDSTORE\b/m);
  const h0 = highest(await c.cmd('b', 'SELECT INBOX (CONDSTORE)'));
  assert.equal(await statusHighest(c, 'b2'), h0);
  const first = modseqs(await c.cmd('c', 'FETCH 1:* (UID MODSEQ)'));
  assert.equal(first.size, 2);
  assert.ok([...first.values()].every((m) => m >= 1 && m <= h0));

  assert.match(await c.send('d', `d APPEND INBOX {${sample('m3').length}+}\r\n${sample('m3')}\r\n`), /^d OK/m);
  const h1 = await statusHighest(c, 'd2');
  assert.ok(h1 > h0, `APPEND: ${h1} > ${h0}`);

  const stored = await c.cmd('e', 'STORE 1 +FLAGS (\\Flagged)');
  const m1 = modseqs(stored).get(1);
  assert.ok(m1 !== undefined && m1 > h1, `the STORE response tells UID and the new MODSEQ: ${stored}`);
  const h2 = await statusHighest(c, 'e2');
  assert.equal(h2, m1);
  assert.equal(modseqs(await c.cmd('e3', 'STORE 1 +FLAGS (\\Flagged)')).get(1), m1, 'a STORE that changes nothing keeps the mod-sequence');
  assert.equal(await statusHighest(c, 'e4'), h2, 'a STORE that changes nothing leaves HIGHESTMODSEQ');

  await c.cmd('f', 'STORE 2 +FLAGS.SILENT (\\Deleted)');
  const h3 = await statusHighest(c, 'f2');
  assert.ok(h3 > h2);
  assert.match(await c.cmd('g', 'EXPUNGE'), /^\* 2 EXPUNGE/m);
  const h4 = await statusHighest(c, 'g2');
  assert.ok(h4 > h3, `EXPUNGE: ${h4} > ${h3}`);
});

test('mod-sequences survive a restart: a fresh store and server on the same Maildir tell the same values', async (t) => {
  const h = await withMessages(t, 3);
  const c = await loggedIn(h, t);
  await c.cmd('a', 'SELECT INBOX (CONDSTORE)');
  await c.cmd('b', 'STORE 2 +FLAGS (\\Seen)');
  await c.cmd('b2', 'STORE 3 +FLAGS (\\Deleted)');
  await c.cmd('b3', 'EXPUNGE');
  const before = await statusHighest(c, 'c');
  const values = modseqs(await c.cmd('d', 'FETCH 1:* (UID MODSEQ)'));
  await c.cmd('e', 'LOGOUT');
  await h.server.close();
  await h.store.settle();

  const store = createMaildirStore({ root: h.root, fsync: false });
  const server = createImapServer({
    store,
    authenticate: async (user, pass) => (USERS[user] === pass ? user : undefined),
    hostname: 'imap.test',
    registry: createRegistry(false),
    log: silentLogger,
    clock: systemClock,
  });
  const addr = await server.listen(0, '127.0.0.1');
  t.after(async () => {
    await server.close();
    await store.settle();
  });
  const again = await loggedIn({ ...h, store, server, port: addr.port }, t);
  assert.equal(highest(await again.cmd('f', 'SELECT INBOX')), before, 'HIGHESTMODSEQ at SELECT, even without (CONDSTORE)');
  assert.deepEqual(modseqs(await again.cmd('g', 'FETCH 1:* (UID MODSEQ)')), values);
  await again.cmd('h', 'STORE 1 +FLAGS (\\Answered)');
  assert.ok((await statusHighest(again, 'i')) > before, 'and go on rising');
});

test('FETCH (CHANGEDSINCE n) returns only the messages changed since, with MODSEQ', async (t) => {
  const h = await withMessages(t, 4);
  const c = await loggedIn(h, t);
  const h0 = highest(await c.cmd('a', 'SELECT INBOX'));
  await c.cmd('b', 'STORE 3 +FLAGS.SILENT (\\Seen)');
  const r = await c.cmd('c', `FETCH 1:* (FLAGS) (CHANGEDSINCE ${h0})`);
  assert.match(r, /^\* 3 FETCH \(FLAGS \(\\Seen(?: \\Recent)?\) MODSEQ \(\d+\)\)\r$/m);
  assert.equal((r.match(/FETCH \(/g) ?? []).length, 1, r);
  const u = await c.cmd('d', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${h0})`);
  assert.match(u, /^\* 3 FETCH \(UID 3 FLAGS \(\\Seen(?: \\Recent)?\) MODSEQ \(\d+\)\)\r$/m);
  assert.equal((u.match(/FETCH \(/g) ?? []).length, 1);
  assert.equal((await c.cmd('e', 'FETCH 1:* (FLAGS) (CHANGEDSINCE 9223372036854775807)')).match(/FETCH \(/g), null, 'the largest value: nothing changed since');
  assert.equal(modseqs(await c.cmd('f', 'FETCH 1:* (UID) (CHANGEDSINCE 1)')).size, 4);
});

test('STORE (UNCHANGEDSINCE n): a message another session changed since is left alone and named in [MODIFIED]', async (t) => {
  const h = await withMessages(t, 3);
  const a = await loggedIn(h, t);
  const b = await loggedIn(h, t);
  const h0 = highest(await a.cmd('a1', 'SELECT INBOX (CONDSTORE)'));
  await b.cmd('b1', 'SELECT INBOX');
  await b.cmd('b2', 'STORE 2 +FLAGS (\\Answered)');
  const r = await a.cmd('a2', `STORE 1:3 (UNCHANGEDSINCE ${h0}) +FLAGS (\\Flagged)`);
  assert.match(r, /^a2 OK \[MODIFIED 2\]/m);
  assert.match(r, /^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged(?: \\Recent)?\) MODSEQ \(\d+\)\)/m);
  assert.match(r, /^\* 3 FETCH \(UID 3 FLAGS \(\\Flagged(?: \\Recent)?\) MODSEQ \(\d+\)\)/m);
  const flags = await a.cmd('a3', 'FETCH 2 (FLAGS)');
  assert.match(flags, /\* 2 FETCH \((?:UID 2 )?FLAGS \(\\Answered(?: \\Recent)?\)/, 'message 2 was not changed');

  const silent = await a.cmd('a4', `UID STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Seen)`);
  assert.match(silent, /^a4 OK \[MODIFIED 1:3\]/m, 'UNCHANGEDSINCE 0 always fails; UID STORE names UIDs');
  const hNow = await statusHighest(a, 'a5');
  const ok = await a.cmd('a6', `UID STORE 1,3 (UNCHANGEDSINCE ${hNow}) +FLAGS.SILENT (\\Seen)`);
  assert.match(ok, /^a6 OK UID STORE completed/m);
  assert.match(ok, /^\* 1 FETCH \(UID 1 MODSEQ \(\d+\)\)\r$/m, 'a silent STORE still tells UID and MODSEQ once CONDSTORE is on');
});

test('SEARCH MODSEQ finds messages changed since, and the result tells the highest of theirs', async (t) => {
  const h = await withMessages(t, 3);
  const c = await loggedIn(h, t);
  const h0 = highest(await c.cmd('a', 'SELECT INBOX'));
  const st = await c.cmd('b', 'STORE 2 +FLAGS (\\Seen)');
  const m2 = modseqs(await c.cmd('b2', 'FETCH 2 (UID MODSEQ)')).get(2);
  assert.ok(m2, st);
  assert.match(await c.cmd('c', `SEARCH MODSEQ ${h0 + 1}`), new RegExp(`^\\* SEARCH 2 \\(MODSEQ ${m2}\\)\\r$`, 'm'));
  assert.match(await c.cmd('d', `UID SEARCH MODSEQ "/flags/\\\\seen" all ${h0 + 1}`), new RegExp(`^\\* SEARCH 2 \\(MODSEQ ${m2}\\)\\r$`, 'm'));
  assert.match(await c.cmd('e', `SEARCH MODSEQ ${m2 + 1}`), /^\* SEARCH\r$/m, 'none: no MODSEQ');
  assert.match(await c.cmd('f', 'SEARCH NOT MODSEQ 0'), /^\* SEARCH\r$/m);
});

test('a flag change made by renaming the Maildir file from outside gets a new mod-sequence, told with MODSEQ', async (t) => {
  const h = await withMessages(t, 2);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('a', 'ENABLE CONDSTORE'), /^\* ENABLED CONDSTORE\r$/m);
  const h0 = highest(await c.cmd('b', 'SELECT INBOX'));
  const before = modseqs(await c.cmd('c', 'FETCH 1:* (UID MODSEQ)'));
  await h.store.settle();
  const md = h.store.maildirOf(USER);
  const [sub, file] = (await readdir(join(md, 'cur'))).length > 0 ? ['cur', (await readdir(join(md, 'cur')))[0] as string] : ['new', (await readdir(join(md, 'new')))[0] as string];
  await rename(join(md, sub, file), join(md, 'cur', `${file.replace(/:2,.*$/, '')}:2,F`)); // as a mail program would
  const r = await c.cmd('d', 'NOOP');
  const m = /^\* (\d+) FETCH \(UID (\d+) FLAGS \(\\Flagged(?: \\Recent)?\) MODSEQ \((\d+)\)\)\r$/m.exec(r);
  assert.ok(m?.[2] && m[3], `the change is told with its MODSEQ: ${r}`);
  assert.ok(Number(m[3]) > h0 && Number(m[3]) > (before.get(Number(m[2])) ?? 0));
  assert.equal(await statusHighest(c, 'e'), Number(m[3]));
  assert.equal((await c.cmd('f', `FETCH 1:* (UID) (CHANGEDSINCE ${h0})`)).match(/FETCH \(/g)?.length, 1);
});

test('a message another program removes from the Maildir raises HIGHESTMODSEQ once the folder is looked at again', async (t) => {
  const h = await withMessages(t, 2);
  const c = await loggedIn(h, t);
  const h0 = highest(await c.cmd('a', 'SELECT INBOX (CONDSTORE)'));
  await h.store.settle();
  const md = h.store.maildirOf(USER);
  const sub = (await readdir(join(md, 'cur'))).length > 0 ? 'cur' : 'new';
  await unlink(join(md, sub, (await readdir(join(md, sub)))[0] as string));
  assert.match(await c.cmd('b', 'NOOP'), /^\* \d EXPUNGE\r$/m);
  assert.ok((await statusHighest(c, 'c')) > h0);
});

test('malformed CONDSTORE modifiers and values are answered BAD and the session goes on', async (t) => {
  const h = await withMessages(t, 1);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('a', 'SELECT INBOX (BOGUS)'), /^a BAD/m);
  await c.cmd('b', 'SELECT INBOX (CONDSTORE)');
  const bad = [
    'FETCH 1 (FLAGS) (CHANGEDSINCE 0)',
    'FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)',
    'FETCH 1 (FLAGS) (CHANGEDSINCE 99999999999999999999999)',
    'FETCH 1 (FLAGS) (CHANGEDSINCE abc)',
    'FETCH 1 (FLAGS) (CHANGEDSINCE 5 CHANGEDSINCE 6)',
    'FETCH 1 (FLAGS) (CHANGEDSINCE)',
    'FETCH 1 (FLAGS) ()',
    'FETCH 1 (FLAGS) (FOO 1)',
    'STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)',
    'STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\\Seen)',
    'STORE 1 (FOO 1) +FLAGS (\\Seen)',
    'STORE 1 (UNCHANGEDSINCE 1)',
    'SEARCH MODSEQ',
    'SEARCH MODSEQ 9223372036854775808',
    'SEARCH MODSEQ "/flags/\\\\seen" bogus 5',
    'SEARCH MODSEQ "nope" all 5',
    'STATUS INBOX (HIGHESTMODSEQ BOGUS)',
  ];
  for (const [i, line] of bad.entries()) assert.match(await c.cmd(`x${i}`, line), new RegExp(`^x${i} BAD`, 'm'), line);
  assert.match(await c.cmd('y', 'FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775807)'), /^y OK/m);
  assert.match(await c.cmd('z', 'NOOP'), /^z OK/m);
  assert.match(await c.cmd('z2', 'FETCH 1 (MODSEQ)'), /^\* 1 FETCH \(MODSEQ \(\d+\)\)\r$/m);
});

test('a FETCH that sets \\Seen raises the mod-sequence and, once CONDSTORE is on, tells UID and MODSEQ with the flags', async (t) => {
  const h = await withMessages(t, 3);
  const c = await loggedIn(h, t);
  const h0 = highest(await c.cmd('a', 'SELECT INBOX (CONDSTORE)'));
  const r = await c.cmd('b', 'FETCH 1:2 BODY[HEADER.FIELDS (SUBJECT)]');
  const told = modseqs(r);
  assert.equal(told.size, 2, r);
  assert.ok([...told.values()].every((m) => m > h0));
  assert.match(r, /^\* 1 FETCH \(BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{\d+\}\r\nSubject: m1\r\n\r\n FLAGS \(\\Seen(?: \\Recent)?\) UID 1 MODSEQ \(\d+\)\)\r$/m);
  assert.equal(await statusHighest(c, 'c'), Math.max(...told.values()));
  assert.equal((await c.cmd('d', `FETCH 1:* (FLAGS) (CHANGEDSINCE ${h0})`)).match(/FETCH \(/g)?.length, 2);
});
