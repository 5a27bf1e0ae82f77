// Several IMAP sessions on one mailbox over real sockets: what one session, local delivery or another program changes
// reaches the others at the points RFC 3501 §5.2, §7.4.1 and RFC 2177 allow, with sequence numbers and UIDs intact.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sample, startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const USER = 'alice@example.org';
const GUARD = { timeout: 30_000 };

/**
 * A session with INBOX selected over `count` messages (subjects m1..mN) and the folder's timestamps frozen a minute in
 * the past: `keepStamp()` sets them back after a change "another program" makes, as when both land in one timestamp
 * tick of a coarse file system; `fileOf(subject)` names a message's file in cur/.
 */
async function frozenInbox(t: TestContext, count: number) {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  for (let i = 1; i <= count; i++) await h.store.append(USER, 'INBOX', Buffer.from(sample(`m${i}`)));
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT INBOX'), new RegExp(`^\\* ${count} EXISTS`, 'm'));
  await h.store.settle();
  const md = h.store.maildirOf(USER);
  const cur = join(md, 'cur');
  const fileOf = (subject: string): string => {
    const f = readdirSync(cur).find((name) => readFileSync(join(cur, name), 'latin1').includes(`Subject: ${subject}\r\n`));
    assert.ok(f !== undefined, subject);
    return f;
  };
  const stamp = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const keepStamp = (): void => {
    utimesSync(join(md, 'new'), stamp, stamp);
    utimesSync(cur, stamp, stamp);
  };
  keepStamp();
  assert.match(await a.cmd('N', 'NOOP'), /^N OK/m);
  return { a, cur, fileOf, keepStamp };
}

test('IDLE: a change made while the session is reporting an earlier one is reported too, without waiting for another', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.append(USER, 'INBOX', Buffer.from(sample('old')));
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT INBOX'), /^S OK/m);
  // Heard after the idling session (which watches from its SELECT): the flag change is made while that session is
  // in the middle of reporting the new message (its list taken, its \Recent claim waiting for the folder).
  let fired = false;
  const unwatch = h.store.watch(USER, 'INBOX', (change) => {
    if (change.kind !== 'append' || fired) return;
    fired = true;
    void h.store.updateFlags(USER, 'INBOX', 1, { add: ['\\Flagged'] });
  });
  t.after(unwatch);
  a.write('I IDLE\r\n');
  await a.until((s) => s.includes('+ idling\r\n'));
  await h.store.append(USER, 'INBOX', Buffer.from(sample('new')));
  const told = await a.until((s) => /\* 1 FETCH \([^)]*FLAGS \([^)]*\\Flagged/.test(s));
  assert.match(told, /^\* 2 EXISTS\r\n/m);
  assert.match(await a.send('I', 'DONE\r\n'), /^I OK/m);
});

test('the selected mailbox deleted and made again by another session: BYE, never the new messages under the old UIDs', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Box');
  for (let i = 0; i < 3; i++) await h.store.append(USER, 'Box', Buffer.from(sample(`old ${i}`)));
  const [byUid, bySeq, idling, b] = [await loggedIn(h, t), await loggedIn(h, t), await loggedIn(h, t), await loggedIn(h, t)];
  assert.match(await byUid.cmd('S', 'SELECT Box'), /UIDVALIDITY/);
  assert.match(await bySeq.cmd('S', 'SELECT Box'), /^S OK/m);
  assert.match(await idling.cmd('S', 'EXAMINE Box'), /^S OK/m);
  idling.write('I IDLE\r\n');
  await idling.until((s) => s.includes('+ idling\r\n'));
  assert.match(await b.cmd('D', 'DELETE Box'), /^D OK/m);
  // RFC 3501 §2.3.1.1: a UID names one message for good under one UIDVALIDITY; the session's cannot go on
  assert.match(await idling.until((s) => s.includes('* BYE')), /^\* BYE /m);
  assert.match(await b.cmd('C', 'CREATE Box'), /^C OK/m);
  for (let i = 0; i < 2; i++) await h.store.append(USER, 'Box', Buffer.from(sample(`new ${i}`)));
  for (const [c, line] of [[byUid, 'UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])'], [bySeq, 'FETCH 1:2 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])']] as const) {
    c.write(`F ${line}\r\n`);
    const text = await c.until((s) => s.includes('* BYE'));
    assert.doesNotMatch(text, /Subject: new/, line);
    assert.doesNotMatch(text, /^F OK/m, line);
  }
});

test('the selected mailbox renamed by another session: BYE at the next sync point, and at once while idling', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Box');
  await h.store.append(USER, 'Box', Buffer.from(sample('one')));
  const [a, idling, b] = [await loggedIn(h, t), await loggedIn(h, t), await loggedIn(h, t)];
  assert.match(await a.cmd('S', 'SELECT Box'), /^S OK/m);
  assert.match(await idling.cmd('S', 'SELECT Box'), /^S OK/m);
  idling.write('I IDLE\r\n');
  await idling.until((s) => s.includes('+ idling\r\n'));
  assert.match(await b.cmd('R', 'RENAME Box Other'), /^R OK/m);
  assert.match(await idling.until((s) => s.includes('* BYE')), /^\* BYE /m);
  a.write('N NOOP\r\n');
  const text = await a.until((s) => s.includes('* BYE'));
  assert.doesNotMatch(text, /EXPUNGE/, 'the message was not expunged: it lives on in Other');
});

test('a session that renames its own selected mailbox gets its OK and is left unselected, as after DELETE', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Box');
  await h.store.append(USER, 'Box', Buffer.from(sample('one')));
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT Box'), /^S OK/m);
  const renamed = await a.cmd('R', 'RENAME Box Other');
  assert.match(renamed, /^R OK/m);
  assert.doesNotMatch(renamed, /^\* (BYE|1 EXPUNGE)/m);
  assert.match(await a.cmd('F', 'FETCH 1 FLAGS'), /^F BAD/m);
  assert.match(await a.cmd('N', 'NOOP'), /^N OK/m);
  assert.match(await a.cmd('T', 'STATUS Other (MESSAGES)'), /MESSAGES 1\)/);
});

test('IDLE: mail another program delivers into the Maildir, or removes from it, is reported while idling', GUARD, async (t) => {
  const h = await startImap(t, { limits: { idlePollMs: 50 } });
  await h.store.ensureUser(USER);
  for (let i = 0; i < 2; i++) await h.store.append(USER, 'INBOX', Buffer.from(sample(`m${i}`)));
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT INBOX'), /^\* 2 EXISTS/m);
  a.write('I IDLE\r\n');
  await a.until((s) => s.includes('+ idling\r\n'));
  // no store call tells the server: only looking at the folder does (Dovecot: mailbox_idle_check_interval)
  const md = h.store.maildirOf(USER);
  await h.store.settle(); // no re-scan of the store's own is pending that would find the change by chance
  await writeFile(join(md, 'new', '1700000000.M1P1.elsewhere'), sample('dropped in'));
  await a.until((s) => s.includes('* 3 EXISTS\r\n'));
  const cur = await readdir(join(md, 'cur'));
  const first = cur.find((f) => readFileSync(join(md, 'cur', f), 'latin1').includes('Subject: m0'));
  assert.ok(first);
  await h.store.settle();
  await rm(join(md, 'cur', first));
  await a.until((s) => s.includes('* 1 EXPUNGE\r\n'));
  assert.match(await a.send('I', 'DONE\r\n'), /^I OK/m);
  assert.match(await a.cmd('F', 'FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])'), /^\* 1 FETCH .*\r\nSubject: m1\r\n[^]*Subject: dropped in/m);
});

test('EXAMINE: mail that arrives while examining is \\Recent there until a read-write session claims it (RFC 3501 §2.3.2)', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.append(USER, 'INBOX', Buffer.from(sample('before')));
  const [ex, rw] = [await loggedIn(h, t), await loggedIn(h, t)];
  assert.match(await ex.cmd('S', 'EXAMINE INBOX'), /^\* 1 RECENT/m);
  await h.store.append(USER, 'INBOX', Buffer.from(sample('while examining')));
  // the examining session is the first told of it, and nobody has claimed it
  assert.match(await ex.cmd('N', 'NOOP'), /^\* 2 EXISTS\r\n\* 2 RECENT\r\n/m);
  assert.match(await ex.cmd('F', 'FETCH 2 FLAGS'), /^\* 2 FETCH \(FLAGS \(\\Recent\)\)/m);
  assert.match(await ex.cmd('R', 'SEARCH RECENT'), /^\* SEARCH 1 2\r\n/m);
  // a read-write session still gets both (EXAMINE claims nothing), and then mail after that is its own
  assert.match(await rw.cmd('S', 'SELECT INBOX'), /^\* 2 RECENT/m);
  await h.store.append(USER, 'INBOX', Buffer.from(sample('after select')));
  assert.match(await rw.cmd('N', 'NOOP'), /^\* 3 EXISTS\r\n\* 3 RECENT\r\n/m);
  assert.match(await ex.cmd('N', 'NOOP'), /^\* 3 EXISTS\r\n/m);
  assert.match(await ex.cmd('G', 'FETCH 3 FLAGS'), /^\* 3 FETCH \(FLAGS \(\)\)/m);
});

test('RECENT counts the \\Recent messages of the session\'s view, also when one was claimed before it was seen and then expunged', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Box');
  await h.store.append(USER, 'Box', Buffer.from(sample('copied in')));
  await h.store.append(USER, 'INBOX', Buffer.from(sample('first')));
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT INBOX'), /^\* 1 RECENT/m);
  // While the idling session reports UID 2 (its list taken, its \Recent claim waiting for the folder), UID 3 comes
  // in: the claim takes it too, before the session has seen it. Then UID 3 is expunged.
  let expunged!: Promise<void>;
  const thirdIn = new Promise<void>((resolve) => {
    const unwatch = h.store.watch(USER, 'INBOX', (change) => {
      if (change.kind !== 'append') return;
      if (change.uids.includes(2)) void h.store.copy(USER, 'Box', [1], 'INBOX');
      if (!change.uids.includes(3)) return;
      expunged = h.store.expunge(USER, 'INBOX', [3]);
      resolve();
    });
    t.after(unwatch);
  });
  a.write('I IDLE\r\n');
  await a.until((s) => s.includes('+ idling\r\n'));
  await h.store.append(USER, 'INBOX', Buffer.from(sample('second')));
  await thirdIn;
  await expunged;
  assert.doesNotMatch(await a.send('I', 'DONE\r\n'), /^\* [3-9] RECENT/m, 'never more recent messages than the view holds');
  await h.store.append(USER, 'INBOX', Buffer.from(sample('third')));
  assert.match(await a.cmd('N', 'NOOP'), /^\* 3 EXISTS\r\n\* 3 RECENT\r\n/m);
  assert.match(await a.cmd('R', 'SEARCH RECENT'), /^\* SEARCH 1 2 3\r\n/m);
});

test('STORE .SILENT does not swallow another session\'s change to the same message: it is told as a FETCH', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  for (let i = 0; i < 3; i++) await h.store.append(USER, 'INBOX', Buffer.from(sample(`m${i}`)));
  const [a, b] = [await loggedIn(h, t), await loggedIn(h, t)];
  assert.match(await a.cmd('S', 'SELECT INBOX'), /^S OK/m);
  assert.match(await b.cmd('S', 'SELECT INBOX'), /^S OK/m);
  assert.match(await b.cmd('B', 'STORE 1:2 +FLAGS.SILENT (\\Flagged)'), /^B OK/m);
  // A was not told of \Flagged; its own silent change must not mark the result as told (RFC 3501 §7.4.2)
  const told = (await a.cmd('A', 'STORE 1 +FLAGS.SILENT (\\Seen)')) + (await a.cmd('C', 'STORE 2 -FLAGS.SILENT (\\Seen)')) + (await a.cmd('N', 'NOOP'));
  assert.match(told, /^\* 1 FETCH \((UID 1 )?FLAGS \(\\Flagged \\Seen \\Recent\)\)/m);
  assert.match(told, /^\* 2 FETCH \((UID 2 )?FLAGS \(\\Flagged \\Recent\)\)/m);
  // what the client knows already is not repeated
  const quiet = (await a.cmd('D', 'STORE 3 +FLAGS.SILENT (\\Answered)')) + (await a.cmd('E', 'STORE 1 -FLAGS.SILENT (\\Seen)')) + (await a.cmd('O', 'NOOP'));
  assert.doesNotMatch(quiet, /FETCH/);
});

test('STORE, FETCH and COPY of messages another program removed or renamed while the folder looked unchanged: no server error', GUARD, async (t) => {
  const { a, cur, fileOf, keepStamp } = await frozenInbox(t, 3);
  rmSync(join(cur, fileOf('m2')));
  const m3 = fileOf('m3');
  renameSync(join(cur, m3), join(cur, m3.replace(/:2,.*$/, ':2,D'))); // \Draft set elsewhere
  keepStamp();
  const store = await a.cmd('T', 'STORE 2:3 +FLAGS (\\Flagged)');
  assert.doesNotMatch(store, /SERVERBUG/);
  assert.match(store, /^\* 3 FETCH \(FLAGS \(\\Draft \\Flagged/m, 'the change lands on the renamed file, keeping its flags');
  const noop = await a.cmd('O', 'NOOP');
  assert.match(noop, /^\* 2 EXPUNGE\r\n/m);
  // FETCH that sets \Seen on a file gone the same way
  rmSync(join(cur, fileOf('m1')));
  keepStamp();
  const fetch = await a.cmd('F', 'FETCH 1 BODY[]');
  assert.doesNotMatch(fetch, /SERVERBUG/);
  assert.match(fetch, /^F NO /m);
  assert.match(await a.cmd('P', 'NOOP'), /^\* 1 EXPUNGE\r\n/m);
  // COPY of a file gone the same way
  rmSync(join(cur, fileOf('m3')));
  keepStamp();
  const copy = await a.cmd('C', 'COPY 1 Trash');
  assert.doesNotMatch(copy, /SERVERBUG/);
  assert.match(copy, /^C NO /m);
  assert.match(copy + (await a.cmd('Q', 'NOOP')), /^\* 1 EXPUNGE\r\n/m, 'COPY may tell the expunge itself (RFC 3501 §7.4.1)');
});

test('FETCH BODY.PEEK[] of a message another program removed while the folder looked unchanged: NO, then the expunge is told', GUARD, async (t) => {
  const { a, cur, fileOf, keepStamp } = await frozenInbox(t, 2);
  const file = fileOf('m2');
  rmSync(join(cur, file));
  keepStamp();
  const fetch = await a.cmd('F', 'FETCH 2 BODY.PEEK[]');
  assert.match(fetch, /^F NO /m);
  // the read found the file gone: the folder was looked at again, and the session hears of it at the next point
  assert.match(await a.cmd('O', 'NOOP'), /^\* 2 EXPUNGE\r\n/m);
});
