// UTF8=ACCEPT (RFC 6855) over real sockets: one folder under its modified UTF-7 and its UTF-8 name, APPEND UTF8,
// SEARCH, ENABLE's state rule, and an SMTPUTF8 message delivered through spamgate's SMTP as legacy and UTF-8
// clients see its ENVELOPE; python3 imaplib and imapflow as real clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { TEST_PASSWORD } from '../helpers/gateway.ts';
import { runPython } from '../helpers/python.ts';
import { gatewayWithSmtputf8Mail } from '../helpers/smtputf8-delivery.ts';
import { startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const NAME = 'Überweisungen/日本';
const MUTF7 = '&ANw-berweisungen/&ZeVnLA-';
/** UTF-8 text as the latin1 the raw connection reads it as. */
const wire = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const SUBJECT = 'Grüße aus 日本';
const MESSAGE = `From: Jörg <jörg@bücher.example>\r\nTo: alice@example.org\r\nSubject: ${SUBJECT}\r\nMessage-ID: <u1@bücher.example>\r\n\r\nHallo\r\n`;
/** No byte above 0x7e between double quotes: what a client without UTF8=ACCEPT may be sent (RFC 6855 §3). */
const QUOTED_8BIT = /"(?:[^"\\\r\n]|\\.)*[\x80-\xff](?:[^"\\\r\n]|\\.)*"/;

test('raw: one folder under both names, ENABLE only before SELECT, APPEND UTF8, SEARCH', GUARD, async (t) => {
  const h = await startImap(t);
  const legacy = await loggedIn(h, t);
  assert.match(await legacy.cmd('C1', `CREATE "${MUTF7}"`), /^C1 OK/m);
  const old = await legacy.cmd('L1', 'LIST "" "*"');
  assert.ok(old.includes(`"/" ${MUTF7}\r\n`), old);
  assert.ok(!/[\x80-\xff]/.test(old), 'a legacy client sees modified UTF-7 only');

  const u = await loggedIn(h, t);
  assert.match(await u.cmd('C2', 'CAPABILITY'), /UTF8=ACCEPT/);
  // APPEND UTF8 before ENABLE is BAD (RFC 6855 §4)
  const early = Buffer.from(MESSAGE);
  assert.match(await u.send('A0', Buffer.concat([Buffer.from(`A0 APPEND INBOX UTF8 (~{${early.length}+}\r\n`), early, Buffer.from(')\r\n')])), /^A0 BAD/m);
  assert.match(await u.cmd('S0', 'SELECT INBOX'), /^S0 OK/m);
  assert.match(await u.cmd('E0', 'ENABLE UTF8=ACCEPT'), /^E0 BAD/m, 'RFC 6855 §3: only in the authenticated state');
  assert.match(await u.cmd('U0', 'UNSELECT'), /^U0 OK/m);
  const en = await u.cmd('E1', 'ENABLE UTF8=ACCEPT');
  assert.match(en, /^\* ENABLED UTF8=ACCEPT\r\n/m);
  assert.match(en, /^E1 OK/m);

  const list = await u.cmd('L2', 'LIST "" "*"');
  assert.ok(list.includes(`"/" "${wire(NAME)}"\r\n`), list);
  assert.ok(!list.includes(MUTF7), 'RFC 6855 §3: no modified UTF-7 once enabled');
  // the modified UTF-7 spelling is now just a name with "&" in it: no such folder
  assert.match(await u.cmd('S1', `STATUS "${MUTF7}" (MESSAGES)`), /^S1 NO/m);
  const msg = Buffer.from(MESSAGE);
  const app = await u.send('A1', Buffer.concat([Buffer.from(`A1 APPEND "${NAME}" (\\Seen) UTF8 (~{${msg.length}+}\r\n`), msg, Buffer.from(')\r\n')]));
  assert.match(app, /^A1 OK \[APPENDUID \d+ 1\]/m);
  const st = await u.cmd('S2', `STATUS "${NAME}" (MESSAGES)`);
  assert.ok(st.includes(`* STATUS "${wire(NAME)}" (MESSAGES 1)`), st);
  assert.match(await u.cmd('S3', `SELECT "${NAME}"`), /^\* 1 EXISTS/m);
  assert.match(await u.cmd('F1', 'FETCH 1 ENVELOPE'), new RegExp(`ENVELOPE \\(NIL "${wire(SUBJECT)}" \\(\\("${wire('Jörg')}" NIL "${wire('jörg')}" "${wire('bücher.example')}"\\)\\)`));
  assert.match(await u.cmd('Q1', `SEARCH SUBJECT "日本"`), /^\* SEARCH 1\r\n/m);
  assert.match(await u.cmd('Q2', 'SEARCH CHARSET UTF-8 SUBJECT "x"'), /^Q2 BAD/m, 'RFC 6855 §3: no CHARSET once enabled');
  assert.match(await u.cmd('Q3', 'SORT (SUBJECT) US-ASCII ALL'), /^Q3 BAD/m, 'SORT: only UTF-8');
  assert.match(await u.cmd('Q4', 'SORT (SUBJECT) UTF-8 ALL'), /^\* SORT 1\r\n/m);
  // "&" is a plain character after ENABLE: a legacy client sees it as "&-"
  assert.match(await u.cmd('C3', 'CREATE "A&B"'), /^C3 OK/m);

  // the legacy session: the same folder and message, under the old name, and no raw 8-bit in a quoted string
  const again = await legacy.cmd('L3', 'LIST "" "*"');
  assert.ok(again.includes('"/" A&-B\r\n'), again);
  assert.match(await legacy.cmd('S4', `SELECT "${MUTF7}"`), /^\* 1 EXISTS/m);
  const env = await legacy.cmd('F2', 'FETCH 1 (ENVELOPE BODYSTRUCTURE)');
  assert.doesNotMatch(env, QUOTED_8BIT, env);
  assert.ok(env.includes(`"=?utf-8?b?${Buffer.from(SUBJECT).toString('base64')}?="`), env);
  const lit = Buffer.from('日本');
  assert.match(await legacy.send('Q5', Buffer.concat([Buffer.from(`Q5 SEARCH CHARSET UTF-8 SUBJECT {${lit.length}+}\r\n`), lit, Buffer.from('\r\n')])), /^\* SEARCH 1\r\n/m);
});

test('SMTPUTF8 mail through spamgate: ENVELOPE downgraded before ENABLE, UTF-8 after', GUARD, async (t) => {
  const gw = await gatewayWithSmtputf8Mail(t, MESSAGE.replace('alice@example.org', 'postmaster@localhost'));

  const port = { port: gw.imapPort ?? 0 };
  const legacy = await loggedIn(port, t, 'postmaster@localhost', TEST_PASSWORD);
  assert.match(await legacy.cmd('S1', 'SELECT INBOX'), /^\* 1 EXISTS/m);
  const old = await legacy.cmd('F1', 'FETCH 1 ENVELOPE');
  assert.ok(!/[\x80-\xff]/.test(old), `a legacy client's ENVELOPE is 7-bit: ${old}`);
  assert.ok(old.includes(`"=?utf-8?b?${Buffer.from(SUBJECT).toString('base64')}?="`), old);
  // a UTF-8 local part has no 7-bit form: an empty group named by encoded words of the address (RFC 6857's way)
  assert.match(old, /\(\(NIL NIL "=\?utf-8\?b\?[A-Za-z0-9+/=]+\?=" NIL\)\(NIL NIL NIL NIL\)\)/);

  const u = await loggedIn(port, t, 'postmaster@localhost', TEST_PASSWORD);
  assert.match(await u.cmd('E1', 'ENABLE UTF8=ACCEPT'), /^\* ENABLED UTF8=ACCEPT/m);
  assert.match(await u.cmd('S2', 'EXAMINE INBOX'), /^S2 OK/m);
  const env = await u.cmd('F2', 'FETCH 1 ENVELOPE');
  assert.ok(env.includes(`"${wire(SUBJECT)}"`), env);
  assert.ok(env.includes(`(("${wire('Jörg')}" NIL "${wire('jörg')}" "${wire('bücher.example')}"))`), env);
});

interface PyResult {
  before: string[];
  enabled: string;
  after: string[];
  select: string;
  search: string;
  subject: string;
}

const PY = `
import imaplib, json, sys, email.header
port = int(sys.argv[1])
m = imaplib.IMAP4('127.0.0.1', port)
m.login('alice@example.org', 'wonderland')
before = [x.decode('ascii') for x in m.list()[1]]
typ, _ = m.enable('UTF8=ACCEPT')
after = [x.decode('utf-8') for x in m.list()[1]]
typ2, _ = m.select('"${NAME}"')
typ3, ids = m.search(None, 'SUBJECT', '"日本"')
typ4, data = m.fetch(ids[0].split()[0], '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
subject = data[0][1].decode('utf-8').strip()
m.logout()
print(json.dumps({'before': before, 'enabled': typ, 'after': after, 'select': typ2, 'search': ids[0].decode(), 'subject': subject}))
`;

test('python3 imaplib: enable("UTF8=ACCEPT") turns names and strings to UTF-8', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.createMailbox('alice@example.org', NAME);
  await h.store.append('alice@example.org', NAME, Buffer.from(MESSAGE), { flags: [] });
  const r = await runPython<PyResult>(PY, [String(h.port)]);
  assert.ok(r.before.some((l) => l.endsWith(MUTF7)), JSON.stringify(r.before));
  assert.equal(r.enabled, 'OK');
  assert.ok(r.after.some((l) => l.endsWith(`"${NAME}"`)), JSON.stringify(r.after));
  assert.equal(r.select, 'OK');
  assert.equal(r.search, '1');
  assert.equal(r.subject, `Subject: ${SUBJECT}`);
});

test('imapflow: enables UTF8=ACCEPT by itself and sees UTF-8 names, envelopes and search', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.createMailbox('alice@example.org', NAME);
  await h.store.append('alice@example.org', NAME, Buffer.from(MESSAGE), { flags: [] });
  const client = new ImapFlow({ host: '127.0.0.1', port: h.port, secure: false, auth: { user: 'alice@example.org', pass: 'wonderland' }, logger: false, disableAutoIdle: true });
  await client.connect();
  t.after(() => client.close());
  assert.ok(client.enabled.has('UTF8=ACCEPT'), [...client.enabled].join(' '));
  const boxes = await client.list();
  assert.ok(boxes.some((b) => b.path === NAME), boxes.map((b) => b.path).join(', '));
  const lock = await client.getMailboxLock(NAME);
  try {
    const msg = await client.fetchOne('1', { envelope: true });
    assert.ok(msg);
    assert.equal(msg.envelope?.subject, SUBJECT);
    assert.equal(msg.envelope?.from?.[0]?.address, 'jörg@bücher.example');
    assert.deepEqual(await client.search({ subject: '日本' }), [1]);
  } finally {
    lock.release();
  }
});

test('raw: a name in NFD is not a second folder beside its NFC spelling, from either wire form', GUARD, async (t) => {
  const h = await startImap(t);
  const u = await loggedIn(h, t);
  assert.match(await u.cmd('E1', 'ENABLE UTF8=ACCEPT'), /^E1 OK/m);
  assert.match(await u.cmd('C1', 'CREATE "\u00dc"'), /^C1 OK/m);
  // RFC 6855 §3: names comply with Net-Unicode (RFC 5198 §2, NFC); "U" + U+0308 looks the same and is refused
  assert.match(await u.cmd('C2', 'CREATE "U\u0308"'), /^C2 NO/m);
  assert.match(await u.cmd('C3', 'CREATE "Neu"'), /^C3 OK/m);
  assert.match(await u.cmd('R1', 'RENAME "Neu" "A\u0308"'), /^R1 NO/m);
  const legacy = await loggedIn(h, t);
  assert.match(await legacy.cmd('C4', 'CREATE "U&Awg-"'), /^C4 NO/m, 'the modified UTF-7 of the NFD spelling');
  const list = await legacy.cmd('L1', 'LIST "" "*"');
  const names = list.split('\r\n').filter((l) => l.startsWith('* LIST')).map((l) => l.slice(l.lastIndexOf(' ') + 1));
  assert.deepEqual(names.filter((n) => !['INBOX', 'Drafts', 'Junk', 'Sent', 'Trash'].includes(n)).sort(), ['&ANw-', 'Neu']);
});

test('raw: a legacy client cannot create a name that UTF-8 clients may not be sent (C1 controls, U+2028)', GUARD, async (t) => {
  const h = await startImap(t);
  const legacy = await loggedIn(h, t);
  // RFC 6855 §3: no U+0080-U+009F, U+2028, U+2029 in names; in modified UTF-7 they would reach UTF-8 clients as such
  assert.match(await legacy.cmd('C1', 'CREATE "a&AIU-b"'), /^C1 NO/m);
  assert.match(await legacy.cmd('C2', 'CREATE "a&ICg-b"'), /^C2 NO/m);
  assert.match(await legacy.cmd('C3', 'CREATE "x"'), /^C3 OK/m);
  assert.match(await legacy.cmd('R1', 'RENAME "x" "a&ICk-b"'), /^R1 NO/m);
  const u = await loggedIn(h, t);
  assert.match(await u.cmd('E1', 'ENABLE UTF8=ACCEPT'), /^E1 OK/m);
  assert.doesNotMatch(await u.cmd('L1', 'LIST "" "*"'), /\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]/);
});

test('raw: a refused name is told in 7-bit text, even when its modified UTF-7 decoded to UTF-8', GUARD, async (t) => {
  const h = await startImap(t);
  const legacy = await loggedIn(h, t);
  // resp-text is TEXT-CHAR (RFC 3501 §9), 7-bit; the store's reason quotes the name it refused
  const r = await legacy.cmd('C1', `CREATE "&ANw-/../&ZeU-"`);
  assert.match(r, /^C1 NO \[CANNOT\]/m);
  assert.doesNotMatch(r, /[\x80-\xff]/, r);
  assert.match(r, /\\u00dc/, 'the character is still told');
});
