// FIFOs planted under the names of a Maildir's metadata files (by someone with shell access to it) do not hold the
// store: the uid list, keywords, subscriptions, recent mark, folder snapshot and header cache are read only as regular
// files, never waiting for a writer that does not come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'alice@example.org';
const message = (n: number): Buffer => Buffer.from(`Subject: m ${n}\r\nFrom: a@b.example\r\n\r\nbody ${n}\r\n`);

test('a fresh store opens, lists and reads a Maildir whose metadata files are FIFOs', { timeout: 60_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-fifo-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.appendAll?.(U, 'INBOX', [{ raw: message(1) }]);
  await store.settle();
  const md = store.maildirOf(U);
  for (const name of ['subscriptions', 'dovecot-keywords', 'dovecot-uidlist']) {
    await unlink(join(md, name)).catch(() => undefined);
    const mk = spawnSync('mkfifo', [join(md, name)]);
    assert.equal(mk.status, 0, String(mk.stderr));
  }
  const fresh = createMaildirStore({ root, fsync: false });
  const listed = await fresh.list(U, 'INBOX');
  assert.equal(listed.length, 1, 'the message is listed (numbered anew: its uid list was no file)');
  assert.match((await fresh.read(U, 'INBOX', listed[0]?.uid ?? 0)).toString(), /^Subject: m 1/);
  assert.ok((await fresh.listMailboxes(U)).some((m) => m.name === 'INBOX'), 'the mailboxes are listed');
  await fresh.settle();
});
