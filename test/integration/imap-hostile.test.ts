// Hostile and malformed IMAP input over real sockets: every bad command gets a tagged BAD/NO, the session and the
// process go on (literal floods, oversize literals, wildcard-heavy LIST patterns, odd names, dates, flags, sections).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { run, runPython } from '../helpers/python.ts';
import { sample, startImap } from './imap-harness.ts';
import { loggedIn, Raw } from './imap-raw.ts';

const USER = 'alice@example.org';
const PASS = 'wonderland';
const GUARD = { timeout: 30_000 };


test('thousands of synchronising literals in one packet are answered without exhausting the stack', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await Raw.open(h, t);
  // Each "{0}" continues the command line with an empty literal; the server answers "+" to each, in a loop.
  const reply = await c.send('A', `A LOGIN {0}\r\n${'{0}\r\n'.repeat(12_000)}\r\n`);
  assert.match(reply, /^A BAD /m);
  assert.equal((reply.match(/^\+ /gm) ?? []).length, 12_001);
  assert.match(await c.cmd('B', 'NOOP'), /^B OK/m, 'the session goes on');
  const other = await Raw.open(h, t); // and the process still accepts connections
  assert.match(await other.cmd('C', 'CAPABILITY'), /^C OK/m);
});

test('an oversize LITERAL+ is swallowed with the rest of its command line; no stray untagged BAD', GUARD, async (t) => {
  const h = await startImap(t, { limits: { maxLiteralBytes: 1000 } });
  const c = await loggedIn(h, t);
  const big = 'x'.repeat(5000);
  const reply = await c.send('B', `A APPEND INBOX {5000+}\r\n${big} (\\Seen) {3+}\r\nabc\r\nB NOOP\r\n`);
  assert.match(reply, /^A NO \[TOOBIG\]/m);
  assert.doesNotMatch(reply, /^\* BAD/m, 'neither the trailing text nor its literal is read as a command');
  assert.match(reply, /^B OK/m);
  // Several literals of one command count together against the limit (each fits: LIMIT, not TOOBIG).
  const many = await c.send('D', `C LOGIN {600+}\r\n${'a'.repeat(600)} {600+}\r\n${'b'.repeat(600)}\r\nD NOOP\r\n`);
  assert.match(many, /^C NO \[LIMIT\]/m);
  assert.match(many, /^D OK/m);
  assert.doesNotMatch(many, /^\* BAD/m);
  // An over-long line ending in a LITERAL+ loses its literal too.
  const long = await c.send('F', `E NOOP ${'y'.repeat(70_000)} {5+}\r\nhello\r\nF NOOP\r\n`);
  assert.match(long, /^E BAD Command line too long/m);
  assert.doesNotMatch(long, /^\* BAD/m);
  assert.match(long, /^F OK/m);
});

test('before login a literal is limited to what LOGIN needs; after login APPEND may be large', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await Raw.open(h, t);
  const size = 70_000;
  const pre = await c.send('B', `A LOGIN {${size}+}\r\n${'p'.repeat(size)} x\r\nB NOOP\r\n`);
  assert.match(pre, /^A NO \[TOOBIG\]/m);
  assert.match(pre, /^B OK/m);
  assert.match(await c.cmd('L', `LOGIN ${USER} {${PASS.length}+}\r\n${PASS}`), /^L OK/m);
  const msg = sample('big', 'z'.repeat(size));
  assert.match(await c.send('P', `P APPEND INBOX {${Buffer.byteLength(msg)}+}\r\n${msg}\r\n`), /^P OK \[APPENDUID/m);
});

test('LIST patterns full of wildcards answer at once and match by the RFC 3501 §6.3.8 rules', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('C', 'CREATE INBOX/sub'), /^C OK/m);
  // A RegExp built from this pattern backtracked for ever and froze every session of the process.
  assert.doesNotMatch(await c.cmd('A', `LIST "" "${'%'.repeat(64)}a"`), /^\* LIST/m);
  assert.doesNotMatch(await c.cmd('B', `LIST "" "${'*a'.repeat(2000)}"`), /^\* LIST/m);
  assert.match(await c.cmd('D', 'LIST "" "inbox/%"'), /^\* LIST \(\\HasNoChildren\) "\/" INBOX\/sub\r\n/m);
  assert.match(await c.cmd('E', 'LIST inbox %'), /"\/" INBOX\/sub\r\n/);
  const percent = await c.cmd('F', 'LIST "" %');
  assert.match(percent, /"\/" INBOX\r\n/);
  assert.doesNotMatch(percent, /INBOX\/sub/, "'%' does not cross the delimiter");
  assert.doesNotMatch(await c.cmd('G', 'LIST "" "&"'), /^\* LIST/m, 'a bad pattern names no mailbox (not the root)');
});

test('mailbox names: one spelling in modified UTF-7; the INBOX prefix is case-insensitive everywhere', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  for (const bad of ['&AGE-', '&2D3-', '&2D0-', '&AOk-&AOk-', 'x&', '..', 'a/../b'])
    assert.match(await c.cmd('A', `CREATE "${bad}"`), /^A NO \[CANNOT\]/m, bad);
  assert.match(await c.cmd('B', 'CREATE "&AOkA6Q-"'), /^B OK/m);
  assert.match(await c.cmd('C', 'CREATE INBOX/sub'), /^C OK/m);
  assert.match(await c.cmd('D', 'APPEND inbox/sub {3+}\r\nabc'), /^D OK \[APPENDUID/m);
  assert.match(await c.cmd('E', 'SELECT INBOX/Sub'), /^E NO \[NONEXISTENT\]/m, 'only the INBOX part ignores case');
  assert.match(await c.cmd('F', 'SELECT inbox/sub'), /^F OK/m);
  assert.match(await c.cmd('G', 'COPY 1 Inbox/sub'), /^G OK \[COPYUID/m);
  assert.match(await c.cmd('H', 'STATUS INBOX/sub (MESSAGES)'), /MESSAGES 2\)/);
});

test('commands without arguments refuse them; a tag may hold "]"; ENABLE needs a capability', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await Raw.open(h, t);
  assert.match(await c.cmd('A', 'NOOP x'), /^A BAD/m);
  assert.match(await c.cmd('B', 'CAPABILITY x'), /^B BAD/m);
  assert.match(await c.cmd('C', 'LOGOUT now'), /^C BAD/m);
  assert.match(await c.cmd('D]', 'NOOP'), /^D\] OK/m);
  assert.match(await c.cmd('N', `AUTHENTICATE PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString('base64')} extra`), /^N BAD/m);
  assert.match(await c.cmd('J', 'ID NIL x'), /^J BAD/m);
  assert.match(await c.cmd('K', 'ID foo'), /^K BAD/m);
  assert.match(await c.cmd('M', 'ID ("name" "test")'), /^\* ID /m);
  assert.match(await c.cmd('L', `LOGIN ${USER} ${PASS}`), /^L OK/m);
  assert.match(await c.cmd('E', 'ENABLE'), /^E BAD/m);
  assert.match(await c.cmd('F', 'IDLE now'), /^F BAD/m);
  assert.match(await c.cmd('G', 'SELECT INBOX'), /^G OK/m);
  assert.match(await c.cmd('H', 'CLOSE please'), /^H BAD/m);
  assert.match(await c.cmd('I', 'CHECK'), /^I OK/m, 'the mailbox is still selected');
  assert.match(await c.cmd('Z', 'LOGOUT'), /^\* BYE/m);
});

test('impossible APPEND date-times and SEARCH dates are syntax errors, not rolled-over days', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  for (const date of ['31-Feb-2021 10:00:00 +0000', '32-Jan-2020 00:00:00 +0000', ' 1-Jan-2020 24:00:00 +0000', ' 1-Jan-2020 10:60:00 +0000', ' 1-Jan-2020 10:00:00 +0099'])
    assert.match(await c.cmd('A', `APPEND INBOX "${date}" {3+}\r\nabc`), /^A BAD/m, date);
  assert.match(await c.cmd('B', 'APPEND INBOX "29-Feb-2020 12:00:00 -0930" {3+}\r\nabc'), /^B OK/m);
  assert.match(await c.cmd('C', 'SELECT INBOX'), /^\* 1 EXISTS/m);
  assert.match(await c.cmd('D', 'FETCH 1 INTERNALDATE'), /INTERNALDATE "29-Feb-2020 21:30:00 \+0000"/);
  assert.match(await c.cmd('E', 'SEARCH BEFORE 32-Jan-2020'), /^E BAD/m);
  assert.match(await c.cmd('F', 'SEARCH ON 29-Feb-2021'), /^F BAD/m);
  assert.match(await c.cmd('G', 'SEARCH ON 29-Feb-2020'), /^\* SEARCH 1\r\n/m);
});

test('STORE answers with the flags the store kept; 8-bit flags are refused', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('P', 'APPEND INBOX {3+}\r\nabc'), /^P OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const added = await c.cmd('A', 'STORE 1 +FLAGS (\\Bogus a A a)');
  assert.deepEqual(added.match(/^\* 1 FETCH .*$/gm), ['* 1 FETCH (FLAGS (a \\Recent))'], 'one FETCH, the result, no correction after it');
  const replaced = await c.cmd('B', 'STORE 1 FLAGS (\\answered \\Answered)');
  assert.deepEqual(replaced.match(/^\* 1 FETCH .*$/gm), ['* 1 FETCH (FLAGS (\\Answered \\Recent))']);
  assert.match(await c.send('C', Buffer.from('C STORE 1 +FLAGS (\u00e4)\r\n', 'utf8')), /^C BAD/m);
  assert.match(await c.cmd('D', 'FETCH 1 FLAGS'), /FLAGS \(\\Answered \\Recent\)/);
});

test('MOVE into the selected mailbox moves (new UID, old one expunged) instead of duplicating', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('P', 'APPEND INBOX {3+}\r\nabc'), /^P OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const moved = await c.cmd('M', 'MOVE 1 INBOX');
  assert.match(moved, /^\* OK \[COPYUID \d+ 1 2\]/m);
  assert.match(moved, /^\* 1 EXPUNGE\r\n/m);
  assert.match(await c.cmd('F', 'UID FETCH 1:* FLAGS'), /^\* 1 FETCH \(UID 2 /m);
  assert.match(await c.cmd('T', 'STATUS INBOX (MESSAGES)'), /MESSAGES 1\)/);
});

test('FETCH sections: empty header lists, stray dots and numbers past 2^32 are BAD; odd field names stay parseable', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const msg = sample('sections');
  assert.match(await c.cmd('P', `APPEND INBOX {${msg.length}+}\r\n${msg}`), /^P OK/m);
  assert.match(await c.cmd('S', 'EXAMINE INBOX'), /^S OK/m);
  for (const att of ['BODY[HEADER.FIELDS ()]', 'BODY[1.]', 'BODY[1..2]', 'BODY[.1]', 'BODY[]<4294967296.1>', 'BODY[]<0.99999999999>', 'BODY[]<0.0>'])
    assert.match(await c.cmd('A', `FETCH 1 ${att}`), /^A BAD/m, att);
  assert.match(await c.cmd('B', 'FETCH 1 BODY.PEEK[HEADER.FIELDS ("X Y" Subject)]'), /BODY\[HEADER\.FIELDS \("X Y" SUBJECT\)\] \{\d+\}\r\nSubject: sections\r\n\r\n\)/);
  assert.match(await c.cmd('C', 'FETCH 1 BODY.PEEK[]<4294967295.1>'), /BODY\[\]<4294967295> \{0\}/);
});

test('imaplib reads the hardened replies: STORE, MOVE within the mailbox, LIST wildcards', GUARD, async (t) => {
  const h = await startImap(t);
  const script = `
import imaplib, json, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('${USER}', '${PASS}')
m.append('INBOX', None, None, b'Subject: one\\r\\n\\r\\nbody\\r\\n')
m.select('INBOX')
store = m.store('1', '+FLAGS', '(kw KW kw)')
move = m.uid('MOVE', '1', 'INBOX')
fetch = m.uid('FETCH', '1:*', '(FLAGS)')
lst = m.list('""', '"' + '%' * 40 + 'q"')
m.logout()
out = lambda r: [r[0], [x.decode() if isinstance(x, bytes) else str(x) for x in r[1] if x is not None]]
print(json.dumps({'store': out(store), 'move': out(move), 'fetch': out(fetch), 'list': out(lst)}))
`;
  const r = await runPython<Record<string, [string, string[]]>>(script, [String(h.port)]);
  assert.deepEqual(r.store, ['OK', ['1 (FLAGS (kw \\Recent))']]);
  assert.equal(r.move?.[0], 'OK');
  assert.deepEqual(r.fetch?.[1].map((l) => l.replace(/^\d+ /, '')), ['(UID 2 FLAGS (kw \\Recent))']);
  assert.deepEqual(r.list, ['OK', []]);
});

test('SEARCH keys are budgeted; FETCH of many large sections streams every literal intact', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const body = 'line of text\r\n'.repeat(10_000);
  const msg = sample('large', body);
  const size = Buffer.byteLength(msg);
  assert.match(await c.cmd('P', `APPEND INBOX {${size}+}\r\n${msg}`), /^P OK/m);
  assert.match(await c.cmd('S', 'EXAMINE INBOX'), /^S OK/m);
  assert.match(await c.cmd('A', `SEARCH ${'ALL '.repeat(1000)}ALL`), /^A BAD .*more than 1000 keys/m);
  assert.match(await c.cmd('B', `SEARCH ${'ALL '.repeat(999)}ALL`), /^\* SEARCH 1\r\n/m);
  assert.match(await c.cmd('C', `SEARCH ${'('.repeat(10)}${'SEEN '.repeat(2000)}ALL${')'.repeat(10)}`), /^C BAD/m);
  const copies = 40;
  const reply = await c.cmd('D', `FETCH 1 (${Array.from({ length: copies }, (_, i) => `BODY.PEEK[]<${i}.${size}>`).join(' ')})`);
  const literals = [...reply.matchAll(/BODY\[\]<(\d+)> \{(\d+)\}\r\n/g)];
  assert.equal(literals.length, copies);
  for (const [i, m] of literals.entries()) {
    assert.equal(Number(m[1]), i);
    assert.equal(Number(m[2]), size - i);
    const start = (m.index ?? 0) + m[0].length;
    assert.equal(reply.slice(start, start + 20), msg.slice(i, i + 20));
  }
  assert.match(reply, /\)\r\nD OK FETCH completed\r\n$/);
});

test('STARTTLS: a command pipelined behind it in clear text is dropped, not run over TLS (RFC 3501 §6.2.1)', GUARD, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sg-imap-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const made = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=imap.test']);
  if (made.code !== 0) return t.skip('openssl is not available');
  const h = await startImap(t, { tls: { cert: await readFile(cert), key: await readFile(key) } });
  const c = await Raw.open(h, t);
  assert.match(await c.cmd('A', 'CAPABILITY'), /STARTTLS/);
  assert.match(await c.send('B', `B STARTTLS\r\nX LOGIN ${USER} ${PASS}\r\n`), /^B OK/m);
  const plain = c.detach();
  const secure = tlsConnect({ socket: plain, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  t.after(() => secure.destroy());
  const s = Raw.wrap(secure);
  const caps = await s.cmd('C', 'CAPABILITY');
  assert.doesNotMatch(caps, /^X /m, 'the injected LOGIN never ran');
  assert.doesNotMatch(caps, /STARTTLS/);
  assert.match(await s.cmd('D', 'SELECT INBOX'), /^D BAD Log in first/m, 'still not authenticated');
  assert.match(await s.cmd('E', 'STARTTLS'), /^E BAD/m);
  assert.match(await s.cmd('L', `LOGIN ${USER} ${PASS}`), /^L OK/m);
});

/** One LOGIN on a fresh connection from `from` (an address of 127.0.0.0/8); the tagged reply line. */
function loginFrom(port: number, from: string, user: string, pass: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1', localAddress: from }, () => sock.write(`L LOGIN "${user}" "${pass}"\r\n`));
    let text = '';
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`closed before the reply: ${text}`)));
    sock.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const m = /^L (OK|NO|BAD)[^\r]*/m.exec(text);
      if (m) {
        resolve(m[0]);
        sock.destroy();
      }
    });
  });
}

test('login throttling: parallel guesses from one address stop at the limit; one user is limited across addresses, whatever the spelling', GUARD, async (t) => {
  const h = await startImap(t, { limits: { maxAuthFailures: 10, maxAuthFailuresPerUser: 5 } });
  // 30 guesses at once from one address: at most 10 passwords are checked
  const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => loginFrom(h.port, '127.0.0.20', `user${i}@example.org`, 'guess')));
  assert.equal(burst.filter((r) => /AUTHENTICATIONFAILED/.test(r)).length, 10, burst.join('\n'));
  assert.equal(burst.filter((r) => /UNAVAILABLE/.test(r)).length, 20);
  // five wrong passwords for bob, each from another address: bob is locked from everywhere, in any spelling
  for (let i = 0; i < 5; i++) assert.match(await loginFrom(h.port, `127.0.0.${30 + i}`, 'bob@example.org', `wrong${i}`), /AUTHENTICATIONFAILED/);
  for (const spelling of ['bob@example.org', ' BOB@example.org', 'bob@example.org\t']) {
    assert.match(await loginFrom(h.port, '127.0.0.40', spelling, 'builder'), /^L NO \[UNAVAILABLE\]/, JSON.stringify(spelling));
  }
  assert.match(await loginFrom(h.port, '127.0.0.41', USER, PASS), /^L OK/, 'other users are not affected');
});

test('two sessions storing different flags on the same messages at once: both changes stay', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  for (let i = 0; i < 300; i++) await h.store.append(USER, 'INBOX', Buffer.from(sample(`race ${i}`)));
  const a = await loggedIn(h, t);
  const b = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT INBOX'), /^S OK/m);
  assert.match(await b.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const [ra, rb] = await Promise.all([a.cmd('A', 'STORE 1:* +FLAGS.SILENT (\\Seen)'), b.cmd('B', 'STORE 1:* +FLAGS.SILENT (\\Flagged)')]);
  assert.match(ra, /^A OK/m);
  assert.match(rb, /^B OK/m);
  const metas = await h.store.list(USER, 'INBOX');
  assert.equal(metas.filter((m) => m.flags.includes('\\Seen') && m.flags.includes('\\Flagged')).length, 300);
});

test('an expunge by another session is reported at the next UID command, which then answers OK without the gone UID', GUARD, async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  for (let i = 0; i < 5; i++) await h.store.append(USER, 'INBOX', Buffer.from(sample(`gone ${i}`)));
  const a = await loggedIn(h, t);
  const b = await loggedIn(h, t);
  assert.match(await a.cmd('S', 'SELECT INBOX'), /^S OK/m);
  assert.match(await b.cmd('S', 'SELECT INBOX'), /^S OK/m);
  assert.match(await b.cmd('D', 'STORE 2 +FLAGS.SILENT (\\Deleted)'), /^D OK/m);
  assert.match(await b.cmd('E', 'EXPUNGE'), /^\* 2 EXPUNGE\r\nE OK/m);
  // a plain FETCH may not report it (RFC 3501 §7.4.1) ...
  assert.doesNotMatch(await a.cmd('F', 'FETCH 1:* (UID)'), /EXPUNGE/);
  // ... the next UID command does, first, and then leaves the UID out instead of failing (§6.4.8)
  const uidFetch = await a.cmd('U', 'UID FETCH 1:* (FLAGS)');
  assert.match(uidFetch, /^\* 2 EXPUNGE\r\n/m);
  assert.match(uidFetch, /^U OK/m);
  assert.doesNotMatch(uidFetch, /UID 2 /);
  assert.match(await a.cmd('Q', 'UID SEARCH ALL'), /^\* SEARCH 1 3 4 5\r\nQ OK/m);
});

test('one address holds at most max_connections_per_ip sessions; others are served', GUARD, async (t) => {
  const h = await startImap(t, { limits: { maxConnectionsPerIp: 3 } });
  const greeting = (from: string): Promise<{ sock: Socket; line: string }> => new Promise((resolve, reject) => {
    const sock = connect({ port: h.port, host: '127.0.0.1', localAddress: from });
    t.after(() => sock.destroy());
    sock.once('data', (d: Buffer) => resolve({ sock, line: d.toString('latin1').split('\r\n')[0] ?? '' }));
    sock.on('error', reject);
  });
  const held = [await greeting('127.0.0.70'), await greeting('127.0.0.70'), await greeting('127.0.0.70')];
  assert.ok(held.every((g) => g.line.startsWith('* OK')));
  assert.match((await greeting('127.0.0.70')).line, /^\* BYE Too many connections from your address/);
  assert.match((await greeting('127.0.0.71')).line, /^\* OK/, 'another address is served');
  // a slot freed is a slot again
  held[0]?.sock.destroy();
  let line = '';
  for (let i = 0; i < 50 && !line.startsWith('* OK'); i++) {
    await new Promise((r) => setTimeout(r, 20));
    line = (await greeting('127.0.0.70')).line;
  }
  assert.match(line, /^\* OK/);
});
