// RFC 8474 §5.2 THREADID and the §6 THREADID search key over real sockets: a root and its replies share one id, other
// messages differ, the id survives COPY, MOVE and a restart on the same Maildir; SEARCH (with OR/NOT, ESEARCH, the
// file-reading path), SORT and THREAD find a thread; malformed ids are BAD. Python imaplib reads the ids too.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createImapServer } from '../../src/imap/server.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createMaildirStore } from '../../src/store/maildir-store.ts';
import type { FieldQuery } from '../../src/store/mailbox-store.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { runPython } from '../helpers/python.ts';
import { startImap, USERS, type Harness } from './imap-harness.ts';
import { loggedIn, type Raw } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const OBJECTID = /^[A-Za-z0-9_-]{1,255}$/;

const msg = (subject: string, head: string[]): string =>
  [`From: Sender <sender@example.net>`, 'To: alice@example.org', `Subject: ${subject}`, 'Date: Mon, 7 Feb 1994 21:52:25 -0800', ...head, '', `Body of ${subject}.`, ''].join('\r\n');

/** INBOX in this order: a root, two replies (one naming it by In-Reply-To only, one by a folded References), an unrelated message, two without any msg-id. */
const MESSAGES = [
  msg('Plans', ['Message-ID: <Root.1@Example.NET>']),
  msg('Re: Plans', ['Message-ID: <r1@example.net>', 'In-Reply-To: <Root.1@example.net>']),
  msg('Re: Re: Plans', ['Message-ID: <r2@example.net>', 'In-Reply-To: <r1@example.net>', 'References:\r\n <Root.1@EXAMPLE.net>\r\n\t<r1@example.net>']),
  msg('Plans', ['Message-ID: <other@example.net>']),
  msg('No id', []),
  msg('No id either', []),
];

async function append(c: Raw, tag: string, box: string, m: string): Promise<void> {
  assert.match(await c.send(tag, `${tag} APPEND ${box} {${Buffer.byteLength(m)}+}\r\n${m}\r\n`), new RegExp(`^${tag} OK`, 'm'));
}

/** THREADID by sequence number from a FETCH response. */
function threadIds(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of text.matchAll(/^\* (\d+) FETCH \(.*?THREADID \(([^)]*)\)/gm)) out.set(Number(m[1]), m[2] as string);
  return out;
}

async function filled(t: TestContext): Promise<{ h: Harness; c: Raw; ids: Map<number, string> }> {
  const h = await startImap(t);
  const c = await loggedIn(h, t);
  for (const [i, m] of MESSAGES.entries()) await append(c, `A${i}`, 'INBOX', m);
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const ids = threadIds(await c.cmd('F', 'FETCH 1:* (UID THREADID)'));
  assert.equal(ids.size, MESSAGES.length);
  return { h, c, ids };
}

test('THREADID: a root and its replies share one id, objectid syntax; other messages and messages without msg-id differ', GUARD, async (t) => {
  const { c, ids } = await filled(t);
  for (const id of ids.values()) assert.match(id, OBJECTID);
  const root = ids.get(1);
  assert.equal(ids.get(2), root, 'In-Reply-To names the root');
  assert.equal(ids.get(3), root, 'the first of References is the root (domain case folded, folded field)');
  assert.equal(new Set([root, ids.get(4), ids.get(5), ids.get(6)]).size, 4, 'unrelated messages, and each message without a msg-id, a thread of its own');
  assert.equal(threadIds(await c.cmd('F2', 'FETCH 1:* THREADID')).get(3), root, 'the same when asked again (cached)');
  // the general path (message text read) tells the same id
  assert.match(await c.cmd('F3', 'FETCH 3 (THREADID BODY.PEEK[HEADER.FIELDS (SUBJECT)])'), new RegExp(`THREADID \\(${root}\\)`));
  assert.match(await c.cmd('F4', 'FETCH 5 (THREADID EMAILID)'), new RegExp(`THREADID \\(${ids.get(5)}\\)`));
});

test('SEARCH THREADID: alone, in OR and NOT, with ESEARCH, with text keys, in SORT and THREAD; malformed ids BAD', GUARD, async (t) => {
  const { c, ids } = await filled(t);
  const root = ids.get(1) as string;
  assert.match(await c.cmd('Q1', `SEARCH THREADID ${root}`), /^\* SEARCH 1 2 3\r\n/m);
  assert.match(await c.cmd('Q2', `UID SEARCH THREADID ${ids.get(5)}`), /^\* SEARCH 5\r\n/m);
  assert.match(await c.cmd('Q3', `SEARCH NOT THREADID ${root}`), /^\* SEARCH 4 5 6\r\n/m);
  assert.match(await c.cmd('Q4', `SEARCH OR THREADID ${ids.get(4)} THREADID ${ids.get(6)}`), /^\* SEARCH 4 6\r\n/m);
  assert.match(await c.cmd('Q5', `SEARCH RETURN (COUNT MIN MAX) THREADID ${root}`), /^\* ESEARCH \(TAG "Q5"\) MIN 1 MAX 3 COUNT 3\r\n/m);
  assert.match(await c.cmd('Q6', `SEARCH THREADID ${root} SUBJECT "Re:"`), /^\* SEARCH 2 3\r\n/m, 'with a cached header key');
  assert.match(await c.cmd('Q7', `SEARCH THREADID ${root} BODY "Re: Re"`), /^\* SEARCH 3\r\n/m, 'with a key that reads the message');
  assert.match(await c.cmd('Q8', `SEARCH THREADID T${'x'.repeat(23)}`), /^\* SEARCH\r\n/m, 'an unknown id matches nothing');
  assert.match(await c.cmd('Q9', `SORT (REVERSE ARRIVAL) UTF-8 THREADID ${root}`), /^\* SORT 3 2 1\r\n/m);
  assert.match(await c.cmd('Q10', `THREAD REFERENCES UTF-8 THREADID ${root}`), /^\* THREAD \(1 2 3\)\r\n/m);
  for (const [tag, arg] of [['B1', 'bad!id'], ['B2', '""'], ['B3', 'T' + 'x'.repeat(255)], ['B4', '(T1)'], ['B5', '']] as const)
    assert.match(await c.cmd(tag, `SEARCH THREADID ${arg}`.trimEnd()), new RegExp(`^${tag} BAD`, 'm'), arg);
  assert.match(await c.cmd('B6', `SEARCH EMAILID ${'M'.repeat(256)}`), /^B6 BAD/m);
  assert.match(await c.cmd('N', 'NOOP'), /^N OK/m, 'the session lives on');
});

test('THREADID is kept by COPY and MOVE, and after a restart on the same Maildir; another user has other ids', GUARD, async (t) => {
  const { h, c, ids } = await filled(t);
  const root = ids.get(1) as string;
  assert.match(await c.cmd('C', 'CREATE Keep'), /^C OK/m);
  assert.match(await c.cmd('Cp', 'COPY 2,5 Keep'), /^Cp OK/m);
  assert.match(await c.cmd('Mv', 'MOVE 3 Keep'), /^Mv OK/m);
  assert.match(await c.cmd('S2', 'SELECT Keep'), /^S2 OK/m);
  const kept = threadIds(await c.cmd('F', 'FETCH 1:* THREADID'));
  assert.deepEqual([...kept.values()], [root, ids.get(5), root], 'a message without msg-id keeps its own thread too');
  assert.match(await c.cmd('Q', `SEARCH THREADID ${root}`), /^\* SEARCH 1 3\r\n/m);
  await c.cmd('Z', 'LOGOUT');
  await h.server.close();
  await h.store.settle();

  const store = createMaildirStore({ root: h.root, fsync: false });
  // whole-message reads counted: FETCH and SEARCH THREADID need none (the store's header cache serves them)
  let reads = 0;
  const counted = { ...store, read: (user: string, box: string, uid: number): Promise<Buffer> => (reads++, store.read(user, box, uid)) };
  const server = createImapServer({ store: counted, authenticate: async (user, pass) => (USERS[user] === pass ? user : undefined), hostname: 'imap.test', registry: createRegistry(false), log: silentLogger, clock: systemClock });
  const addr = await server.listen(0, '127.0.0.1');
  t.after(async () => {
    await server.close();
    await store.settle();
  });
  const again = await loggedIn({ port: addr.port }, t);
  assert.match(await again.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const after = threadIds(await again.cmd('F', 'FETCH 1:* THREADID'));
  assert.deepEqual([...after.values()], [1, 2, 4, 5, 6].map((n) => ids.get(n)), 'the same ids after a restart');
  assert.match(await again.cmd('Q', `SEARCH THREADID ${root}`), /^\* SEARCH 1 2\r\n/m);
  assert.equal(reads, 0, 'no message read for THREADID');
  assert.match(await again.cmd('B', 'FETCH 1 BODY.PEEK[]'), /^B OK/m);
  assert.equal(reads, 1, 'the count sees a read');
  assert.match(await again.cmd('S2', 'SELECT Keep'), /^S2 OK/m);
  assert.deepEqual([...threadIds(await again.cmd('F2', 'FETCH 1:* THREADID')).values()], [...kept.values()]);

  const bob = await loggedIn({ port: addr.port }, t, 'bob@example.org', 'builder');
  await append(bob, 'A', 'INBOX', MESSAGES[0] as string);
  assert.match(await bob.cmd('S', 'SELECT INBOX'), /^S OK/m);
  assert.notEqual(threadIds(await bob.cmd('F', 'FETCH 1 THREADID')).get(1), root, 'ids are made per user: they do not tell one user what another holds');
});

test('imaplib: THREADID and SEARCH THREADID as a python client sees them', GUARD, async (t) => {
  const h = await startImap(t);
  const out = await runPython<{ fetch: string[]; search: string; bad: string }>(
    `
import imaplib, json, re, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('alice@example.org', 'wonderland')
m.append('INBOX', None, None, b'Message-ID: <a@x.example>\\r\\nSubject: a\\r\\n\\r\\nhi\\r\\n')
m.append('INBOX', None, None, b'Message-ID: <b@x.example>\\r\\nReferences: <a@x.example>\\r\\nSubject: Re: a\\r\\n\\r\\nhi\\r\\n')
m.append('INBOX', None, None, b'Message-ID: <c@x.example>\\r\\nSubject: c\\r\\n\\r\\nhi\\r\\n')
m.select('INBOX')
typ, f = m.fetch('1:3', '(THREADID)')
tid = re.search(rb'THREADID \\(([^)]*)\\)', f[0]).group(1).decode()
typ, s = m.uid('SEARCH', 'THREADID', tid)
try:
    m.search(None, 'THREADID', 'no!id')
    bad = 'accepted'
except imaplib.IMAP4.error as e:
    bad = str(e)
print(json.dumps({'fetch': [x.decode() for x in f], 'search': s[0].decode(), 'bad': bad}))
m.logout()
`,
    [String(h.port)],
  );
  const tids = out.fetch.map((l) => /THREADID \(([^)]*)\)/.exec(l)?.[1]);
  assert.equal(tids.length, 3);
  assert.equal(tids[0], tids[1]);
  assert.notEqual(tids[0], tids[2]);
  assert.equal(out.search, '1 2');
  assert.match(out.bad, /BAD/);
});

test('SEARCH THREADID with a text key the store filters by: ids are made only for the messages the store left in', GUARD, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-imap-thread-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  // UIDs whose whole cached header fields are asked (no FieldQuery): what making thread ids costs
  let asked = 0;
  const inner = store.headerFields?.bind(store);
  assert.ok(inner);
  const counted = {
    ...store,
    headerFields: (user: string, box: string, uids: readonly number[], query?: FieldQuery) => {
      if (query === undefined) asked += uids.length;
      return inner(user, box, uids, query);
    },
  };
  const server = createImapServer({ store: counted, authenticate: async (user, pass) => (USERS[user] === pass ? user : undefined), hostname: 'imap.test', registry: createRegistry(false), log: silentLogger, clock: systemClock });
  const addr = await server.listen(0, '127.0.0.1');
  t.after(async () => {
    await server.close();
    await store.settle();
  });
  const c = await loggedIn({ port: addr.port }, t);
  for (let i = 0; i < 40; i++) await append(c, `A${i}`, 'INBOX', msg(i === 17 ? 'the needle' : `hay ${i}`, [`Message-ID: <m${i}@example.net>`]));
  assert.match(await c.cmd('S', 'SELECT INBOX'), /^S OK/m);
  const id = threadIds(await c.cmd('F', 'UID FETCH 18 THREADID')).get(18) as string;
  asked = 0;
  assert.match(await c.cmd('Q', `SEARCH SUBJECT needle THREADID ${id}`), /^\* SEARCH 18\r\n/m);
  assert.equal(asked, 0, 'the one message left in has its id cached; the 39 others need none');
  assert.match(await c.cmd('Q2', `SEARCH SUBJECT hay THREADID ${id}`), /^\* SEARCH\r\n/m);
  assert.equal(asked, 39, 'the 39 hay messages, not the whole mailbox again');
});
