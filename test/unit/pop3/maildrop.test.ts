// The POP3 maildrop's UPDATE state over the real Maildir store: QUIT marks retrieved messages \Seen without
// undoing what an IMAP session changed meanwhile.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Maildrop } from '../../../src/pop3/maildrop.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'alice@example.org';

test('QUIT adds \\Seen to retrieved messages and keeps the flags another session set since login', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-maildrop-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const { uid } = await store.append(U, 'INBOX', Buffer.from('Subject: one\r\n\r\nbody\r\n'));
  const drop = await Maildrop.open(store, U);
  await drop.read(1, true);
  // meanwhile, over IMAP
  await store.updateFlags(U, 'INBOX', uid, { add: ['\\Flagged', '\\Answered'] });
  assert.deepEqual(await drop.update(), { ok: true, removed: 0, left: 1 });
  assert.deepEqual([...((await store.list(U, 'INBOX'))[0]?.flags ?? [])].sort(), ['\\Answered', '\\Flagged', '\\Seen']);
});
