// Real clients against the IMAP server: imapflow (IDLE, MOVE, Junk learning), two concurrent sessions, curl, mbsync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { mbsyncSetup, run, sample, startImap } from './imap-harness.ts';

function client(port: number, user = 'alice@example.org', pass = 'wonderland'): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass }, logger: false, disableAutoIdle: true });
}

test('imapflow: IDLE sees another session append; MOVE into/out of Junk trains spam/ham, Trash trains nothing', async (t) => {
  const h = await startImap(t);
  const a = client(h.port);
  const b = client(h.port);
  await a.connect();
  await b.connect();
  t.after(async () => {
    await a.logout().catch(() => undefined);
    await b.logout().catch(() => undefined);
  });
  await a.mailboxOpen('INBOX');
  const exists = once(a, 'exists');
  const idle = a.idle();
  await b.append('INBOX', sample('first'), []);
  const [ev] = (await exists) as [{ count: number }];
  assert.equal(ev.count, 1);
  await b.append('INBOX', sample('second'), []);
  await b.append('INBOX', sample('third'), []);
  await b.mailboxOpen('INBOX');
  const moved = await b.messageMove('1:2', 'Junk', { uid: true });
  assert.ok(moved && moved.uidMap?.size === 2);
  await a.noop();
  await idle.catch(() => undefined);
  assert.equal(a.mailbox && typeof a.mailbox === 'object' ? a.mailbox.exists : -1, 1, 'the first session saw the expunges from the move');
  await b.mailboxOpen('Junk');
  await b.messageMove('1', 'INBOX', { uid: true }); // out of Junk → ham
  await b.messageMove('2', 'Trash', { uid: true }); // to Trash → nothing
  await h.server.learningIdle();
  assert.deepEqual(h.learner.calls.map((c) => `${c.cls}:${c.subject}:${c.source}`), ['spam:first:junk_folder', 'spam:second:junk_folder', 'ham:first:junk_folder']);
});

test('two sessions on one mailbox see each other\'s flag changes and expunges at allowed points', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser('alice@example.org');
  for (let i = 0; i < 3; i++) await h.store.append('alice@example.org', 'INBOX', Buffer.from(sample(`m${i}`)));
  const a = client(h.port);
  const b = client(h.port);
  await a.connect();
  await b.connect();
  t.after(async () => {
    await a.logout().catch(() => undefined);
    await b.logout().catch(() => undefined);
  });
  await a.mailboxOpen('INBOX');
  await b.mailboxOpen('INBOX');
  const flagEvents: { uid: number; flags: Set<string> }[] = [];
  a.on('flags', (e: { uid: number; flags: Set<string> }) => flagEvents.push(e));
  const expunges: number[] = [];
  a.on('expunge', (e: { seq: number }) => expunges.push(e.seq));
  await b.messageFlagsAdd('2', ['\\Flagged'], { uid: true });
  await b.messageFlagsAdd('3', ['\\Deleted'], { uid: true });
  await b.messageDelete('3', { uid: true });
  await a.noop();
  // imapflow turns CONDSTORE on: its events then carry the MODSEQ as a bigint
  assert.ok(flagEvents.some((e) => e.uid === 2 && e.flags.has('\\Flagged')), JSON.stringify(flagEvents, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof Set ? [...v] : v)));
  assert.deepEqual(expunges, [3]);
  const list = [];
  for await (const m of a.fetch('1:*', { uid: true, flags: true, envelope: true })) list.push(m);
  assert.deepEqual(list.map((m) => m.uid), [1, 2]);
  assert.equal(list[0]?.envelope?.subject, 'm0');
});

test('curl imap:// lists, fetches and appends', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser('alice@example.org');
  await h.store.append('alice@example.org', 'INBOX', Buffer.from(sample('via curl', 'curl body')));
  const base = `imap://127.0.0.1:${h.port}`;
  const auth = ['-s', '--max-time', '20', '-u', 'alice@example.org:wonderland'];
  const ls = await run('curl', [...auth, `${base}/`]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /\* LIST \(.*\\Junk.*\) "\/" Junk/);
  const msg = await run('curl', [...auth, `${base}/INBOX;UID=1`]);
  assert.equal(msg.code, 0, msg.stderr);
  assert.match(msg.stdout, /Subject: via curl[\s\S]*curl body/);
  const file = join(h.root, 'up.eml');
  await writeFile(file, sample('uploaded'));
  const up = await run('curl', [...auth, '-T', file, `${base}/Sent`]);
  assert.equal(up.code, 0, up.stderr);
  assert.equal((await h.store.list('alice@example.org', 'Sent')).length, 1);
  const bad = await run('curl', ['-s', '--max-time', '20', '-u', 'alice@example.org:nope', `${base}/`]);
  assert.notEqual(bad.code, 0);
});

test('mbsync synchronises a mailbox both ways', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser('alice@example.org');
  await h.store.append('alice@example.org', 'INBOX', Buffer.from(sample('server side')));
  const { rc, local } = await mbsyncSetup(h);
  const first = await run('mbsync', ['-c', rc, 'sync']);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const pulled = await readdir(join(local, 'INBOX', 'new')).then((n) => n.concat());
  const cur = await readdir(join(local, 'INBOX', 'cur'));
  assert.equal(pulled.length + cur.length, 1, 'the server message arrived locally');
  await writeFile(join(local, 'INBOX', 'new', `${Date.now()}.local.host`), sample('local side'));
  const second = await run('mbsync', ['-c', rc, 'sync']);
  assert.equal(second.code, 0, second.stderr + second.stdout);
  const server = await h.store.list('alice@example.org', 'INBOX');
  assert.equal(server.length, 2, 'the local message was uploaded');
  const third = await run('mbsync', ['-c', rc, 'sync']);
  assert.equal(third.code, 0, third.stderr);
  assert.equal((await h.store.list('alice@example.org', 'INBOX')).length, 2, 'a resync duplicates nothing');
});

test('mbsync pulls a large mailbox whole: its pipelined UID FETCHes are slowed down, never refused', async (t) => {
  // a low command rate makes the pipeline outrun it many times over (mbsync sends one UID FETCH per message)
  const h = await startImap(t, { limits: { commandsPerSecond: 100 } });
  await h.store.ensureUser('alice@example.org');
  const total = 600;
  for (let i = 0; i < total; i++) await h.store.append('alice@example.org', 'INBOX', Buffer.from(sample(`bulk ${i}`)));
  const { rc, local } = await mbsyncSetup(h, { account: ['PipelineDepth 1000'], channel: ['Create Near', 'Sync Pull'] });
  const pulled = await run('mbsync', ['-c', rc, 'sync'], undefined, 120_000);
  assert.equal(pulled.code, 0, pulled.stderr + pulled.stdout);
  assert.doesNotMatch(pulled.stderr + pulled.stdout, /error|BYE/i);
  const files = (await readdir(join(local, 'INBOX', 'new'))).length + (await readdir(join(local, 'INBOX', 'cur'))).length;
  assert.equal(files, total, 'every message arrived');
});
