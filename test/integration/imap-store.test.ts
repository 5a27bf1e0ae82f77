// IMAP over the Maildir store, from the client side: COPY and MOVE all or nothing while another session renames the
// source files, quota on APPEND / COPY, mailbox names too long for one directory name, entries planted in a folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sample, startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const USER = 'alice@example.org';
const GUARD = { timeout: 60_000 };

const count = async (h: { store: { list(u: string, m: string): Promise<unknown[]> } }, box: string): Promise<number> => (await h.store.list(USER, box)).length;

for (const verb of ['COPY', 'MOVE'] as const) {
  test(`UID ${verb} while another session toggles \\Seen on the same messages: OK with every message, or NO with the target unchanged`, GUARD, async (t) => {
    const h = await startImap(t);
    await h.store.ensureUser(USER);
    await h.store.createMailbox(USER, 'Src');
    const N = 400;
    for (let i = 0; i < N; i++) await h.store.append(USER, 'Src', Buffer.from(sample(`race ${i}`)), { flags: ['\\Seen'] });
    const a = await loggedIn(h, t);
    const b = await loggedIn(h, t);
    assert.match(await a.cmd('S', 'SELECT Src'), /^S OK/m);
    assert.match(await b.cmd('S', 'SELECT Src'), /^S OK/m);
    let expected = N;
    for (let round = 0; round < 4; round++) {
      const box = `Dst${round}`;
      assert.match(await a.cmd('C', `CREATE ${box}`), /^C OK/m);
      // Each STORE renames every source file (flags live in the file name); they overlap the copy.
      const toggles = (async () => {
        for (let k = 0; k < 6; k++) assert.match(await b.cmd(`T${k}`, `STORE 1:* ${k % 2 ? '+' : '-'}FLAGS.SILENT (\\Seen)`), new RegExp(`^T${k} OK`, 'm'));
      })();
      const reply = await a.cmd('M', `UID ${verb} 1:* ${box}`);
      await toggles;
      const copied = await count(h, box);
      if (/^M OK/m.test(reply)) assert.equal(copied, expected, reply.slice(-200));
      else {
        assert.match(reply, /^M NO/m);
        assert.doesNotMatch(reply, /SERVERBUG/);
        assert.equal(copied, 0, 'a failed copy leaves the target unchanged');
      }
      if (verb === 'MOVE') {
        // Moved back for the next round: the source is full again.
        assert.match(await a.cmd('B', `SELECT ${box}`), /^B OK/m);
        assert.match(await a.cmd('R', 'UID MOVE 1:* Src'), /^R OK/m);
        assert.match(await a.cmd('S', 'SELECT Src'), /^S OK/m);
        assert.match(await b.cmd('N', 'NOOP'), /^N OK/m);
        expected = await count(h, 'Src');
        assert.equal(expected, N);
      }
    }
  });
}

test('APPEND and COPY past the quota get NO [OVERQUOTA] and change nothing; MOVE does not grow usage and is allowed', GUARD, async (t) => {
  const msg = sample('quota', 'x'.repeat(700)); // ~900 bytes
  const h = await startImap(t, { quotaOf: (u) => (u === USER ? 2 * msg.length + 100 : undefined) });
  await h.store.ensureUser(USER);
  const a = await loggedIn(h, t);
  const append = (tag: string): Promise<string> => a.send(tag, `${tag} APPEND INBOX {${msg.length}+}\r\n${msg}\r\n`);
  assert.match(await append('A1'), /^A1 OK \[APPENDUID/m);
  assert.match(await append('A2'), /^A2 OK \[APPENDUID/m);
  assert.match(await append('A3'), /^A3 NO \[OVERQUOTA\]/m);
  assert.equal(await count(h, 'INBOX'), 2);
  assert.match(await a.cmd('S', 'SELECT INBOX'), /^S OK/m);
  assert.match(await a.cmd('C', 'COPY 1 Trash'), /^C NO \[OVERQUOTA\]/m);
  assert.equal(await count(h, 'Trash'), 0);
  assert.match(await a.cmd('M', 'MOVE 1:* Trash'), /^M OK/m);
  assert.equal(await count(h, 'Trash'), 2);
  // Another user without a quota is not limited.
  const b = await loggedIn(h, t, 'bob@example.org', 'builder');
  for (let i = 0; i < 4; i++) assert.match(await b.send(`B${i}`, `B${i} APPEND INBOX {${msg.length}+}\r\n${msg}\r\n`), new RegExp(`^B${i} OK`, 'm'));
});

test('QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA report the usage in KiB against the limit; a user without a quota has no root', GUARD, async (t) => {
  const msg = sample('quota', 'x'.repeat(3000));
  const limit = 10 * 1024 + 512;
  const h = await startImap(t, { quotaOf: (u) => (u === USER ? limit : undefined) });
  await h.store.ensureUser(USER);
  await h.store.ensureUser('bob@example.org');
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('C', 'CAPABILITY'), /^\* CAPABILITY .* QUOTA QUOTA=RES-STORAGE/m);
  const empty = await a.cmd('Q0', 'GETQUOTAROOT INBOX');
  assert.match(empty, /^\* QUOTAROOT INBOX ""\r\n\* QUOTA "" \(STORAGE 0 10\)\r\nQ0 OK/m);
  assert.match(await a.send('A1', `A1 APPEND INBOX {${msg.length}+}\r\n${msg}\r\n`), /^A1 OK/m);
  assert.match(await a.send('A2', `A2 APPEND Trash {${msg.length}+}\r\n${msg}\r\n`), /^A2 OK/m);
  // Every mailbox shares the one root, and the usage counts them all, rounded up to whole KiB.
  const used = Math.ceil((2 * msg.length) / 1024);
  assert.match(await a.cmd('Q1', 'GETQUOTAROOT Trash'), new RegExp(`^\\* QUOTAROOT Trash ""\\r\\n\\* QUOTA "" \\(STORAGE ${used} 10\\)\\r\\nQ1 OK`, 'm'));
  assert.match(await a.cmd('Q2', 'GETQUOTA ""'), new RegExp(`^\\* QUOTA "" \\(STORAGE ${used} 10\\)\\r\\nQ2 OK`, 'm'));
  assert.match(await a.cmd('Q3', 'GETQUOTA "other"'), /^Q3 NO \[NONEXISTENT\]/m);
  assert.match(await a.cmd('Q4', 'GETQUOTAROOT Nowhere'), /^Q4 NO \[NONEXISTENT\]/m);
  assert.match(await a.cmd('Q5', 'GETQUOTAROOT'), /^Q5 BAD/m, 'a missing argument is a syntax error');
  assert.match(await a.cmd('Q6', 'SETQUOTA "" (STORAGE 99999)'), /^Q6 BAD/m, 'no QUOTASET: the administrator sets quotas');
  assert.match(await a.cmd('N', 'NOOP'), /^N OK/m, 'the session goes on');
  const b = await loggedIn(h, t, 'bob@example.org', 'builder');
  assert.match(await b.cmd('R', 'GETQUOTAROOT INBOX'), /^\* QUOTAROOT INBOX\r\nR OK/m);
  assert.match(await b.cmd('G', 'GETQUOTA ""'), /^G NO \[NONEXISTENT\]/m);
});

test('sessions appending at the same moment cannot together pass the quota: the check and the append are one step per user', GUARD, async (t) => {
  const msg = sample('quota', 'x'.repeat(700));
  const h = await startImap(t, { quotaOf: (u) => (u === USER ? Math.floor(1.5 * msg.length) : undefined) });
  await h.store.ensureUser(USER);
  const sessions = await Promise.all([0, 1, 2, 3].map(() => loggedIn(h, t)));
  const replies = await Promise.all(sessions.map((c, i) => c.send(`A${i}`, `A${i} APPEND INBOX {${msg.length}+}\r\n${msg}\r\n`)));
  assert.equal(replies.filter((r) => / OK \[APPENDUID/.test(r)).length, 1, replies.join(''));
  assert.equal(replies.filter((r) => / NO \[OVERQUOTA\]/.test(r)).length, 3);
  assert.equal(await count(h, 'INBOX'), 1);
});

test('CREATE and RENAME to a name too long for one Maildir++ directory get NO [CANNOT], not SERVERBUG', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('C1', `CREATE "${'A'.repeat(200)}/${'B'.repeat(200)}"`), /^C1 NO \[CANNOT\]/m);
  assert.match(await a.cmd('C2', `CREATE "P/child-${'c'.repeat(60)}"`), /^C2 OK/m);
  assert.match(await a.cmd('R1', `RENAME "P" "${'L'.repeat(200)}"`), /^R1 NO \[CANNOT\]/m);
  const list = await a.cmd('L1', 'LIST "" "*"');
  assert.match(list, / P\/child-c+\r\n/);
  assert.doesNotMatch(list, /AAAA|LLLL/);
});

test('a symbolic link or a directory planted in cur/ or new/ is no message: never served, and COPY of the rest succeeds', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Lab');
  await h.store.append(USER, 'Lab', Buffer.from(sample('real')));
  const dir = join(h.store.maildirOf(USER), '.Lab');
  const secret = join(h.root, 'secret.txt');
  await writeFile(secret, 'Subject: TOP-SECRET-OUTSIDE-MAILDIR\r\n\r\nx\r\n');
  await symlink(secret, join(dir, 'cur', '105.e.host:2,S'));
  await symlink(secret, join(dir, 'new', '106.e.host'));
  await mkdir(join(dir, 'cur', '104.d.host,W=10'));
  const a = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT Lab'), /^\* 1 EXISTS\r\n/m);
  const body = await a.cmd('F', 'FETCH 1:* (BODY.PEEK[])');
  assert.match(body, /^F OK/m);
  assert.doesNotMatch(body, /TOP-SECRET/);
  assert.match(await a.cmd('C', 'COPY 1:* Trash'), /^C OK/m);
  assert.equal(await count(h, 'Trash'), 1);
  // A message file replaced by a link after it was indexed is not followed either.
  const [file] = (await readdir(join(dir, 'cur'))).filter((n) => !/^10[45]\./.test(n)); // SELECT moved it to cur/
  assert.ok(file);
  await rm(join(dir, 'cur', file));
  await symlink(secret, join(dir, 'cur', file));
  assert.doesNotMatch(await a.cmd('G', 'FETCH 1 (BODY.PEEK[])'), /TOP-SECRET/);
});

test('LSUB lists subscribed names whether or not they exist, and "%" levels above them as \\Noselect; LIST does the same for a folder whose parent another program never made', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('S1', 'SUBSCRIBE Ghost/Child'), /^S1 OK/m);
  assert.match(await c.cmd('C1', 'CREATE Gone'), /^C1 OK/m);
  assert.match(await c.cmd('S2', 'SUBSCRIBE Gone'), /^S2 OK/m);
  assert.match(await c.cmd('D1', 'DELETE Gone'), /^D1 OK/m); // RFC 3501 §6.3.6: the subscription stays
  assert.match(await c.cmd('S3', 'SUBSCRIBE Gone'), /^S3 OK/m);
  const all = await c.cmd('L1', 'LSUB "" "*"');
  assert.match(all, /^\* LSUB \(\) "\/" Ghost\/Child\r$/m);
  assert.match(all, /^\* LSUB \(\) "\/" Gone\r$/m);
  assert.match(all, /^\* LSUB \(\) "\/" INBOX\r$/m);
  assert.doesNotMatch(all, /LSUB \(\\Noselect\) "\/" Ghost\r/, '"*" matches Ghost/Child itself; no extra level');
  const top = await c.cmd('L2', 'LSUB "" "%"');
  assert.match(top, /^\* LSUB \(\\Noselect\) "\/" Ghost\r$/m, 'RFC 3501 §6.3.9: the unsubscribed level above, \\Noselect');
  assert.doesNotMatch(top, /Ghost\/Child/);
  assert.match(await c.cmd('U1', 'UNSUBSCRIBE Ghost/Child'), /^U1 OK/m);
  assert.doesNotMatch(await c.cmd('L3', 'LSUB "" "*"'), /Ghost/);
  // A Maildir++ folder .Orphan.Kid without .Orphan (made by another program).
  const md = h.store.maildirOf(USER);
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(md, '.Orphan.Kid', sub), { recursive: true });
  const listed = await c.cmd('L4', 'LIST "" "%"');
  assert.match(listed, /^\* LIST \(\\Noselect \\HasChildren\) "\/" Orphan\r$/m);
  assert.doesNotMatch(listed, /Orphan\/Kid/);
  assert.match(await c.cmd('L5', 'LIST "" "Orphan/%"'), /^\* LIST \(\\HasNoChildren\) "\/" Orphan\/Kid\r$/m);
  assert.doesNotMatch(await c.cmd('L6', 'LIST "" "*"'), /"\/" Orphan\r/, 'only "%" adds levels');
});

test('mailboxes and subscriptions are bounded per user: CREATE, RENAME into new levels and SUBSCRIBE past the limit get NO [LIMIT] and make nothing', GUARD, async (t) => {
  const h = await startImap(t, {}, { maxMailboxes: 10 });
  await h.store.ensureUser(USER); // INBOX and four default folders
  const c = await loggedIn(h, t);
  for (let i = 0; i < 4; i++) assert.match(await c.cmd(`C${i}`, `CREATE Box${i}`), /OK/);
  assert.match(await c.cmd('D1', 'CREATE Deep/Level'), /^D1 NO \[LIMIT\]/m, 'two new levels would make 11');
  assert.match(await c.cmd('D2', 'CREATE Box4'), /^D2 OK/m, 'the tenth');
  assert.match(await c.cmd('D3', 'CREATE Box5'), /^D3 NO \[LIMIT\]/m);
  assert.match(await c.cmd('R1', 'RENAME Box0 New/Box0'), /^R1 NO \[LIMIT\]/m, 'a new parent level would make 11');
  assert.match(await c.cmd('R2', 'RENAME Box0 Box0-renamed'), /^R2 OK/m, 'a rename in place adds nothing');
  assert.match(await c.cmd('R3', 'RENAME Box1 Box4/Inner'), /^R3 OK/m, 'an existing parent adds nothing');
  const names = (await h.store.listMailboxes(USER)).map((b) => b.name).sort();
  assert.deepEqual(names, ['Box0-renamed', 'Box2', 'Box3', 'Box4', 'Box4/Inner', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
  // Five subscriptions exist (INBOX and the defaults); five more fit, whether or not the names exist.
  for (let i = 0; i < 5; i++) assert.match(await c.cmd(`S${i}`, `SUBSCRIBE Later${i}`), /OK/);
  assert.match(await c.cmd('S5', 'SUBSCRIBE Later5'), /^S5 NO \[LIMIT\]/m);
  assert.match(await c.cmd('S6', 'SUBSCRIBE Later4'), /^S6 OK/m, 'subscribing again to a subscribed name is no new entry');
  assert.equal((await h.store.listSubscriptions(USER)).length, 10);
});
