// LIST-EXTENDED (RFC 5258), SPECIAL-USE selection (RFC 6154), LIST-STATUS (RFC 5819) and STATUS=SIZE (RFC 8438)
// over real sockets: the exact replies for selection options, RECURSIVEMATCH with CHILDINFO, \NonExistent
// subscriptions, several patterns, RETURN (STATUS …) after each selectable mailbox, the SIZE item; malformed
// commands get BAD and the session goes on; then python3's imaplib.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { expectPythonOk, startImap, type Harness } from './imap-harness.ts';
import { loggedIn, type Raw } from './imap-raw.ts';

const GUARD = { timeout: 60_000 };
const USER = 'alice@example.org';
const MSG1 = 'Subject: one\r\n\r\nfirst message\r\n';
const MSG2 = 'Subject: two\r\n\r\nthe second, longer message\r\n';
const SIZE = Buffer.byteLength(MSG1) + Buffer.byteLength(MSG2);

/**
 * Mailboxes: INBOX, Junk, Sent, Drafts, Trash (subscribed), Archive, Fruit, Fruit/Apple, Fruit/Banana (subscribed),
 * Work, Work/Old, Work/Old/2020. Subscribed without a mailbox: Gone, Ghost/Child, Work/Old/Lost.
 */
async function setup(t: TestContext): Promise<{ h: Harness; c: Raw }> {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  for (const n of ['Fruit', 'Fruit/Apple', 'Fruit/Banana', 'Work/Old/2020', 'Archive']) await h.store.createMailbox(USER, n);
  for (const n of ['Fruit/Banana', 'Gone', 'Ghost/Child', 'Work/Old/Lost']) await h.store.setSubscribed(USER, n, true);
  await h.store.append(USER, 'INBOX', Buffer.from(MSG1), { flags: ['\\Seen'] });
  await h.store.append(USER, 'INBOX', Buffer.from(MSG2));
  return { h, c: await loggedIn(h, t) };
}

/** The untagged lines of a command that must succeed. */
async function ok(c: Raw, line: string): Promise<string[]> {
  const res = await c.cmd('t', line);
  assert.match(res, /^t OK/m, `${line}: ${res}`);
  return res.split('\r\n').filter((l) => l.startsWith('* '));
}

const INBOX = '* LIST (\\HasNoChildren \\Subscribed) "/" INBOX';
const DRAFTS = '* LIST (\\HasNoChildren \\Drafts \\Subscribed) "/" Drafts';
const JUNK = '* LIST (\\HasNoChildren \\Junk \\Subscribed) "/" Junk';
const SENT = '* LIST (\\HasNoChildren \\Sent \\Subscribed) "/" Sent';
const TRASH = '* LIST (\\HasNoChildren \\Trash \\Subscribed) "/" Trash';
const ARCHIVE = '* LIST (\\HasNoChildren \\Archive) "/" Archive';
const BANANA = '* LIST (\\HasNoChildren \\Subscribed) "/" Fruit/Banana';

test('capabilities: LIST-EXTENDED, LIST-STATUS and STATUS=SIZE', GUARD, async (t) => {
  const { c } = await setup(t);
  const caps = (await ok(c, 'CAPABILITY'))[0]?.split(' ') ?? [];
  for (const cap of ['LIST-EXTENDED', 'LIST-STATUS', 'STATUS=SIZE', 'SPECIAL-USE']) assert.ok(caps.includes(cap), `${cap} in ${caps.join(' ')}`);
});

test('LIST (SUBSCRIBED): subscribed names only, \\NonExistent for those without a mailbox, no "%" parents', GUARD, async (t) => {
  const { c } = await setup(t);
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED) "" "*"'), [INBOX, DRAFTS, BANANA, JUNK, SENT, TRASH, '* LIST (\\NonExistent \\Subscribed) "/" Ghost/Child', '* LIST (\\NonExistent \\Subscribed) "/" Gone', '* LIST (\\NonExistent \\Subscribed) "/" Work/Old/Lost']);
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED) "" %'), [INBOX, DRAFTS, JUNK, SENT, TRASH, '* LIST (\\NonExistent \\Subscribed) "/" Gone'], 'RFC 5258 §3: unlike LSUB, no \\Noselect parents');
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED REMOTE) "Fruit/" %'), [BANANA]);
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED) "" Fruit RETURN (CHILDREN)'), []);
});

test('LIST (SUBSCRIBED RECURSIVEMATCH): parents of subscribed mailboxes with CHILDINFO', GUARD, async (t) => {
  const { c } = await setup(t);
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" %'), [
    INBOX,
    DRAFTS,
    '* LIST (\\HasChildren) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))',
    JUNK,
    SENT,
    TRASH,
    '* LIST (\\HasChildren) "/" Work ("CHILDINFO" ("SUBSCRIBED"))',
    '* LIST (\\NonExistent \\Subscribed) "/" Gone',
    '* LIST (\\NonExistent) "/" Ghost ("CHILDINFO" ("SUBSCRIBED"))',
  ]);
  // a subscribed mailbox with a subscribed child gets both
  await ok(c, 'SUBSCRIBE Fruit');
  const res = await ok(c, 'LIST (RECURSIVEMATCH SUBSCRIBED) "" "Fr*"');
  assert.deepEqual(res, ['* LIST (\\HasChildren \\Subscribed) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))', BANANA]);
});

test('LIST (SPECIAL-USE) and several patterns in parentheses, each mailbox once', GUARD, async (t) => {
  const { c } = await setup(t);
  assert.deepEqual(await ok(c, 'LIST (SPECIAL-USE) "" *'), [ARCHIVE, DRAFTS, JUNK, SENT, TRASH]);
  assert.deepEqual(await ok(c, 'LIST (SPECIAL-USE) "" (J* T*) RETURN (SPECIAL-USE)'), [JUNK, TRASH]);
  assert.deepEqual(await ok(c, 'LIST (SPECIAL-USE SUBSCRIBED) "" *'), [DRAFTS, JUNK, SENT, TRASH], 'both options must hold');
  assert.deepEqual(await ok(c, 'LIST "" (INBOX Fruit/% "Fruit/B*" inbox)'), [INBOX, '* LIST (\\HasNoChildren) "/" Fruit/Apple', BANANA]);
  assert.deepEqual(await ok(c, 'LIST () "" (Work/%)'), ['* LIST (\\HasChildren) "/" Work/Old']);
  assert.deepEqual(await ok(c, 'LIST "" ("" Trash)'), ['* LIST (\\Noselect) "/" ""', TRASH]);
  assert.deepEqual(await ok(c, 'LIST "" Trash RETURN ()'), [TRASH]);
  assert.deepEqual(await ok(c, 'LIST "" Trash RETURN (CHILDREN SUBSCRIBED SPECIAL-USE)'), [TRASH]);
  // the classic forms are unchanged
  assert.deepEqual(await ok(c, 'LIST "" Work/%'), ['* LIST (\\HasChildren) "/" Work/Old']);
  assert.deepEqual(await ok(c, 'LSUB "" Work/%'), ['* LSUB (\\Noselect) "/" Work/Old']);
});

test('LIST-STATUS: a STATUS after each selectable mailbox, none for \\NonExistent; STATUS=SIZE', GUARD, async (t) => {
  const { c } = await setup(t);
  const fetched = await ok(c, 'EXAMINE INBOX');
  assert.ok(fetched.includes('* 2 EXISTS'));
  const sizes = (await ok(c, 'FETCH 1:* (RFC822.SIZE)')).map((l) => Number(/RFC822\.SIZE (\d+)/.exec(l)?.[1]));
  assert.equal(sizes.reduce((a, b) => a + b, 0), SIZE);
  await ok(c, 'UNSELECT');
  assert.deepEqual(await ok(c, 'STATUS INBOX (SIZE MESSAGES)'), [`* STATUS INBOX (SIZE ${SIZE} MESSAGES 2)`]);
  assert.deepEqual(await ok(c, 'STATUS Trash (SIZE)'), ['* STATUS Trash (SIZE 0)']);
  assert.deepEqual(await ok(c, 'LIST "" (INBOX Trash) RETURN (STATUS (MESSAGES UNSEEN SIZE))'), [INBOX, `* STATUS INBOX (MESSAGES 2 UNSEEN 1 SIZE ${SIZE})`, TRASH, '* STATUS Trash (MESSAGES 0 UNSEEN 0 SIZE 0)']);
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED) "" G* RETURN (STATUS (MESSAGES))'), ['* LIST (\\NonExistent \\Subscribed) "/" Ghost/Child', '* LIST (\\NonExistent \\Subscribed) "/" Gone'], 'RFC 5819 §2: no STATUS for \\NonExistent');
  assert.deepEqual(await ok(c, 'LIST "" % RETURN (STATUS (UIDNEXT))').then((r) => r.filter((l) => /Work|Fruit/.test(l))), ['* LIST (\\HasChildren) "/" Fruit', '* STATUS Fruit (UIDNEXT 1)', '* LIST (\\HasChildren) "/" Work', '* STATUS Work (UIDNEXT 1)']);
  const res = await ok(c, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" Gh% RETURN (STATUS (MESSAGES HIGHESTMODSEQ))');
  assert.deepEqual(res, ['* LIST (\\NonExistent) "/" Ghost ("CHILDINFO" ("SUBSCRIBED"))'], 'none for a level that is no mailbox');
  const inbox = await ok(c, 'LIST "" INBOX RETURN (STATUS (HIGHESTMODSEQ RECENT UIDVALIDITY))');
  assert.match(inbox[1] ?? '', /^\* STATUS INBOX \(HIGHESTMODSEQ [1-9]\d* RECENT \d+ UIDVALIDITY \d+\)$/);
});

test('LIST-STATUS: no STATUS for a mailbox listed only for a descendant RECURSIVEMATCH found', GUARD, async (t) => {
  const { c } = await setup(t);
  // RFC 5819 §2: a STATUS for each selectable mailbox matching the pattern and the selection options; Fruit is not
  // subscribed, it is listed only for its subscribed child (as Dovecot, no STATUS)
  const fruit = '* LIST (\\HasChildren) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))';
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" Fr% RETURN (STATUS (MESSAGES))'), [fruit]);
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" Fruit/* RETURN (STATUS (MESSAGES))'), [BANANA, '* STATUS Fruit/Banana (MESSAGES 0)']);
  await ok(c, 'SUBSCRIBE Fruit');
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" Fr% RETURN (STATUS (MESSAGES))'), [
    '* LIST (\\HasChildren \\Subscribed) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))',
    '* STATUS Fruit (MESSAGES 0)',
  ]);
});

test('LIST-STATUS: a mailbox deleted between the LIST and its STATUS is told \\Noselect, without a STATUS', GUARD, async (t) => {
  const { h, c } = await setup(t);
  // another session deletes Archive just after this LIST has read the mailbox names
  const listMailboxes = h.store.listMailboxes.bind(h.store);
  h.store.listMailboxes = async (user) => {
    const boxes = await listMailboxes(user);
    if (boxes.some((b) => b.name === 'Archive')) await h.store.deleteMailbox(user, 'Archive');
    return boxes;
  };
  const res = await ok(c, 'LIST "" (Archive Trash) RETURN (STATUS (MESSAGES))');
  // RFC 5819 §2: the STATUS MUST NOT be returned and the LIST response MUST include \NoSelect
  assert.deepEqual(res, ['* LIST (\\Noselect \\HasNoChildren \\Archive) "/" Archive', TRASH, '* STATUS Trash (MESSAGES 0)']);
  h.store.listMailboxes = listMailboxes;
  assert.deepEqual(await ok(c, 'LIST "" (Archive Trash) RETURN (STATUS (MESSAGES))'), [TRASH, '* STATUS Trash (MESSAGES 0)']);
});

test('an option given twice is taken once (RFC 5258 §3, RFC 9051 §6.3.9); two STATUS options ask for the items of both', GUARD, async (t) => {
  const { c } = await setup(t);
  assert.deepEqual(await ok(c, 'LIST "" * RETURN (CHILDREN CHILDREN)'), await ok(c, 'LIST "" * RETURN (CHILDREN)'));
  assert.deepEqual(await ok(c, 'LIST (SUBSCRIBED SUBSCRIBED) "" * RETURN (SUBSCRIBED SUBSCRIBED)'), await ok(c, 'LIST (SUBSCRIBED) "" *'));
  const once = [TRASH, '* STATUS Trash (MESSAGES 0)'];
  assert.deepEqual(await ok(c, 'LIST "" Trash RETURN (STATUS (MESSAGES) STATUS (MESSAGES))'), once);
  assert.deepEqual(await ok(c, 'LIST "" Trash RETURN (STATUS (MESSAGES) CHILDREN STATUS (MESSAGES))'), once);
  assert.deepEqual(await ok(c, 'LIST "" INBOX RETURN (STATUS (MESSAGES) STATUS (SIZE MESSAGES))'), [INBOX, `* STATUS INBOX (MESSAGES 2 SIZE ${SIZE})`]);
  // still checked whole: a bad item or an empty list in the second is BAD
  assert.match(await c.cmd('x', 'LIST "" * RETURN (STATUS (MESSAGES) STATUS (BOGUS))'), /^x BAD /m);
  assert.match(await c.cmd('x', 'LIST "" * RETURN (STATUS (MESSAGES) STATUS ())'), /^x BAD /m);
});

test('LIST-EXTENDED and STATUS: malformed commands get BAD and the session goes on', GUARD, async (t) => {
  const { c } = await setup(t);
  const many = `(${Array.from({ length: 101 }, (_, i) => `p${i}`).join(' ')})`;
  // matching costs name length × pattern length per mailbox: a list of long patterns is refused as a whole
  const long = `(${Array.from({ length: 3 }, () => `${'*a'.repeat(124)}*b`).join(' ')})`;
  for (const bad of [
    'LIST (RECURSIVEMATCH) "" *',
    'LIST (REMOTE RECURSIVEMATCH) "" *',
    'LIST (BOGUS) "" *',
    'LIST (SPECIAL-USE RECURSIVEMATCH) "" *',
    'LIST ("SUBSCRIBED") "" *',
    'LIST (SUBSCRIBED (x)) "" *',
    'LIST "" * RETURN (CHILDREN (x))',
    'LIST "" ((INBOX))',
    'LIST () (INBOX) *',
    'LIST (SUBSCRIBED) ""',
    'LIST "" * RETURNS (CHILDREN)',
    'LIST (SUBSCRIBED "" *',
    'LIST (SUBSCRIBED)"" *',
    'LIST "" ()',
    'LIST "" (INBOX',
    'LIST "" (INBOX)Trash',
    `LIST "" ${many}`,
    `LIST "" ${long}`,
    `LIST ${'x'.repeat(300)} (a b)`,
    'LIST "" * RETURN (BOGUS)',
    'LIST "" * RETURN',
    'LIST "" * RETURN STATUS',
    'LIST "" * RETURN (STATUS)',
    'LIST "" * RETURN (STATUS ())',
    'LIST "" * RETURN (STATUS (MESSAGES BOGUS))',
    'LIST "" * RETURN (CHILDREN) extra',
    'LIST "" * EXTRA (CHILDREN)',
    'STATUS INBOX (SIZE BOGUS)',
    'STATUS INBOX SIZE',
    // RFC 9051 §6.3.11 / RFC 3501 §9: status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
    'STATUS INBOX ()',
  ]) {
    const res = await c.cmd('x', bad);
    assert.match(res, /^x BAD /m, `${bad}: ${res}`);
    assert.doesNotMatch(res, /^\* (LIST|STATUS)/m, bad);
  }
  assert.deepEqual(await ok(c, 'LIST "" Trash'), [TRASH]);
  assert.deepEqual(await ok(c, `LIST "" (${Array.from({ length: 99 }, (_, i) => `p${i}`).join(' ')} Trash)`), [TRASH], '100 patterns');
  assert.deepEqual(await ok(c, `LIST "" ${'*a'.repeat(124)}*b`), [], 'one long pattern as before');
  assert.match(await c.cmd('n', 'LIST (SUBSCRIBED) "" *'), /^n OK/m);
  assert.match(await c.cmd('n', 'LIST (SUBSCRIBED REMOTE RECURSIVEMATCH) "" * RETURN ()'), /^n OK/m);
  assert.match(await c.cmd('n', 'LIST (SPECIAL-USE SUBSCRIBED RECURSIVEMATCH) "" *'), /^n OK/m);
});

test('python3 imaplib: LIST with selection and return options, LIST-STATUS and STATUS SIZE', GUARD, async (t) => {
  const { h } = await setup(t);
  const script = String.raw`
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('alice@example.org', 'wonderland')
for cap in ('LIST-EXTENDED', 'LIST-STATUS', 'STATUS=SIZE'):
    assert cap in M.capabilities, M.capabilities
typ, data = M._simple_command('LIST', '(SUBSCRIBED)', '""', '(INBOX Fruit/*)', 'RETURN', '(CHILDREN STATUS (MESSAGES SIZE))')
assert typ == 'OK', (typ, data)
typ, lists = M._untagged_response(typ, data, 'LIST')
assert lists == [b'(\\HasNoChildren \\Subscribed) "/" INBOX', b'(\\HasNoChildren \\Subscribed) "/" Fruit/Banana'], lists
typ, status = M._untagged_response(typ, data, 'STATUS')
assert status == [b'INBOX (MESSAGES 2 SIZE ${SIZE})', b'Fruit/Banana (MESSAGES 0 SIZE 0)'], status
typ, data = M.status('INBOX', '(SIZE)'); assert data == [b'INBOX (SIZE ${SIZE})'], data
try:
    M._simple_command('LIST', '(RECURSIVEMATCH)', '""', '*'); raise SystemExit('RECURSIVEMATCH alone accepted')
except imaplib.IMAP4.error:
    pass
typ, data = M.list('""', 'Trash'); assert typ == 'OK' and data == [b'(\\HasNoChildren \\Trash \\Subscribed) "/" Trash'], data
M.logout()
print('ok')
`;
  await expectPythonOk(h.port, script);
});

test('imapflow: list() with a status query takes the STATUS replies of LIST-STATUS', GUARD, async (t) => {
  const { h } = await setup(t);
  const client = new ImapFlow({ host: '127.0.0.1', port: h.port, secure: false, auth: { user: USER, pass: 'wonderland' }, logger: false, disableAutoIdle: true });
  await client.connect();
  t.after(() => client.logout().catch(() => undefined));
  const boxes = await client.list({ statusQuery: { messages: true, unseen: true } });
  const inbox = boxes.find((b) => b.path === 'INBOX');
  assert.deepEqual({ messages: inbox?.status?.messages, unseen: inbox?.status?.unseen }, { messages: 2, unseen: 1 });
  assert.equal(boxes.find((b) => b.path === 'Junk')?.specialUse, '\\Junk');
  assert.equal(boxes.find((b) => b.path === 'Fruit/Banana')?.status?.messages, 0);
  assert.equal(boxes.find((b) => b.path === 'Gone'), undefined, 'a subscription without a mailbox is not listed');
});
