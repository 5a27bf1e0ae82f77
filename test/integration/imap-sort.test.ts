// SORT and THREAD (RFC 5256) over real sockets: every sort key and REVERSE, ties, the Date fallback, base subjects,
// UID forms, search keys, BADCHARSET, CONDSTORE's MODSEQ, both THREAD algorithms on a crafted set, malformed
// commands; then python3's imaplib sort() and thread() against the same server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImapServer } from '../../src/imap/server.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { expectPythonOk, startImap, USERS, type Harness } from './imap-harness.ts';
import { loggedIn, Raw } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const USER = 'alice@example.org';
const day = (d: string): number => Date.parse(`${d}T12:00:00Z`);

interface Msg {
  headers: string[];
  body?: number;
  internal: string;
}

/** INBOX: a placeholder expunged first, so UID = sequence number + 1. */
const INBOX: Msg[] = [
  { headers: ['From: Zed <zed@x.org>', 'To: bob@x.org', 'Cc: Carol <carol@x.org>', 'Subject: Re: [list] Apples', 'Date: Wed, 3 Jan 2024 10:00:00 +0000', 'Message-ID: <m1@x>'], body: 5000, internal: '2024-02-05' },
  { headers: ['From: amy@x.org', 'To: Dave <dave@x.org>', 'Subject: bananas (fwd)', 'Date: Mon, 1 Jan 2024 10:00:00 +0000', 'Message-ID: <m2@x>'], body: 1000, internal: '2024-02-01' },
  // no Date: the internal date is the sent date (RFC 5256 §2.2); an encoded "[fwd: cherries]" subject
  { headers: ['From: "Mike" <MIKE@x.org>', 'To: amy@x.org', 'Subject: =?utf-8?q?=5Bfwd=3A_cherries=5D?=', 'Message-ID: <m3@x>'], body: 3000, internal: '2024-01-02' },
  // the same Date as message 1: ties go by sequence number
  { headers: ['From: bob@x.org', 'Cc: abe@x.org', 'Subject: apples', 'Date: Wed, 3 Jan 2024 11:00:00 +0100', 'Message-ID: <m4@x>'], body: 4000, internal: '2024-02-03' },
  // a garbled Date and no From: internal date, empty mailbox
  { headers: ['Subject: Fwd: Bananas', 'Date: the day after tomorrow', 'Message-ID: <m5@x>'], body: 2000, internal: '2024-01-04' },
];

/** A set for THREAD: a reply chain with a branch, two children of a missing message, a reply and a second original
 * joined by subject, and a References loop. Placeholder first, so UID = sequence number + 1. */
const LISTS: Msg[] = [
  ['<a@x>', '', 'topic'],
  ['<b@x>', 'References: <a@x>', 'Re: topic'],
  ['<c@x>', 'References: <a@x> <b@x>', 'Re: topic'],
  ['<d@x>', 'In-Reply-To: <a@x>', 'Re: topic'],
  ['<e@x>', 'References: <missing@x>', 'other'],
  ['<f@x>', 'References: <missing@x>', 'Re: other'],
  ['<g@x>', '', 'news'],
  ['<h@x>', '', 'Re: news'],
  ['<i@x>', 'References: <j@x>', 'loop'],
  ['<j@x>', 'References:\r\n <i@x>', 'Re: loop'],
  ['<k@x>', '', 'news'],
].map(([id, refs, subject], i) => ({
  headers: [`From: p${i}@x.org`, `Subject: ${subject}`, `Date: ${i + 1} Mar 2024 08:00:00 +0000`, `Message-ID: ${id}`, ...(refs ? [refs] : [])],
  internal: '2024-04-01',
}));

async function fill(h: Harness, mailbox: string, msgs: readonly Msg[]): Promise<void> {
  const first = await h.store.append(USER, mailbox, Buffer.from('Subject: placeholder\r\n\r\nx\r\n'));
  await h.store.expunge(USER, mailbox, [first.uid]);
  for (const m of msgs) {
    const raw = `${m.headers.join('\r\n')}\r\n\r\n${'b'.repeat(m.body ?? 10)}\r\n`;
    await h.store.append(USER, mailbox, Buffer.from(raw), { internalDate: day(m.internal) });
  }
}

async function setup(t: Parameters<typeof startImap>[0]): Promise<Harness> {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.createMailbox(USER, 'Lists');
  await fill(h, 'INBOX', INBOX);
  await fill(h, 'Lists', LISTS);
  return h;
}

const untagged = (text: string, what: string): string => {
  const m = new RegExp(`^\\* ${what}(.*)\\r$`, 'm').exec(text);
  assert.ok(m, `no ${what} response in ${JSON.stringify(text)}`);
  return (m[1] ?? '').trim();
};

async function sortOf(c: Raw, args: string): Promise<string> {
  const res = await c.cmd('s', args);
  assert.match(res, /^s OK /m, res);
  return untagged(res, 'SORT');
}

test('SORT and UID SORT: every key, REVERSE, several keys, ties, Date fallback, search keys', GUARD, async (t) => {
  const h = await setup(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('x', 'SELECT INBOX'), /^x OK/m);
  // base subjects: apples 1 4, bananas 2 5, cherries 3
  assert.equal(await sortOf(c, 'SORT (SUBJECT) UTF-8 ALL'), '1 4 2 5 3');
  assert.equal(await sortOf(c, 'SORT (REVERSE SUBJECT) UTF-8 ALL'), '3 2 5 1 4');
  // sent dates: 2 (Jan 1), 3 (no Date: internal Jan 2), 1 and 4 (the same time, by sequence), 5 (garbled: internal Jan 4)
  assert.equal(await sortOf(c, 'SORT (DATE) UTF-8 ALL'), '2 3 1 4 5');
  assert.equal(await sortOf(c, 'SORT (REVERSE DATE) UTF-8 ALL'), '5 1 4 3 2');
  assert.equal(await sortOf(c, 'SORT (ARRIVAL) UTF-8 ALL'), '3 5 2 4 1');
  assert.equal(await sortOf(c, 'SORT (REVERSE ARRIVAL) UTF-8 ALL'), '1 4 2 5 3');
  // first mailbox: "" (none), amy, bob, mike (case folded), zed
  assert.equal(await sortOf(c, 'SORT (FROM) UTF-8 ALL'), '5 2 4 3 1');
  assert.equal(await sortOf(c, 'SORT (TO) UTF-8 ALL'), '4 5 3 1 2');
  assert.equal(await sortOf(c, 'SORT (CC) UTF-8 ALL'), '2 3 5 4 1');
  assert.equal(await sortOf(c, 'SORT (SIZE) UTF-8 ALL'), '2 5 3 4 1');
  assert.equal(await sortOf(c, 'SORT (REVERSE SIZE) US-ASCII ALL'), '1 4 3 5 2');
  assert.equal(await sortOf(c, 'sort (subject reverse date) utf-8 all'), '1 4 5 2 3');
  assert.equal(await sortOf(c, 'SORT (SUBJECT REVERSE ARRIVAL) UTF-8 ALL'), '1 4 2 5 3');
  // UID SORT answers with UIDs
  assert.equal(await sortOf(c, 'UID SORT (SIZE) UTF-8 ALL'), '3 6 4 5 2');
  // search keys restrict the set (cached fields, metadata, and a key that reads the message)
  assert.equal(await sortOf(c, 'SORT (DATE) US-ASCII SUBJECT apples'), '1 4');
  assert.equal(await sortOf(c, 'SORT (REVERSE SIZE) UTF-8 NOT SUBJECT apples'), '3 5 2');
  assert.equal(await sortOf(c, 'UID SORT (FROM) UTF-8 UID 3:5 LARGER 1500'), '5 4');
  assert.equal(await sortOf(c, 'SORT (DATE) UTF-8 BODY bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 2:*'), '2 3 4 5');
  assert.equal(await sortOf(c, 'SORT (DATE) UTF-8 SUBJECT nothing-like-this'), '');
  assert.match(await c.cmd('e', 'SORT (DATE) UTF-8 SUBJECT nothing-like-this'), /^\* SORT\r$/m);
  // CONDSTORE: a MODSEQ key ends the result with the highest mod-sequence (RFC 7162 §3.1.5), as SEARCH does
  const search = untagged(await c.cmd('m1', 'SEARCH MODSEQ 1'), 'SEARCH');
  const top = /\(MODSEQ (\d+)\)/.exec(search)?.[1];
  assert.ok(top, search);
  assert.equal(await sortOf(c, 'SORT (REVERSE DATE) UTF-8 MODSEQ 1'), `5 1 4 3 2 (MODSEQ ${top})`);
  // keys are kept by UID: after an expunge the sequence numbers are today's, and a new message takes its place
  assert.match(await c.cmd('d', 'STORE 1 +FLAGS.SILENT (\\Deleted)'), /^d OK/m);
  assert.match(await c.cmd('d2', 'EXPUNGE'), /^\* 1 EXPUNGE\r$/m);
  assert.equal(await sortOf(c, 'SORT (SUBJECT) UTF-8 ALL'), '3 1 4 2');
  const add = 'Subject: Re: Aardvark\r\nFrom: ann@x.org\r\n\r\nhi\r\n';
  assert.match(await c.cmd('a', `APPEND INBOX {${add.length}+}\r\n${add}`), /^a OK/m);
  assert.equal(await sortOf(c, 'SORT (SUBJECT) UTF-8 ALL'), '5 3 1 4 2');
  assert.equal(await sortOf(c, 'UID SORT (FROM) UTF-8 ALL'), '6 3 7 5 4');
});

test('SORT: BADCHARSET, malformed commands get BAD and the session goes on; capabilities after login', GUARD, async (t) => {
  const h = await setup(t);
  const pre = await Raw.open(h, t);
  const caps = untagged(await pre.cmd('c', 'CAPABILITY'), 'CAPABILITY');
  assert.doesNotMatch(caps, /SORT|THREAD/, 'not before login');
  const login = await pre.cmd('L', `LOGIN ${USER} wonderland`);
  assert.match(login, /^L OK \[CAPABILITY [^\]]* SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES[ \]]/m);
  assert.match(untagged(await pre.cmd('c2', 'CAPABILITY'), 'CAPABILITY'), / SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES( |$)/);
  assert.match(await pre.cmd('n', 'SORT (DATE) UTF-8 ALL'), /^n BAD /m, 'no mailbox selected');
  assert.match(await pre.cmd('x', 'SELECT INBOX'), /^x OK/m);
  assert.match(await pre.cmd('b1', 'SORT (DATE) KOI8-R ALL'), /^b1 NO \[BADCHARSET \(UTF-8 US-ASCII\)\]/m);
  assert.match(await pre.cmd('b2', 'THREAD REFERENCES ISO-2022-JP ALL'), /^b2 NO \[BADCHARSET \(UTF-8 US-ASCII\)\]/m);
  for (const bad of [
    'SORT DATE UTF-8 ALL',
    'SORT (DATE UTF-8 ALL',
    'SORT () UTF-8 ALL',
    'SORT (FOO) UTF-8 ALL',
    'SORT (REVERSE) UTF-8 ALL',
    'SORT (DATE) ALL',
    'SORT (DATE) UTF-8',
    'SORT (DATE) UTF-8 ',
    'SORT (DATE) UTF-8 NOSUCHKEY',
    'SORT',
    'UID SORT (DATE)',
    'THREAD',
    'THREAD FOO UTF-8 ALL',
    'THREAD REFERENCES',
    'THREAD REFERENCES ALL',
    'THREAD (REFERENCES) UTF-8 ALL',
    'UID THREAD ORDEREDSUBJECT UTF-8 (',
  ]) {
    assert.match(await pre.cmd('B', bad), /^B BAD /m, bad);
    assert.equal(await sortOf(pre, 'SORT (DATE) UTF-8 ALL'), '2 3 1 4 5', `after ${bad}`);
  }
});

test('THREAD REFERENCES and ORDEREDSUBJECT on a crafted set, and UID THREAD', GUARD, async (t) => {
  const h = await setup(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('x', 'SELECT Lists'), /^x OK/m);
  const thread = async (args: string): Promise<string> => {
    const res = await c.cmd('t', args);
    assert.match(res, /^t OK /m, res);
    return untagged(res, 'THREAD');
  };
  // 1 ← 2 ← 3 and 1 ← 4 (In-Reply-To); 5 and 6 under a missing message (a dummy); 8 (a reply) under 7 by subject,
  // and 11 (a second original of that subject) beside it under a dummy; 9 and 10 reference each other
  assert.equal(await thread('THREAD REFERENCES UTF-8 ALL'), '(1 (2 3)(4))((5)(6))((7 8)(11))(10 9)');
  assert.equal(await thread('UID THREAD REFERENCES UTF-8 ALL'), '(2 (3 4)(5))((6)(7))((8 9)(12))(11 10)');
  assert.equal(await thread('THREAD ORDEREDSUBJECT UTF-8 ALL'), '(1 (2)(3)(4))(5 6)(7 (8)(11))(9 10)');
  assert.equal(await thread('UID THREAD ORDEREDSUBJECT US-ASCII ALL'), '(2 (3)(4)(5))(6 7)(8 (9)(12))(10 11)');
  // the search keys pick the set: without message 1 its children hang from a dummy
  assert.equal(await thread('THREAD REFERENCES UTF-8 SUBJECT topic'), '(1 (2 3)(4))');
  assert.equal(await thread('THREAD REFERENCES UTF-8 SUBJECT topic NOT 1'), '((2 3)(4))');
  assert.equal(await thread('thread references utf-8 subject nothing-like-this'), '');
  assert.match(await c.cmd('e', 'THREAD REFERENCES UTF-8 SUBJECT nothing-like-this'), /^\* THREAD\r$/m);
});

test('garbled Date, References, Subject and addresses (a spam folder) never fail SORT or THREAD', GUARD, async (t) => {
  const h = await setup(t);
  const junk = [
    'Date: Mon, 99 Foo 99999 99:99:99 +9999\r\nSubject: =?utf-8?b?!!!?= Re: [[[[\r\nFrom: \"\"\"<<<@@@\r\nReferences: <<<>>> <a@b',
    `Subject: ${'Re: [x] '.repeat(8000)}(fwd)\r\nReferences: ${Array.from({ length: 5000 }, (_, i) => `<r${i}@x>`).join(' ')}\r\nMessage-ID: <r4999@x>`,
    'Subject: \xff\xfe\x00\x01 [fwd: ]\r\nTo: ,,,;;;:::\r\nCc: undisclosed-recipients:;\r\nIn-Reply-To: garbage\r\nMessage-ID: <r0@x>',
    'Date:\r\nMessage-ID: <r0@x>\r\nReferences: <r0@x> <r0@x>',
    'X-Nothing: at all',
    'Subject: =?x-unknown?q?=FF=FE?= =?utf-8?q?=E2=82?=\r\nFrom: =?utf-8?b?////?= <\xc3\x28@x>\r\nDate: 1 Jan 1 00:00:00 -0000',
  ];
  for (const head of junk) await h.store.append(USER, 'Junk', Buffer.from(`${head}\r\n\r\nbody\r\n`, 'latin1'), { internalDate: day('2024-05-01') });
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('x', 'SELECT Junk'), /^x OK/m);
  const all = /^\* SORT( \d+){6}\r$/m;
  for (const key of ['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'REVERSE SUBJECT FROM DATE']) {
    const res = await c.cmd('s', `SORT (${key}) UTF-8 ALL`);
    assert.match(res, all, res);
    assert.match(res, /^s OK/m);
  }
  for (const alg of ['REFERENCES', 'ORDEREDSUBJECT']) {
    const res = await c.cmd('t', `THREAD ${alg} UTF-8 ALL`);
    assert.match(res, /^t OK/m, res);
    const list = untagged(res, 'THREAD');
    assert.deepEqual([...list.matchAll(/\d+/g)].map((m) => Number(m[0])).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6], list);
  }
  assert.equal(await sortOf(c, 'SORT (DATE) UTF-8 SUBJECT fwd'), '2 3', 'no Date (and one empty): the same internal date, by sequence');
});

test('SORT and THREAD send no EXPUNGE (RFC 3501 §7.4.1): an expunge by another session waits for NOOP', GUARD, async (t) => {
  const h = await setup(t);
  const a = await loggedIn(h, t);
  const b = await loggedIn(h, t);
  assert.match(await a.cmd('x', 'SELECT INBOX'), /^x OK/m);
  assert.match(await b.cmd('x', 'SELECT INBOX'), /^x OK/m);
  assert.match(await b.cmd('d', 'STORE 2 +FLAGS.SILENT (\\Deleted)'), /^d OK/m);
  assert.match(await b.cmd('e', 'EXPUNGE'), /^\* 2 EXPUNGE\r$/m);
  const sorted = await a.cmd('s', 'SORT (DATE) UTF-8 ALL');
  assert.doesNotMatch(sorted, /EXPUNGE/);
  assert.match(sorted, /^\* SORT 3 1 4 5\r$/m, 'the expunged message is left out; the numbers are the view the client has');
  const threaded = await a.cmd('t', 'THREAD ORDEREDSUBJECT UTF-8 ALL');
  assert.doesNotMatch(threaded, /EXPUNGE/);
  assert.match(await a.cmd('n', 'NOOP'), /^\* 2 EXPUNGE\r$/m);
  assert.equal(await sortOf(a, 'SORT (DATE) UTF-8 ALL'), '2 1 3 4');
});

test('a store without a header cache: SORT and THREAD read the header blocks', GUARD, async (t) => {
  const h = await setup(t);
  const store = new Proxy(h.store, { get: (target, key, receiver) => (key === 'headerFields' ? undefined : Reflect.get(target, key, receiver)) });
  const server = createImapServer({
    store,
    authenticate: async (user, pass) => (USERS[user] === pass ? user : undefined),
    hostname: 'imap.test',
    registry: createRegistry(false),
    log: silentLogger,
    clock: systemClock,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const c = await loggedIn({ ...h, server, port }, t);
  assert.match(await c.cmd('x', 'SELECT INBOX'), /^x OK/m);
  assert.equal(await sortOf(c, 'SORT (SUBJECT) UTF-8 ALL'), '1 4 2 5 3');
  assert.equal(await sortOf(c, 'SORT (DATE) UTF-8 ALL'), '2 3 1 4 5');
  assert.equal(await sortOf(c, 'SORT (FROM) UTF-8 ALL'), '5 2 4 3 1');
  assert.match(await c.cmd('y', 'SELECT Lists'), /^y OK/m);
  const res = await c.cmd('t', 'THREAD REFERENCES UTF-8 ALL');
  assert.equal(untagged(res, 'THREAD'), '(1 (2 3)(4))((5)(6))((7 8)(11))(10 9)', 'a folded References line too');
});

test('python3 imaplib: sort() and thread()', GUARD, async (t) => {
  const h = await setup(t);
  const script = String.raw`
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'wonderland')
typ, data = M.capability(); assert b' SORT ' in data[0] and b'THREAD=REFERENCES' in data[0], data
M.select('INBOX')
typ, data = M.sort('(REVERSE DATE)', 'UTF-8', 'ALL'); assert typ == 'OK' and data == [b'5 1 4 3 2'], data
typ, data = M.sort('(SUBJECT)', 'UTF-8', 'NOT', 'FROM', 'zed'); assert data == [b'4 2 5 3'], data
typ, data = M.uid('SORT', '(FROM)', 'UTF-8', 'ALL'); assert data == [b'6 3 5 4 2'], data
typ, data = M.sort('(DATE)', 'KOI8-R', 'ALL'); assert typ == 'NO' and b'[BADCHARSET (UTF-8 US-ASCII)]' in data[0], (typ, data)
M.select('Lists')
typ, data = M.thread('REFERENCES', 'UTF-8', 'ALL'); assert data == [b'(1 (2 3)(4))((5)(6))((7 8)(11))(10 9)'], data
typ, data = M.thread('ORDEREDSUBJECT', 'UTF-8', 'SINCE', '1-Jan-2024'); assert data == [b'(1 (2)(3)(4))(5 6)(7 (8)(11))(9 10)'], data
typ, data = M.uid('THREAD', 'REFERENCES', 'UTF-8', 'SUBJECT', 'loop'); assert data == [b'(11 10)'], data
try:
    M.thread('XYZ', 'UTF-8', 'ALL'); raise SystemExit('unknown algorithm accepted')
except imaplib.IMAP4.error:
    pass
typ, data = M.noop(); assert typ == 'OK'
M.logout()
print('ok')
`;
  await expectPythonOk(h.port, script);
});
