// Messages another program left in a Maildir with bare LF line ends (procmail, Dovecot's LDA) go out over IMAP and POP3
// with CRLF (RFC 9051 §2.2, RFC 1939 §3): FETCH literals, RFC822.SIZE (RFC 9051 §7.5.2: the octets sent), partial
// fetches (offsets in the CRLF form), BINARY, BODYSTRUCTURE sizes, STATUS SIZE; POP3 LIST/STAT sizes, RETR and TOP
// byte-stuffed with CRLF lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startImap } from './imap-harness.ts';
import { loggedIn } from './imap-raw.ts';
import { startPop3 } from './pop3-fixture.ts';
import { RawPop3 } from './pop3-client.ts';

const GUARD = { timeout: 60_000 };
const LF = 'Subject: unix lines\nFrom: Ann <ann@example.net>\nContent-Type: text/plain\n\nline one\n.dot line\nline three\n';
const CRLF = LF.replace(/\n/g, '\r\n');
const HEAD = CRLF.slice(0, CRLF.indexOf('\r\n\r\n') + 4);
const TEXT = CRLF.slice(HEAD.length);

/** The names other programs give such files: none of our size fields, S= only (file size), S= and W= (Dovecot). */
async function plant(maildir: string): Promise<void> {
  await writeFile(join(maildir, 'new', '1700000000.M1P1.other'), LF);
  await writeFile(join(maildir, 'cur', `1700000001.M2P1.other,S=${LF.length}:2,S`), LF);
  await writeFile(join(maildir, 'cur', `1700000002.M3P1.other,S=${LF.length},W=${CRLF.length}:2,S`), LF);
}

test('IMAP: a bare-LF file is served with CRLF; sizes and partial offsets are those of the CRLF form', GUARD, async (t) => {
  const h = await startImap(t);
  const user = 'alice@example.org';
  await h.store.ensureUser(user);
  await plant(h.store.maildirOf(user));
  const c = await loggedIn(h, t);
  await c.cmd('s', 'EXAMINE INBOX');
  const whole = await c.cmd('f1', 'FETCH 1:3 (RFC822.SIZE BODY.PEEK[])');
  for (const n of [1, 2, 3]) assert.ok(whole.includes(`* ${n} FETCH (RFC822.SIZE ${CRLF.length} BODY[] {${CRLF.length}}\r\n${CRLF})`), whole);
  assert.doesNotMatch(whole.replace(/\r\n/g, ''), /\n/, 'no bare LF on the wire');
  const parts = await c.cmd('f2', 'FETCH 3 (BODY.PEEK[]<0.20> BODY.PEEK[]<40.30> BODY.PEEK[HEADER] BODY.PEEK[TEXT] BINARY.PEEK[1] BINARY.SIZE[1])');
  assert.ok(parts.includes(`BODY[]<0> {20}\r\n${CRLF.slice(0, 20)} `), parts);
  assert.ok(parts.includes(`BODY[]<40> {30}\r\n${CRLF.slice(40, 70)} `), parts);
  assert.ok(parts.includes(`BODY[HEADER] {${HEAD.length}}\r\n${HEAD} `), parts);
  assert.ok(parts.includes(`BODY[TEXT] {${TEXT.length}}\r\n${TEXT} `), parts);
  assert.ok(parts.includes(`BINARY[1] {${TEXT.length}}\r\n${TEXT} BINARY.SIZE[1] ${TEXT.length})`), parts);
  // the body part's size and line count as sent
  assert.match(await c.cmd('f3', 'FETCH 3 (BODYSTRUCTURE)'), new RegExp(`BODYSTRUCTURE \\("TEXT" "PLAIN" NIL NIL NIL "7BIT" ${TEXT.length} 3 `, 'i'));
  assert.match(await c.cmd('st', 'STATUS INBOX (SIZE)'), new RegExp(`SIZE ${3 * CRLF.length}\\)`));
  assert.match(await c.cmd('sz', `SEARCH LARGER ${CRLF.length - 1} SMALLER ${CRLF.length + 1}`), /^\* SEARCH 1 2 3\r$/m);
});

test('POP3: a bare-LF file is listed at its CRLF size; RETR and TOP send CRLF lines, byte-stuffed', GUARD, async (t) => {
  const f = await startPop3(t);
  const user = 'alice@example.com';
  await f.store.ensureUser(user);
  await plant(f.store.maildirOf(user));
  const c = await RawPop3.connect(f.port);
  t.after(() => c.destroy());
  await c.line();
  await c.cmd(`USER ${user}`);
  assert.match((await c.cmd('PASS secret-alice')) ?? '', /^\+OK/);
  assert.equal(await c.cmd('STAT'), `+OK 3 ${3 * CRLF.length}`);
  const stuffed = CRLF.replace('\r\n.dot', '\r\n..dot');
  for (const n of [1, 2, 3]) {
    assert.equal(await c.cmd(`LIST ${n}`), `+OK ${n} ${CRLF.length}`);
    assert.match((await c.cmd(`RETR ${n}`)) ?? '', /^\+OK/);
    assert.equal((await c.multiline())?.toString('latin1'), `${stuffed}.\r\n`);
  }
  assert.match((await c.cmd('TOP 3 2')) ?? '', /^\+OK/);
  assert.equal((await c.multiline())?.toString('latin1'), `${HEAD}line one\r\n..dot line\r\n.\r\n`);
});
