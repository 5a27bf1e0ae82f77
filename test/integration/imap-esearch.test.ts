// ESEARCH (RFC 4731), ESORT (RFC 5267) and SEARCHRES (RFC 5182) over real sockets: the exact ESEARCH replies for
// every result option, empty results, UID forms, MODSEQ; "$" saved by SEARCH and SORT and used by FETCH, STORE,
// SEARCH, COPY, MOVE and UID EXPUNGE; the resets on a failed search, SELECT, CLOSE and UNSELECT; malformed
// commands get BAD and the session goes on; then python3's imaplib.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { expectPythonOk, startImap, type Harness } from './imap-harness.ts';
import { loggedIn, type Raw } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const USER = 'alice@example.org';

/**
 * INBOX: a placeholder expunged first, so UID = sequence number + 1. Messages 2, 4 and 5 are \Flagged; subjects
 * sort as 3 (apple) 6 (banana) 1 (cherry) 5 (date) 2 (elder) 4 (fig).
 */
const SUBJECTS = ['cherry', 'elder', 'apple', 'fig', 'date', 'banana'];
const FLAGGED = new Set([2, 4, 5]);

async function setup(t: Parameters<typeof startImap>[0]): Promise<Harness> {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Archive');
  const first = await h.store.append(USER, 'INBOX', Buffer.from('Subject: placeholder\r\n\r\nx\r\n'));
  await h.store.expunge(USER, 'INBOX', [first.uid]);
  for (const [i, subject] of SUBJECTS.entries()) {
    const raw = `From: p${i}@x.org\r\nSubject: ${subject}\r\nDate: ${i + 1} Mar 2024 08:00:00 +0000\r\nMessage-ID: <m${i}@x>\r\n\r\nbody ${i}\r\n`;
    await h.store.append(USER, 'INBOX', Buffer.from(raw), { flags: FLAGGED.has(i + 1) ? ['\\Flagged'] : [] });
  }
  return h;
}

async function selected(t: TestContext): Promise<{ h: Harness; c: Raw }> {
  const h = await setup(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  return { h, c };
}

/** The untagged lines of a reply, without the tagged completion. */
const untagged = (text: string): string[] => text.split('\r\n').filter((l) => l.startsWith('* '));

/** Sends a command that must succeed; returns its untagged lines. */
async function ok(c: Raw, tag: string, line: string): Promise<string[]> {
  const res = await c.cmd(tag, line);
  assert.match(res, new RegExp(`^${tag} OK`, 'm'), `${line}: ${res}`);
  return untagged(res);
}

/** The sequence numbers a FETCH of `set` names, in order. */
async function fetched(c: Raw, set: string, uid = false): Promise<number[]> {
  const lines = await ok(c, 'f', `${uid ? 'UID ' : ''}FETCH ${set} (UID)`);
  return lines.map((l) => Number(/^\* (\d+) FETCH/.exec(l)?.[1]));
}

test('capabilities: ESEARCH and SEARCHRES before and after login, ESORT with SORT after login', GUARD, async (t) => {
  const h = await setup(t);
  const c = await loggedIn(h, t);
  const caps = (await ok(c, 'c', 'CAPABILITY'))[0] ?? '';
  for (const cap of ['ESEARCH', 'SEARCHRES', 'ESORT']) assert.ok(caps.split(' ').includes(cap), `${cap} in ${caps}`);
});

test('ESEARCH: MIN MAX ALL COUNT, UID form, RETURN () as ALL, empty results, CHARSET after RETURN', GUARD, async (t) => {
  const { c } = await selected(t);
  assert.deepEqual(await ok(c, 'a1', 'SEARCH RETURN (MIN MAX COUNT) ALL'), ['* ESEARCH (TAG "a1") MIN 1 MAX 6 COUNT 6']);
  assert.deepEqual(await ok(c, 'a2', 'SEARCH RETURN (ALL) FLAGGED'), ['* ESEARCH (TAG "a2") ALL 2,4:5']);
  assert.deepEqual(await ok(c, 'a3', 'UID SEARCH RETURN (ALL COUNT) 1:3,5:6'), ['* ESEARCH (TAG "a3") UID ALL 2:4,6:7 COUNT 5']);
  assert.deepEqual(await ok(c, 'a4', 'SEARCH RETURN () UNFLAGGED'), ['* ESEARCH (TAG "a4") ALL 1,3,6'], 'RFC 4731 §3.1: () means ALL');
  assert.deepEqual(await ok(c, 'a5', 'UID SEARCH RETURN (MIN MAX) FLAGGED'), ['* ESEARCH (TAG "a5") UID MIN 3 MAX 6']);
  // nothing matched: MIN, MAX and ALL are left out, COUNT is 0, and the response is still sent
  assert.deepEqual(await ok(c, 'a6', 'SEARCH RETURN (MIN MAX ALL COUNT) KEYWORD none'), ['* ESEARCH (TAG "a6") COUNT 0']);
  assert.deepEqual(await ok(c, 'a7', 'SEARCH RETURN (MIN) KEYWORD none'), ['* ESEARCH (TAG "a7")']);
  assert.deepEqual(await ok(c, 'a8', 'SEARCH RETURN (COUNT) CHARSET UTF-8 SUBJECT an'), ['* ESEARCH (TAG "a8") COUNT 1']);
  // a tag is a quoted string in the response
  assert.deepEqual(await ok(c, 'a]9', 'SEARCH RETURN (MAX) 1:2'), ['* ESEARCH (TAG "a]9") MAX 2']);
  // the classic response without RETURN
  assert.deepEqual(await ok(c, 'b1', 'SEARCH FLAGGED'), ['* SEARCH 2 4 5']);
});

test('ESEARCH with MODSEQ: the highest mod-sequence of the messages named (RFC 4731 §3.2)', GUARD, async (t) => {
  const { c } = await selected(t);
  await ok(c, 'm0', 'STORE 3 +FLAGS (\\Seen)');
  const modseqs = new Map<number, number>();
  for (const l of await ok(c, 'm1', 'FETCH 1:* (MODSEQ)')) {
    const m = /^\* (\d+) FETCH \(.*MODSEQ \((\d+)\)/.exec(l);
    if (m) modseqs.set(Number(m[1]), Number(m[2]));
  }
  const top = Math.max(...modseqs.values());
  assert.equal(modseqs.get(3), top, 'the STORE made message 3 the newest change');
  assert.deepEqual(await ok(c, 'm2', 'SEARCH RETURN (COUNT) MODSEQ 1'), [`* ESEARCH (TAG "m2") COUNT 6 MODSEQ ${top}`]);
  assert.deepEqual(await ok(c, 'm3', 'SEARCH RETURN (MIN) MODSEQ 1'), [`* ESEARCH (TAG "m3") MIN 1 MODSEQ ${modseqs.get(1)}`]);
  assert.deepEqual(await ok(c, 'm4', 'SEARCH RETURN (ALL) MODSEQ 1 KEYWORD none'), ['* ESEARCH (TAG "m4")']);
});

test('ESEARCH and ESORT: malformed RETURN gets BAD and the session goes on', GUARD, async (t) => {
  const { c } = await selected(t);
  for (const bad of ['SEARCH RETURN (BOGUS) ALL', 'SEARCH CHARSET UTF-8 RETURN (MIN) ALL', 'SEARCH RETURN ("MIN") ALL', 'SEARCH RETURN (MIN (x)) ALL', 'SEARCH RETURN MIN ALL', 'SEARCH RETURN (MIN ALL', 'SEARCH RETURN (MIN)', 'SEARCH RETURN (MIN) ', 'SEARCH RETURN', 'SORT RETURN (COUNT) UTF-8 ALL', 'SORT RETURN (FOO) (DATE) UTF-8 ALL', 'UID SEARCH RETURN (SAVE) UID 1,$', 'SEARCH $:3', 'FETCH $,1 (UID)', 'FETCH $$ (UID)']) {
    const res = await c.cmd('x', bad);
    assert.match(res, /^x BAD /m, `${bad}: ${res}`);
    assert.doesNotMatch(res, /ESEARCH/, bad);
  }
  assert.deepEqual(await ok(c, 'n', 'SEARCH RETURN (COUNT) ALL'), ['* ESEARCH (TAG "n") COUNT 6']);
});

test('ESORT: MIN and MAX in sort order, ALL keeps the sort order, UID form', GUARD, async (t) => {
  const { c } = await selected(t);
  assert.deepEqual(await ok(c, 'o1', 'SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL'), ['* ESEARCH (TAG "o1") MIN 3 MAX 4 ALL 3,6,1,5,2,4 COUNT 6']);
  assert.deepEqual(await ok(c, 'o2', 'UID SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 ALL'), ['* ESEARCH (TAG "o2") UID ALL 7,6,5,4,3,2']);
  assert.deepEqual(await ok(c, 'o3', 'SORT RETURN (ALL) (ARRIVAL) US-ASCII 2:5'), ['* ESEARCH (TAG "o3") ALL 2:5']);
  assert.deepEqual(await ok(c, 'o4', 'SORT RETURN () (SUBJECT) UTF-8 KEYWORD none'), ['* ESEARCH (TAG "o4")']);
  assert.deepEqual(await ok(c, 'o5', 'SORT (SUBJECT) UTF-8 ALL'), ['* SORT 3 6 1 5 2 4'], 'the classic response without RETURN');
});

test('SEARCHRES: SAVE alone sends no ESEARCH; "$" in FETCH, UID FETCH, STORE, SEARCH and UID SEARCH', GUARD, async (t) => {
  const { c } = await selected(t);
  assert.deepEqual(await fetched(c, '$'), [], 'nothing saved yet: "$" is empty');
  assert.deepEqual(await ok(c, 'p1', 'SEARCH RETURN (SAVE) FLAGGED'), [], 'RFC 5182 §2.1: no ESEARCH for SAVE alone');
  assert.deepEqual(await fetched(c, '$'), [2, 4, 5]);
  assert.deepEqual(await fetched(c, '$', true), [2, 4, 5]);
  assert.deepEqual(await ok(c, 'p2', 'STORE $ +FLAGS.SILENT (\\Seen)'), []);
  assert.deepEqual(await ok(c, 'p3', 'SEARCH SEEN'), ['* SEARCH 2 4 5']);
  assert.deepEqual(await ok(c, 'p4', 'SEARCH $ SUBJECT i'), ['* SEARCH 4'], '"$" as a search key');
  assert.deepEqual(await ok(c, 'p5', 'UID SEARCH UID $'), ['* SEARCH 3 5 6'], 'UID "$"');
  assert.deepEqual(await ok(c, 'p6', 'SEARCH NOT $'), ['* SEARCH 1 3 6']);
  // a SEARCH may use "$" and save anew; the ESEARCH tells the new result
  assert.deepEqual(await ok(c, 'p7', 'SEARCH RETURN (SAVE ALL) $ 1:4'), ['* ESEARCH (TAG "p7") ALL 2,4']);
  assert.deepEqual(await fetched(c, '$'), [2, 4]);
  // pipelined: the FETCH sees the result of the SEARCH sent before it (RFC 5182 §2.1)
  c.write('q1 UID SEARCH RETURN (SAVE) SUBJECT apple\r\nq2 FETCH $ (UID)\r\n');
  const piped = await c.send('q2', '');
  assert.match(piped, /^q1 OK/m);
  assert.deepEqual(untagged(piped), ['* 3 FETCH (UID 4)']);
});

test('SEARCHRES: SAVE with MIN and MAX keeps those; with ALL or COUNT everything; SORT saves the set', GUARD, async (t) => {
  const { c } = await selected(t);
  assert.deepEqual(await ok(c, 'r1', 'SEARCH RETURN (SAVE MIN) FLAGGED'), ['* ESEARCH (TAG "r1") MIN 2']);
  assert.deepEqual(await fetched(c, '$'), [2]);
  assert.deepEqual(await ok(c, 'r2', 'SEARCH RETURN (MAX SAVE) FLAGGED'), ['* ESEARCH (TAG "r2") MAX 5']);
  assert.deepEqual(await fetched(c, '$'), [5]);
  await ok(c, 'r3', 'SEARCH RETURN (SAVE MIN MAX) FLAGGED');
  assert.deepEqual(await fetched(c, '$'), [2, 5]);
  assert.deepEqual(await ok(c, 'r4', 'SEARCH RETURN (SAVE MIN COUNT) FLAGGED'), ['* ESEARCH (TAG "r4") MIN 2 COUNT 3']);
  assert.deepEqual(await fetched(c, '$'), [2, 4, 5]);
  // one match is the MAX too (and MODSEQ covers it)
  assert.deepEqual(await ok(c, 'r8', 'SEARCH RETURN (SAVE MAX) SUBJECT fig'), ['* ESEARCH (TAG "r8") MAX 4']);
  assert.deepEqual(await fetched(c, '$'), [4]);
  assert.match((await ok(c, 'r9', 'UID SEARCH RETURN (MAX) MODSEQ 1 SUBJECT fig')).at(-1) ?? '', /^\* ESEARCH \(TAG "r9"\) UID MAX 5 MODSEQ [1-9]\d*$/);
  assert.deepEqual(await ok(c, 'r10', 'SORT RETURN (SAVE MAX) (SUBJECT) UTF-8 SUBJECT apple'), ['* ESEARCH (TAG "r10") MAX 3']);
  assert.deepEqual(await fetched(c, '$'), [3]);
  await ok(c, 'r5', 'SEARCH RETURN (SAVE MIN) KEYWORD none');
  assert.deepEqual(await fetched(c, '$'), []);
  // SORT: MIN is the first in sort order (apple, message 3); the saved set is a set, fetched in mailbox order
  assert.deepEqual(await ok(c, 'r6', 'SORT RETURN (SAVE MIN) (SUBJECT) UTF-8 ALL'), ['* ESEARCH (TAG "r6") MIN 3']);
  assert.deepEqual(await fetched(c, '$'), [3]);
  assert.deepEqual(await ok(c, 'r7', 'UID SORT RETURN (SAVE) (REVERSE SUBJECT) UTF-8 1:3'), []);
  assert.deepEqual(await fetched(c, '$'), [1, 2, 3]);
});

test('SEARCHRES: a failed SEARCH or SORT with SAVE empties "$"; so do SELECT, EXAMINE, CLOSE and UNSELECT', GUARD, async (t) => {
  const { c } = await selected(t);
  const save = async (): Promise<void> => {
    await ok(c, 's', 'SEARCH RETURN (SAVE) FLAGGED');
    assert.deepEqual(await fetched(c, '$'), [2, 4, 5]);
  };
  await save();
  assert.match(await c.cmd('n1', 'SEARCH RETURN (SAVE) CHARSET KOI8-R SUBJECT x'), /^n1 NO \[BADCHARSET/m);
  assert.deepEqual(await fetched(c, '$'), [], 'RFC 5182 §2.1: a SEARCH with SAVE that fails (NO) empties "$"');
  await save();
  assert.match(await c.cmd('n2', 'SEARCH RETURN (SAVE) FROM'), /^n2 BAD/m);
  assert.deepEqual(await fetched(c, '$'), [], 'and one that gets BAD');
  await save();
  assert.match(await c.cmd('n3', 'SORT RETURN (SAVE) (SUBJECT) KOI8-R ALL'), /^n3 NO/m);
  assert.deepEqual(await fetched(c, '$'), [], 'and a SORT');
  await save();
  assert.match(await c.cmd('n4', 'SEARCH FROM'), /^n4 BAD/m);
  assert.deepEqual(await fetched(c, '$'), [2, 4, 5], 'a failed SEARCH without SAVE leaves "$" alone');
  await ok(c, 'n5', 'SEARCH RETURN (COUNT) ALL');
  assert.deepEqual(await fetched(c, '$'), [2, 4, 5], 'as does one without SAVE');
  await ok(c, 'n6', 'SELECT INBOX');
  assert.deepEqual(await fetched(c, '$'), [], 'SELECT');
  await save();
  await ok(c, 'n7', 'EXAMINE INBOX');
  assert.deepEqual(await fetched(c, '$'), [], 'EXAMINE');
  await ok(c, 'n8', 'SELECT INBOX');
  await save();
  await ok(c, 'n9', 'UNSELECT');
  await ok(c, 'n10', 'SELECT INBOX');
  assert.deepEqual(await fetched(c, '$'), [], 'UNSELECT');
  await save();
  await ok(c, 'n11', 'CLOSE');
  await ok(c, 'n12', 'SELECT INBOX');
  assert.deepEqual(await fetched(c, '$'), [], 'CLOSE');
});

test('SEARCHRES: COPY, MOVE and UID EXPUNGE of "$"; expunged messages leave it', GUARD, async (t) => {
  const { c } = await selected(t);
  await ok(c, 'u1', 'SEARCH RETURN (SAVE) FLAGGED');
  const copy = await c.cmd('u2', 'COPY $ Archive');
  assert.match(copy, /^u2 OK \[COPYUID \d+ 3,5:6 1:3\]/m, copy);
  await ok(c, 'u3', 'STORE 4 +FLAGS.SILENT (\\Deleted)');
  const expunged = await ok(c, 'u4', 'UID EXPUNGE $');
  assert.deepEqual(expunged, ['* 4 EXPUNGE']);
  assert.deepEqual(await fetched(c, '$'), [2, 4], 'message 4 (UID 5) left "$"; UID 6 is now message 4');
  const move = await c.cmd('u5', 'UID MOVE $ Archive');
  assert.match(move, /^\* OK \[COPYUID \d+ 3,6 4:5\]/m, move);
  assert.match(move, /^u5 OK/m);
  assert.deepEqual(await fetched(c, '$'), []);
  assert.deepEqual(await ok(c, 'u6', 'SEARCH RETURN (ALL) ALL'), ['* ESEARCH (TAG "u6") ALL 1:3']);
  assert.match(await c.cmd('u7', 'COPY $ Archive'), /^u7 OK/m, 'an empty "$" copies nothing');
});

test('python3 imaplib: UID SEARCH RETURN, SAVE and FETCH $', GUARD, async (t) => {
  const h = await setup(t);
  const script = String.raw`
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'wonderland')
assert 'ESEARCH' in M.capabilities and 'SEARCHRES' in M.capabilities, M.capabilities
M.select('INBOX')
typ, data = M.uid('SEARCH', 'RETURN', '(MIN COUNT SAVE)', 'FLAGGED'); assert typ == 'OK', (typ, data)
typ, data = M._untagged_response(typ, data, 'ESEARCH'); assert data[0].endswith(b' UID MIN 3 COUNT 3'), data
typ, data = M.fetch('$', '(UID)'); assert typ == 'OK' and [d.split(b' ')[0] for d in data] == [b'2', b'4', b'5'], data
try:
    M.uid('SEARCH', 'RETURN', '(BOGUS)', 'ALL'); raise SystemExit('bad option accepted')
except imaplib.IMAP4.error:
    pass
typ, data = M.noop(); assert typ == 'OK'
M.logout()
print('ok')
`;
  await expectPythonOk(h.port, script);
});

test('imapflow: search() with return options reads the ESEARCH reply', GUARD, async (t) => {
  const h = await setup(t);
  const client = new ImapFlow({ host: '127.0.0.1', port: h.port, secure: false, auth: { user: USER, pass: 'wonderland' }, logger: false, disableAutoIdle: true });
  await client.connect();
  t.after(() => client.logout().catch(() => undefined));
  await client.mailboxOpen('INBOX');
  const res = await client.search({ flagged: true }, { uid: true, returnOptions: ['MIN', 'MAX', 'COUNT', 'ALL'] });
  assert.deepEqual(JSON.parse(JSON.stringify(res)), { min: 3, max: 6, count: 3, all: '3,5:6' });
});
