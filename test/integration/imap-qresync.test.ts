// QRESYNC (RFC 7162 §3.2) over real sockets: ENABLE QRESYNC, SELECT (QRESYNC (…)) telling VANISHED (EARLIER) and
// the flag changes since the client's mod-sequence, VANISHED in place of EXPUNGE, CLOSED on a second SELECT,
// UID FETCH (CHANGEDSINCE n VANISHED), and BAD for QRESYNC forms used out of turn or malformed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sample, startImap, type Harness } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const USER = 'alice@example.org';

async function withMessages(t: Parameters<typeof startImap>[0], n: number): Promise<Harness> {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  for (let i = 1; i <= n; i++) await h.store.append(USER, 'INBOX', Buffer.from(sample(`m${i}`)));
  return h;
}

/** Deletes the message file whose Subject is `subject` behind the store's back, as another program would. */
async function removeFileOf(maildir: string, subject: string): Promise<void> {
  for (const sub of ['new', 'cur']) {
    for (const f of await readdir(join(maildir, sub))) {
      if ((await readFile(join(maildir, sub, f), 'latin1')).includes(`Subject: ${subject}\r\n`)) return unlink(join(maildir, sub, f));
    }
  }
  assert.fail(`no message ${subject}`);
}

const num = (re: RegExp, text: string): number => {
  const m = re.exec(text);
  assert.ok(m?.[1], `${re} in ${text}`);
  return Number(m[1]);
};

test('SELECT (QRESYNC (uidvalidity modseq)) tells what vanished and what changed since, in one round trip', async (t) => {
  const h = await withMessages(t, 5);
  const a = await loggedIn(h, t);
  const sel = await a.cmd('a1', 'SELECT INBOX (CONDSTORE)');
  const validity = num(/UIDVALIDITY (\d+)/, sel);
  const known = num(/HIGHESTMODSEQ (\d+)/, sel);
  await a.cmd('a2', 'LOGOUT');
  // meanwhile another client: a flag change, two expunges, a new message
  const b = await loggedIn(h, t);
  await b.cmd('b1', 'SELECT INBOX');
  await b.cmd('b2', 'STORE 1 +FLAGS (\\Flagged)');
  await b.cmd('b3', 'STORE 2,4 +FLAGS (\\Deleted)');
  await b.cmd('b4', 'EXPUNGE');
  await b.send('b5', `b5 APPEND INBOX {${sample('m6').length}+}\r\n${sample('m6')}\r\n`);

  const c = await loggedIn(h, t);
  assert.match(await c.cmd('c0', `SELECT INBOX (QRESYNC (${validity} ${known}))`), /^c0 BAD/m, 'not enabled yet');
  assert.match(await c.cmd('c1', 'ENABLE QRESYNC'), /^\* ENABLED QRESYNC\r$/m);
  const r = await c.cmd('c2', `SELECT INBOX (QRESYNC (${validity} ${known}))`);
  assert.match(r, /^\* VANISHED \(EARLIER\) 2,4\r$/m);
  assert.match(r, /^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)\r$/m);
  assert.match(r, /^\* 4 FETCH \(UID 6 FLAGS \((?:\\Recent)?\) MODSEQ \(\d+\)\)\r$/m, 'the new message too (changed since)');
  assert.equal((r.match(/FETCH \(/g) ?? []).length, 2, r);
  // known-uids narrows both
  const narrow = await c.cmd('c3', `EXAMINE INBOX (QRESYNC (${validity} ${known} 1:3))`);
  assert.match(narrow, /^\* OK \[CLOSED\]/m, 'the previous mailbox closed first');
  assert.match(narrow, /^\* VANISHED \(EARLIER\) 2\r$/m);
  assert.equal((narrow.match(/FETCH \(/g) ?? []).length, 1, narrow);
  // another UIDVALIDITY: a plain SELECT
  const other = await c.cmd('c4', `SELECT INBOX (QRESYNC (${validity + 1} ${known}))`);
  assert.doesNotMatch(other, /VANISHED|FETCH \(/);
});

test('with QRESYNC on, expunges are told as VANISHED; UID FETCH (CHANGEDSINCE n VANISHED) tells the UIDs gone', async (t) => {
  const h = await withMessages(t, 4);
  const a = await loggedIn(h, t);
  await a.cmd('a1', 'ENABLE QRESYNC');
  const h0 = num(/HIGHESTMODSEQ (\d+)/, await a.cmd('a2', 'SELECT INBOX'));
  await a.cmd('a3', 'STORE 2:3 +FLAGS.SILENT (\\Deleted)');
  const ex = await a.cmd('a4', 'EXPUNGE');
  assert.match(ex, /^\* VANISHED 2:3\r$/m);
  assert.doesNotMatch(ex, /EXPUNGE\r\n/);
  assert.match(await a.cmd('a5', 'UID STORE 4 +FLAGS (\\Seen)'), /^a5 OK/m);
  const f = await a.cmd('a6', `UID FETCH 1:4 (FLAGS) (CHANGEDSINCE ${h0} VANISHED)`);
  assert.match(f, /^\* VANISHED \(EARLIER\) 2:3\r$/m);
  assert.match(f, /^\* 2 FETCH \(UID 4 FLAGS \(\\Seen(?: \\Recent)?\) MODSEQ \(\d+\)\)\r$/m);
  assert.equal((f.match(/FETCH \(/g) ?? []).length, 1);
});

test('QRESYNC forms out of turn or malformed are BAD and the session goes on', async (t) => {
  const h = await withMessages(t, 1);
  const a = await loggedIn(h, t);
  await a.cmd('a0', 'SELECT INBOX');
  assert.match(await a.cmd('a1', 'UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)'), /^a1 BAD/m, 'QRESYNC not enabled');
  await a.cmd('a2', 'ENABLE QRESYNC');
  const bad = [
    'FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)',
    'UID FETCH 1:* (FLAGS) (VANISHED)',
    'UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED VANISHED)',
    'SELECT INBOX (QRESYNC)',
    'SELECT INBOX (QRESYNC ())',
    'SELECT INBOX (QRESYNC (0 5))',
    'SELECT INBOX (QRESYNC (1 0))',
    'SELECT INBOX (QRESYNC (1 5 x))',
    'SELECT INBOX (QRESYNC (1 5 1:* (1:2)))',
    'SELECT INBOX (QRESYNC (1 5) QRESYNC (1 5))',
    'SELECT INBOX (QRESYNC (1 9223372036854775808))',
  ];
  for (const [i, line] of bad.entries()) assert.match(await a.cmd(`x${i}`, line), new RegExp(`^x${i} BAD`, 'm'), line);
  assert.match(await a.cmd('y', 'SELECT INBOX (QRESYNC (1 5 1:* (1:2 1:2)))'), /^y OK/m);
  assert.match(await a.cmd('z', 'NOOP'), /^z OK/m);
});

test('with QRESYNC on, EXPUNGE, UID EXPUNGE and CLOSE tell the new HIGHESTMODSEQ in their tagged OK (RFC 7162 §3.2.7, §3.2.8)', async (t) => {
  const h = await withMessages(t, 4);
  const a = await loggedIn(h, t);
  await a.cmd('a1', 'ENABLE QRESYNC');
  const h0 = num(/HIGHESTMODSEQ (\d+)/, await a.cmd('a2', 'SELECT INBOX'));
  await a.cmd('a3', 'STORE 1:3 +FLAGS.SILENT (\\Deleted)');
  const h1 = num(/^a4 OK \[HIGHESTMODSEQ (\d+)\]/m, await a.cmd('a4', 'UID EXPUNGE 1'));
  assert.ok(h1 > h0, `${h1} > ${h0}`);
  const h2 = num(/^a5 OK \[HIGHESTMODSEQ (\d+)\]/m, await a.cmd('a5', 'EXPUNGE'));
  assert.ok(h2 > h1, `${h2} > ${h1}`);
  await a.cmd('a6', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
  const h3 = num(/^a7 OK \[HIGHESTMODSEQ (\d+)\]/m, await a.cmd('a7', 'CLOSE'));
  assert.ok(h3 > h2, `${h3} > ${h2}`);
  assert.equal(num(/HIGHESTMODSEQ (\d+)\)/, await a.cmd('a8', 'STATUS INBOX (HIGHESTMODSEQ)')), h3);
  // without QRESYNC the tagged OK stays as it was
  const b = await loggedIn(h, t);
  await b.cmd('b1', 'SELECT INBOX');
  assert.match(await b.cmd('b2', 'EXPUNGE'), /^b2 OK EXPUNGE completed/m);
});

test('UID FETCH 1:* (CHANGEDSINCE n VANISHED) tells the UIDs gone at the end of the mailbox too ("*" is not the last UID left)', async (t) => {
  const h = await withMessages(t, 4);
  const a = await loggedIn(h, t);
  await a.cmd('a1', 'ENABLE QRESYNC');
  const h0 = num(/HIGHESTMODSEQ (\d+)/, await a.cmd('a2', 'SELECT INBOX'));
  await a.cmd('a3', 'UID STORE 3:4 +FLAGS.SILENT (\\Deleted)');
  await a.cmd('a4', 'EXPUNGE');
  await a.cmd('a5', 'LOGOUT');
  // a client that knew UIDs 1:4 at h0 comes back: the two last messages are gone
  const b = await loggedIn(h, t);
  await b.cmd('b1', 'ENABLE QRESYNC');
  await b.cmd('b2', 'SELECT INBOX');
  assert.match(await b.cmd('b3', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${h0} VANISHED)`), /^\* VANISHED \(EARLIER\) 3:4\r$/m);
  assert.match(await b.cmd('b4', `UID FETCH 2:* (FLAGS) (CHANGEDSINCE ${h0} VANISHED)`), /^\* VANISHED \(EARLIER\) 3:4\r$/m);
  assert.doesNotMatch(await b.cmd('b5', `UID FETCH 1:2 (FLAGS) (CHANGEDSINCE ${h0} VANISHED)`), /VANISHED/);
});

test('VANISHED (EARLIER) tells only the UIDs expunged since the client\'s mod-sequence, not older gaps (expunge history)', async (t) => {
  const h = await withMessages(t, 8);
  const a = await loggedIn(h, t);
  await a.cmd('a1', 'ENABLE QRESYNC');
  const sel = await a.cmd('a2', 'SELECT INBOX');
  const validity = num(/UIDVALIDITY (\d+)/, sel);
  // gaps the client already knows of: 2 and 3 expunged before its state
  await a.cmd('a3', 'UID STORE 2:3 +FLAGS.SILENT (\\Deleted)');
  const known = num(/HIGHESTMODSEQ (\d+)/, await a.cmd('a4', 'EXPUNGE'));
  // then 6 expunged by this client, and 7's file deleted by another program (no IMAP session sees it go)
  await a.cmd('a5', 'UID STORE 6 +FLAGS.SILENT (\\Deleted)');
  await a.cmd('a6', 'EXPUNGE');
  await a.cmd('a7', 'LOGOUT');
  await h.store.settle();
  await removeFileOf(h.store.maildirOf(USER), 'm7');
  const b = await loggedIn(h, t);
  await b.cmd('b1', 'ENABLE QRESYNC');
  const r = await b.cmd('b2', `SELECT INBOX (QRESYNC (${validity} ${known}))`);
  assert.match(r, /^\* VANISHED \(EARLIER\) 6:7\r$/m, r);
  assert.match(await b.cmd('b3', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${known} VANISHED)`), /^\* VANISHED \(EARLIER\) 6:7\r$/m);
  // a state older than the history (mod-sequence 1): every UID the mailbox lacks, as before
  assert.match(await b.cmd('b4', 'UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)'), /^\* VANISHED \(EARLIER\) 2:3,6:7\r$/m);
});

test('HIGHESTMODSEQ told while an expunge is owed to the session (first CONDSTORE use in a FETCH) is not one that hides the expunge from VANISHED (EARLIER)', async (t) => {
  const h = await withMessages(t, 3);
  const a = await loggedIn(h, t);
  const sel = await a.cmd('a1', 'SELECT INBOX');
  const validity = num(/UIDVALIDITY (\d+)/, sel);
  const b = await loggedIn(h, t);
  await b.cmd('b1', 'SELECT INBOX');
  await b.cmd('b2', 'UID STORE 2 +FLAGS.SILENT (\\Deleted)');
  await b.cmd('b3', 'EXPUNGE');
  // FETCH may not tell the expunge (RFC 3501 §7.4.1); its CHANGEDSINCE enables CONDSTORE, which tells HIGHESTMODSEQ
  const f = await a.cmd('a2', 'FETCH 1 (FLAGS) (CHANGEDSINCE 1)');
  assert.doesNotMatch(f, /EXPUNGE|VANISHED/, f);
  const told = num(/HIGHESTMODSEQ (\d+)/, f);
  await a.cmd('a3', 'LOGOUT');
  const c = await loggedIn(h, t);
  await c.cmd('c1', 'ENABLE QRESYNC');
  const r = await c.cmd('c2', `SELECT INBOX (QRESYNC (${validity} ${told}))`);
  assert.match(r, /^\* VANISHED \(EARLIER\) 2\r$/m, r);
});
