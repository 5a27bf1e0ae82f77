// OBJECTID (RFC 8474), SAVEDATE (RFC 8514), WITHIN (RFC 5032) and CREATE-SPECIAL-USE (RFC 6154 §3) over real
// sockets: MAILBOXID through CREATE, SELECT, STATUS, RENAME and a restart; EMAILID through COPY and MOVE; SEARCH keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MailboxStore } from '../../src/store/mailbox-store.ts';
import { createMaildirStore } from '../../src/store/maildir-store.ts';
import { runPython } from '../helpers/python.ts';
import { sample, startImap } from './imap-harness.ts';
import { loggedIn, type Raw } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const ID = '[A-Za-z0-9_-]{1,255}';

async function append(c: Raw, tag: string, box: string, msg: string, date?: string): Promise<string> {
  const head = `${tag} APPEND ${box} ${date ? `"${date}" ` : ''}{${Buffer.byteLength(msg)}+}\r\n`;
  return c.send(tag, head + msg + '\r\n');
}

function one(text: string, re: RegExp): string {
  const m = re.exec(text);
  assert.ok(m?.[1], `${re} in ${text}`);
  return m[1];
}

test('capabilities are offered after login', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const caps = await c.cmd('C', 'CAPABILITY');
  for (const cap of ['OBJECTID', 'SAVEDATE', 'WITHIN', 'CREATE-SPECIAL-USE', 'BINARY']) assert.match(caps, new RegExp(` ${cap}[ \\r]`), cap);
});

test('MAILBOXID: told by CREATE, SELECT and STATUS, kept by RENAME and a restart, new for a new mailbox', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  const id = one(await c.cmd('C1', 'CREATE Work'), new RegExp(`^C1 OK \\[MAILBOXID \\((${ID})\\)\\]`, 'm'));
  assert.equal(one(await c.cmd('S1', 'STATUS Work (MAILBOXID MESSAGES)'), new RegExp(`\\* STATUS Work \\(MAILBOXID \\((${ID})\\) MESSAGES 0\\)`)), id);
  assert.equal(one(await c.cmd('S2', 'EXAMINE Work'), new RegExp(`^\\* OK \\[MAILBOXID \\((${ID})\\)\\]`, 'm')), id);
  const inbox = one(await c.cmd('S3', 'STATUS INBOX (MAILBOXID)'), new RegExp(`MAILBOXID \\((${ID})\\)`));
  assert.ok((await c.cmd('L', 'LIST "" Work RETURN (STATUS (MAILBOXID))')).includes(`* STATUS Work (MAILBOXID (${id}))\r\n`), 'RFC 5819 LIST-STATUS too');
  assert.notEqual(inbox, id);
  assert.match(await c.cmd('U', 'UNSELECT'), /^U OK/m);
  assert.match(await c.cmd('R1', 'RENAME Work Play'), /^R1 OK/m);
  assert.equal(one(await c.cmd('S4', 'STATUS Play (MAILBOXID)'), new RegExp(`MAILBOXID \\((${ID})\\)`)), id, 'RFC 8474 §4: RENAME keeps it');
  // a store opened afresh on the same Maildir (a restart) tells the same ids
  const again = createMaildirStore({ root: h.root, fsync: false });
  assert.equal((await again.status('alice@example.org', 'Play')).mailboxId, id);
  assert.equal((await again.status('alice@example.org', 'INBOX')).mailboxId, inbox);
  // deleted and made again under the same name: another mailbox, another id
  assert.match(await c.cmd('D', 'DELETE Play'), /^D OK/m);
  const fresh = one(await c.cmd('C2', 'CREATE Play'), new RegExp(`^C2 OK \\[MAILBOXID \\((${ID})\\)\\]`, 'm'));
  assert.notEqual(fresh, id);
  assert.match(await c.cmd('B1', 'STATUS INBOX (MAILBOXID NOSUCH)'), /^B1 BAD/m);
});

test('a store that keeps no object ids: no OBJECTID, and MAILBOXID is BAD in STATUS and in LIST-STATUS alike', GUARD, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-imap-noids-'));
  const real = createMaildirStore({ root, fsync: false });
  t.after(async () => {
    await real.settle();
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
  });
  // the Maildir store without its objectIds: its status() still knows a mailbox id, the server must not ask for it
  const store: MailboxStore = Object.assign(Object.create(real) as MailboxStore, { objectIds: undefined });
  const h = await startImap(t, { store });
  const c = await loggedIn(h, t);
  assert.doesNotMatch(await c.cmd('C', 'CAPABILITY'), / OBJECTID[ \r]/);
  assert.match(await c.cmd('S1', 'STATUS INBOX (MAILBOXID)'), /^S1 BAD/m);
  // RFC 5819 §2 takes STATUS's items: the same refused here, not answered with MAILBOXID (NIL) or the hidden id
  const list = await c.cmd('L1', 'LIST "" INBOX RETURN (STATUS (MESSAGES MAILBOXID))');
  assert.match(list, /^L1 BAD/m);
  assert.doesNotMatch(list, /\* STATUS/);
  assert.match(await c.cmd('L2', 'LIST "" INBOX RETURN (STATUS (MESSAGES))'), /\* STATUS INBOX \(MESSAGES 0\)\r\n[^]*^L2 OK/m);
  assert.match(await c.cmd('S2', 'STATUS INBOX (MESSAGES)'), /^S2 OK/m);
});

test('EMAILID: stable, distinct, kept by COPY and MOVE; SEARCH EMAILID / THREADID', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('C', 'CREATE Keep'), /^C OK/m);
  for (const [i, s] of ['one', 'two', 'three'].entries()) assert.match(await append(c, `A${i}`, 'INBOX', sample(s)), /OK/);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const f = await c.cmd('F', 'FETCH 1:3 (EMAILID THREADID)');
  const ids = [...f.matchAll(new RegExp(`^\\* (\\d) FETCH \\(EMAILID \\((${ID})\\) THREADID \\(${ID}\\)\\)`, 'gm'))].map((m) => m[2] as string);
  assert.equal(ids.length, 3, f);
  assert.equal(new Set(ids).size, 3, 'one id per message');
  assert.equal(one(await c.cmd('F2', 'FETCH 2 EMAILID'), new RegExp(`EMAILID \\((${ID})\\)`)), ids[1], 'the same id when asked again');
  assert.match(await c.cmd('F3', 'FETCH 1 (FLAGS EMAILID BODY.PEEK[HEADER.FIELDS (SUBJECT)])'), new RegExp(`EMAILID \\(${ids[0]}\\)`), 'with message text too');
  assert.match(await c.cmd('Q1', `SEARCH EMAILID ${ids[1]}`), /^\* SEARCH 2\r\n/m);
  assert.match(await c.cmd('Q2', 'SEARCH EMAILID Mnosuchid'), /^\* SEARCH\r\n/m);
  assert.match(await c.cmd('Q3', `SEARCH THREADID ${ids[1]}`), /^\* SEARCH\r\n/m, 'an EMAILID is no THREADID');
  assert.match(await c.cmd('Q4', 'SEARCH EMAILID bad!id'), /^Q4 BAD/m);
  assert.match(await c.cmd('Q5', `SEARCH OR EMAILID ${ids[0]} EMAILID ${ids[2]}`), /^\* SEARCH 1 3\r\n/m);
  // flag changes rename the file; the id stays
  assert.match(await c.cmd('St', 'STORE 1 +FLAGS (\\Flagged \\Seen)'), /^St OK/m);
  assert.match(await c.cmd('F4', 'FETCH 1 EMAILID'), new RegExp(`EMAILID \\(${ids[0]}\\)`));
  // RFC 8474 §5.1: COPY and MOVE keep the EMAILID (same immutable content)
  assert.match(await c.cmd('Cp', 'COPY 1 Keep'), /^Cp OK/m);
  assert.match(await c.cmd('Mv', 'MOVE 3 Keep'), /^Mv OK/m);
  assert.match(await c.cmd('S2', 'SELECT Keep'), /^S2 OK/m);
  const kept = await c.cmd('F5', 'FETCH 1:2 EMAILID');
  assert.match(kept, new RegExp(`^\\* 1 FETCH \\(EMAILID \\(${ids[0]}\\)\\)`, 'm'));
  assert.match(kept, new RegExp(`^\\* 2 FETCH \\(EMAILID \\(${ids[2]}\\)\\)`, 'm'));
  // a copy of the copy still carries the first id
  assert.match(await c.cmd('Cp2', 'COPY 1 INBOX'), /^Cp2 OK/m);
  const again = createMaildirStore({ root: h.root, fsync: false });
  const metas = await again.list('alice@example.org', 'INBOX');
  const { uidValidity } = await again.status('alice@example.org', 'INBOX');
  assert.deepEqual(metas.map((m) => again.objectIds?.emailId(m, uidValidity)), [ids[0], ids[1], ids[0]], 'the same ids after a restart');
});

test('SAVEDATE: when the message entered the mailbox, not its INTERNALDATE; SAVED* search keys', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  assert.match(await append(c, 'A', 'INBOX', sample('old'), '01-Jan-2000 10:00:00 +0000'), /^A OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const f = await c.cmd('F', 'FETCH 1 (INTERNALDATE SAVEDATE)');
  assert.match(f, /INTERNALDATE " 1-Jan-2000 10:00:00 \+0000"/);
  const saved = Date.parse(one(f, /SAVEDATE "([^"]+)"/).replace(/^ /, '').replace(/-/g, ' '));
  assert.ok(Math.abs(saved - Date.now()) < 120_000, `save date is now: ${f}`);
  const day = (ms: number): string => {
    const d = new Date(ms);
    return `${d.getUTCDate()}-${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]}-${d.getUTCFullYear()}`;
  };
  const today = day(saved);
  assert.match(await c.cmd('Q1', `SEARCH SAVEDON ${today}`), /^\* SEARCH 1\r\n/m);
  assert.match(await c.cmd('Q2', `SEARCH SAVEDBEFORE ${today}`), /^\* SEARCH\r\n/m);
  assert.match(await c.cmd('Q3', `SEARCH SAVEDSINCE ${day(saved + 86_400_000)}`), /^\* SEARCH\r\n/m);
  assert.match(await c.cmd('Q4', 'SEARCH SAVEDSINCE 1-Jan-2001'), /^\* SEARCH 1\r\n/m);
  assert.match(await c.cmd('Q5', 'SEARCH ON 1-Jan-2000'), /^\* SEARCH 1\r\n/m, 'ON still reads INTERNALDATE');
  assert.match(await c.cmd('Q6', 'SEARCH SAVEDATESUPPORTED'), /^\* SEARCH 1\r\n/m);
  assert.match(await c.cmd('Q7', 'SEARCH SAVEDON 31-Feb-2020'), /^Q7 BAD/m);
});

test('WITHIN: OLDER and YOUNGER by INTERNALDATE, in seconds', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  assert.match(await append(c, 'A1', 'INBOX', sample('old'), '01-Jan-2000 10:00:00 +0000'), /^A1 OK/m);
  assert.match(await append(c, 'A2', 'INBOX', sample('new')), /^A2 OK/m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  assert.match(await c.cmd('Q1', 'SEARCH OLDER 3600'), /^\* SEARCH 1\r\n/m);
  assert.match(await c.cmd('Q2', 'SEARCH YOUNGER 3600'), /^\* SEARCH 2\r\n/m);
  assert.match(await c.cmd('Q3', 'UID SEARCH NOT YOUNGER 3600'), /^\* SEARCH 1\r\n/m);
  assert.match(await c.cmd('Q4', 'SEARCH YOUNGER 4294967295'), /^\* SEARCH 1 2\r\n/m);
  assert.match(await c.cmd('Q5', 'SEARCH OLDER 0'), /^Q5 BAD/m, 'RFC 5032: the interval is a non-zero number');
  assert.match(await c.cmd('Q6', 'SEARCH YOUNGER x'), /^Q6 BAD/m);
  assert.match(await c.cmd('Q7', 'SORT (DATE) UTF-8 OLDER 60'), /^\* SORT 1\r\n/m);
});

test('CREATE-SPECIAL-USE: a use the name carries is made; any other is NO [USEATTR] and nothing is made', GUARD, async (t) => {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  assert.match(await c.cmd('C1', 'CREATE Archive (USE (\\Archive))'), /^C1 OK/m);
  assert.match(await c.cmd('L1', 'LIST "" Archive RETURN (SPECIAL-USE)'), /^\* LIST \(.*\\Archive.*\) "\/" Archive\r\n/m);
  assert.match(await c.cmd('C2', 'CREATE Spam2 (USE (\\Junk))'), /^C2 NO \[USEATTR\]/m);
  assert.match(await c.cmd('C3', 'CREATE Flags (USE (\\Flagged))'), /^C3 NO \[USEATTR\]/m);
  assert.match(await c.cmd('C4', 'CREATE Junk (USE (\\Junk))'), /^C4 NO \[ALREADYEXISTS\]/m, 'the default Junk folder exists already');
  assert.match(await c.cmd('L2', 'LIST "" "Spam2"'), /^L2 OK/m);
  assert.doesNotMatch(await c.cmd('L3', 'LIST "" "*"'), /Spam2|Flags/, 'a refused CREATE makes nothing');
  assert.match(await c.cmd('C5', 'CREATE Plain (USE ())'), /^C5 OK/m);
  assert.match(await c.cmd('C6', 'CREATE Other (COLOR (red))'), /^C6 BAD/m);
  assert.match(await c.cmd('C7', 'CREATE Other2 (USE (Junk))'), /^C7 BAD/m);
});

test('imaplib: EMAILID, MAILBOXID and SAVEDATE as a python client sees them', GUARD, async (t) => {
  const h = await startImap(t);
  const out = await runPython<{ caps: string[]; fetch: string; status: string }>(
    `
import imaplib, json, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('alice@example.org', 'wonderland')
m.append('INBOX', None, None, b'Subject: x\\r\\n\\r\\nhi\\r\\n')
m.select('INBOX')
typ, f = m.fetch('1', '(EMAILID SAVEDATE)')
typ, s = m.status('INBOX', '(MAILBOXID)')
print(json.dumps({'caps': list(m.capabilities), 'fetch': f[0].decode(), 'status': s[0].decode()}))
m.logout()
`,
    [String(h.port)],
  );
  assert.ok(out.caps.includes('OBJECTID') && out.caps.includes('SAVEDATE'));
  assert.match(out.fetch, new RegExp(`^1 \\(EMAILID \\(${ID}\\) SAVEDATE "[^"]+"\\)$`));
  assert.match(out.status, new RegExp(`^INBOX \\(MAILBOXID \\(${ID}\\)\\)$`));
});
