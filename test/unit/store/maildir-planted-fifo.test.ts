// FIFOs (and oversized files) planted under the names of a Maildir's metadata files — the uid list, keywords,
// subscriptions, MULTIAPPEND journals — by someone with shell access to it do not hold the store: they are read only
// as regular files, never waiting for a writer that does not come.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'alice@example.org';
const message = (n: number): Buffer => Buffer.from(`Subject: m ${n}\r\nFrom: a@b.example\r\n\r\nbody ${n}\r\n`);

/** A store's Maildir for U holding one delivered message ("m 1"), removed after the test. */
async function maildirWithOneMessage(t: TestContext): Promise<{ root: string; md: string }> {
  const root = await mkdtemp(join(tmpdir(), 'sg-fifo-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.appendAll?.(U, 'INBOX', [{ raw: message(1) }]);
  await store.settle();
  return { root, md: store.maildirOf(U) };
}

/** Makes a FIFO at `file`. */
function mkfifo(file: string): void {
  const mk = spawnSync('mkfifo', [file]);
  assert.equal(mk.status, 0, String(mk.stderr));
}

test('a fresh store opens, lists and reads a Maildir whose metadata files are FIFOs', { timeout: 60_000 }, async (t) => {
  const { root, md } = await maildirWithOneMessage(t);
  for (const name of ['subscriptions', 'dovecot-keywords', 'dovecot-uidlist']) {
    await unlink(join(md, name)).catch(() => undefined);
    mkfifo(join(md, name));
  }
  const fresh = createMaildirStore({ root, fsync: false });
  const listed = await fresh.list(U, 'INBOX');
  assert.equal(listed.length, 1, 'the message is listed (numbered anew: its uid list was no file)');
  assert.match((await fresh.read(U, 'INBOX', listed[0]?.uid ?? 0)).toString(), /^Subject: m 1/);
  assert.ok((await fresh.listMailboxes(U)).some((m) => m.name === 'INBOX'), 'the mailboxes are listed');
  await fresh.settle();
});

test('a FIFO or an oversized file under a journal name does not hold recovery: the folder opens and the files are left alone', { timeout: 60_000 }, async (t) => {
  const { root, md } = await maildirWithOneMessage(t);
  mkfifo(join(md, 'spamgate-batch.1.1.fifo'));
  await writeFile(join(md, 'spamgate-batch.1.2.big'), Buffer.alloc(17 * 1024 * 1024, 0x61));
  // a fresh store reads the folder cold, recovery first
  const fresh = createMaildirStore({ root, fsync: false });
  const listed = await fresh.list(U, 'INBOX');
  assert.equal(listed.length, 1, 'the delivered message is shown');
  const left = (await readdir(md)).filter((n) => n.startsWith('spamgate-batch')).sort();
  assert.deepEqual(left, ['spamgate-batch.1.1.fifo', 'spamgate-batch.1.2.big']);
  await fresh.settle();
});
