// IMAP4rev2 (RFC 9051) over real sockets: the capability, ENABLE IMAP4rev2 (§6.3.1) and what it switches — SELECT
// and new mail without RECENT or \Recent, SEARCH answered with ESEARCH, UTF-8 mailbox names, [CLOSED] on reselect,
// NO [HASCHILDREN] — STATUS DELETED, the errors; a rev1 session beside it keeps RECENT, SEARCH and INUSE; imapflow
// (which enables IMAP4rev2 when offered) and python3's imaplib (rev1) both work.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { expectPythonOk, sample, startImap, type Harness } from './imap-harness.ts';
import { loggedIn, Raw } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const USER = 'alice@example.org';

async function setup(t: Parameters<typeof startImap>[0]): Promise<Harness> {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  for (const s of ['one', 'two', 'three']) await h.store.append(USER, 'INBOX', Buffer.from(sample(s)), { flags: s === 'two' ? ['\\Deleted'] : [] });
  return h;
}

/** A logged-in session with IMAP4rev2 enabled. */
async function rev2(h: Harness, t: TestContext): Promise<Raw> {
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('E', 'ENABLE IMAP4rev2'), /^\* ENABLED IMAP4rev2\r\nE OK/m);
  return c;
}

test('IMAP4rev2 is advertised beside IMAP4rev1, before and after login', GUARD, async (t) => {
  const h = await setup(t);
  const c = await loggedIn(h, t);
  const caps = await c.cmd('c', 'CAPABILITY');
  assert.match(caps, /^\* CAPABILITY IMAP4rev1 IMAP4rev2 /m);
  // RFC 9051 folds LITERAL- in (Appendix E); LITERAL+ (any size) is its superset and RFC 7888 §5 allows only one
  assert.match(caps, / LITERAL\+ /);
  assert.doesNotMatch(caps, /LITERAL-/);
  // a non-synchronizing literal over LITERAL-'s 4096 octets is taken in a rev2 session
  assert.match(await c.cmd('e', 'ENABLE IMAP4rev2'), /^e OK/m);
  const big = `Subject: big\r\n\r\n${'x'.repeat(5000)}\r\n`;
  assert.match(await c.send('a', `a APPEND INBOX {${big.length}+}\r\n${big}\r\n`), /^a OK \[APPENDUID /m);
});

test('ENABLE IMAP4rev2: SELECT and new mail without RECENT, FETCH FLAGS without \\Recent, [CLOSED] on reselect', GUARD, async (t) => {
  const h = await setup(t);
  const c = await rev2(h, t);
  const sel = await c.cmd('s', 'SELECT INBOX');
  assert.match(sel, /^\* 3 EXISTS\r\n/m);
  assert.doesNotMatch(sel, /RECENT/);
  assert.match(sel, /^s OK \[READ-WRITE\]/m);
  assert.doesNotMatch(await c.cmd('f', 'FETCH 1:* (FLAGS)'), /\\Recent/);
  await h.store.append(USER, 'INBOX', Buffer.from(sample('four')));
  const noop = await c.cmd('n', 'NOOP');
  assert.match(noop, /^\* 4 EXISTS\r\n/m);
  assert.doesNotMatch(noop, /RECENT/);
  // RFC 9051 §7.1: CLOSED whenever SELECT/EXAMINE replaces a selected mailbox
  assert.match(await c.cmd('x', 'EXAMINE INBOX'), /^\* OK \[CLOSED\][^\r]*\r\n(?:.*\r\n)*x OK \[READ-ONLY\]/m);
  // a rev1 session beside it still finds the mail recent: the rev2 session claimed nothing
  const old = await loggedIn(h, t);
  assert.match(await old.cmd('s', 'SELECT INBOX'), /^\* 4 RECENT\r\n/m);
});

test('ENABLE IMAP4rev2: SEARCH and UID SEARCH are answered with ESEARCH, empty results without ALL', GUARD, async (t) => {
  const h = await setup(t);
  const c = await rev2(h, t);
  await c.cmd('s', 'SELECT INBOX');
  const all = await c.cmd('a1', 'SEARCH ALL');
  assert.match(all, /^\* ESEARCH \(TAG "a1"\) ALL 1:3\r\na1 OK/m);
  assert.doesNotMatch(all, /^\* SEARCH/m);
  assert.match(await c.cmd('a2', 'UID SEARCH DELETED'), /^\* ESEARCH \(TAG "a2"\) UID ALL 2\r\na2 OK/m);
  assert.match(await c.cmd('a3', 'SEARCH SUBJECT nowhere'), /^\* ESEARCH \(TAG "a3"\)\r\na3 OK/m);
  assert.match(await c.cmd('a4', 'SEARCH RETURN (COUNT) ALL'), /^\* ESEARCH \(TAG "a4"\) COUNT 3\r\na4 OK/m);
  // RFC 9051 §6.4.4: CHARSET stays in rev2's SEARCH; US-ASCII and UTF-8 are taken, others NO [BADCHARSET]
  assert.match(await c.cmd('c1', 'SEARCH CHARSET UTF-8 SUBJECT two'), /^\* ESEARCH \(TAG "c1"\) ALL 2\r\nc1 OK/m);
  assert.match(await c.cmd('c2', 'UID SEARCH CHARSET US-ASCII SUBJECT t'), /^\* ESEARCH \(TAG "c2"\) UID ALL 2:3\r\nc2 OK/m);
  assert.match(await c.cmd('c3', 'SEARCH CHARSET KOI8-R ALL'), /^c3 NO \[BADCHARSET/m);
  // SAVE alone still answers nothing but keeps "$" (RFC 5182 §2.1)
  assert.doesNotMatch(await c.cmd('a5', 'SEARCH RETURN (SAVE) DELETED'), /ESEARCH/);
  assert.match(await c.cmd('a6', 'FETCH $ (UID)'), /^\* 2 FETCH \(UID 2\)/m);
});

test('ENABLE IMAP4rev2: SELECT and EXAMINE tell the mailbox in a LIST response (RFC 9051 §6.3.2); rev1 SELECT does not', GUARD, async (t) => {
  const h = await setup(t);
  await h.store.createMailbox(USER, 'Work/Old');
  const c = await rev2(h, t);
  assert.match(await c.cmd('s1', 'SELECT INBOX'), /^\* LIST \(\\HasNoChildren[^)]*\) "\/" INBOX\r\n/m);
  assert.match(await c.cmd('s2', 'EXAMINE Work'), /^\* LIST \(\\HasChildren[^)]*\) "\/" Work\r\n/m);
  assert.match(await c.cmd('s3', 'SELECT Junk'), /^\* LIST \(\\HasNoChildren \\Junk[^)]*\) "\/" Junk\r\n/m);
  const old = await loggedIn(h, t);
  assert.doesNotMatch(await old.cmd('s', 'SELECT INBOX'), /^\* LIST/m);
});

test('ENABLE IMAP4rev2 without UTF8=ACCEPT: SORT and THREAD keep their US-ASCII charset (RFC 5256 §3)', GUARD, async (t) => {
  const h = await setup(t);
  const c = await rev2(h, t);
  await c.cmd('s', 'SELECT INBOX');
  assert.match(await c.cmd('o1', 'SORT (SUBJECT) US-ASCII ALL'), /^\* SORT 1 3 2\r\no1 OK/m);
  assert.match(await c.cmd('o2', 'THREAD ORDEREDSUBJECT US-ASCII ALL'), /^o2 OK/m);
  assert.match(await c.cmd('o3', 'SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 1 3 2\r\no3 OK/m);
});

test('ENABLE IMAP4rev2: mailbox names are UTF-8 both ways; STATUS DELETED and SIZE; NO [HASCHILDREN]', GUARD, async (t) => {
  const h = await setup(t);
  const c = await rev2(h, t);
  const name = 'Entwürfe/März';
  assert.match(await c.send('c', Buffer.from(`c CREATE "${name}"\r\n`, 'utf8')), /^c OK/m);
  const list = Buffer.from(await c.cmd('l', 'LIST "" "*"'), 'latin1').toString('utf8');
  assert.match(list, /^\* LIST \([^)]*\) "\/" "Entwürfe\/März"\r\n/m);
  assert.doesNotMatch(list, /&A/); // no modified UTF-7
  assert.match(await c.cmd('st', 'STATUS INBOX (MESSAGES DELETED SIZE)'), /^\* STATUS INBOX \(MESSAGES 3 DELETED 1 SIZE \d+\)\r\n/m);
  assert.match(Buffer.from(await c.send('d', Buffer.from('d DELETE "Entwürfe"\r\n', 'utf8')), 'latin1').toString('utf8'), /^d NO \[HASCHILDREN\]/m);
  // the rev1 session gets the code it always got
  const old = await loggedIn(h, t);
  assert.match(await old.cmd('d', 'DELETE "Entw&APw-rfe"'), /^d NO \[INUSE\]/m);
  assert.match(await old.cmd('st', 'STATUS INBOX (DELETED)'), /^\* STATUS INBOX \(DELETED 1\)/m);
});

test('ENABLE IMAP4rev2 errors: refused while a mailbox is selected, before login; unknown names ignored', GUARD, async (t) => {
  const h = await setup(t);
  const c = await loggedIn(h, t);
  await c.cmd('s', 'SELECT INBOX');
  assert.match(await c.cmd('e', 'ENABLE IMAP4rev2'), /^e BAD /m);
  // the refused ENABLE changed nothing: a rev1 SEARCH answer
  assert.match(await c.cmd('q', 'SEARCH ALL'), /^\* SEARCH 1 2 3\r\n/m);
  assert.match(await c.cmd('u', 'UNSELECT'), /^u OK/m);
  assert.match(await c.cmd('e2', 'ENABLE imap4rev2 X-NONE'), /^\* ENABLED IMAP4rev2\r\ne2 OK/m);
  const pre = await Raw.open(h, t);
  assert.match(await pre.cmd('p', 'ENABLE IMAP4rev2'), /^p BAD /m);
});

test('rev1 sessions are unchanged: RECENT, \\Recent, SEARCH, modified UTF-7', GUARD, async (t) => {
  const h = await setup(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('s', 'SELECT INBOX'), /^\* 3 RECENT\r\n/m);
  assert.match(await c.cmd('f', 'FETCH 1 (FLAGS)'), /\\Recent/);
  assert.match(await c.cmd('q', 'SEARCH ALL'), /^\* SEARCH 1 2 3\r\n/m);
  await c.cmd('c', 'CREATE "Entw&APw-rfe"');
  assert.match(await c.cmd('l', 'LIST "" "Entw*"'), /^\* LIST \([^)]*\) "\/" Entw&APw-rfe\r\n/m);
});

test('imapflow enables IMAP4rev2 and works against it; python3 imaplib (rev1) too', GUARD, async (t) => {
  const h = await setup(t);
  const client = new ImapFlow({ host: '127.0.0.1', port: h.port, secure: false, auth: { user: USER, pass: 'wonderland' }, logger: false });
  await client.connect();
  t.after(() => client.close());
  assert.ok(client.enabled.has('IMAP4REV2'), [...client.enabled].join(' ')); // imapflow keeps the name upper-cased
  const lock = await client.getMailboxLock('INBOX');
  try {
    assert.deepEqual(await client.search({ deleted: true }, { uid: true }), [2]);
    const subjects: string[] = [];
    for await (const m of client.fetch('1:*', { envelope: true })) subjects.push(m.envelope?.subject ?? '');
    assert.deepEqual(subjects, ['one', 'two', 'three']);
  } finally {
    lock.release();
  }
  const st = await client.status('INBOX', { messages: true });
  assert.ok(st !== false && st.messages === 3);
  await client.mailboxCreate('Ärger');
  assert.ok((await client.list()).some((b) => b.path === 'Ärger'));
  await client.logout();
  await expectPythonOk(
    h.port,
    `import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
assert 'IMAP4REV2' in m.capabilities, m.capabilities
m.login('${USER}', 'wonderland')
typ, data = m.select('INBOX')
assert typ == 'OK' and data == [b'3'], data
typ, data = m.search(None, 'ALL')
assert data == [b'1 2 3'], data
print('ok')
`,
  );
});
