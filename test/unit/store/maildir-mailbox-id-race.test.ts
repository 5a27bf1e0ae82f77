// The spamgate-mailboxid file (maildir-mailbox-id.ts): a folder's first id written once, by whichever writer comes
// first, so no client is told an id the file does not keep (RFC 8474 §4); and the file is read without following a
// link, blocking on a FIFO or loading a huge file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAILBOXID_FILE, resolveMailboxId } from '../../../src/store/maildir-mailbox-id.ts';

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-mboxid-race-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
const noClaims = async (): Promise<ReadonlyMap<string, string | undefined>> => new Map();

test('a FIFO, a link or a huge file under the id file’s name is not read: the folder still gets an id, at once', async (t) => {
  const root = await tempRoot(t);
  const fifo = join(root, '.Fifo');
  await mkdir(fifo);
  execFileSync('mkfifo', [join(fifo, MAILBOXID_FILE)]);
  const linked = join(root, '.Link');
  await mkdir(linked);
  await writeFile(join(root, 'outside'), 'Foutside 1\n');
  await symlink(join(root, 'outside'), join(linked, MAILBOXID_FILE));
  const huge = join(root, '.Huge');
  await mkdir(huge);
  await writeFile(join(huge, MAILBOXID_FILE), 'x'.repeat(64 * 1024 * 1024));
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('blocked on the FIFO')), 3000).unref());
  const ids = await Promise.race([Promise.all([fifo, linked, huge].map((d, i) => resolveMailboxId(d, 2000 + i, noClaims, false))), timeout]);
  assert.equal(new Set(ids).size, 3);
  assert.notEqual(ids[1], 'Foutside', 'a link to a file outside the folder is not taken as its id');
  assert.equal(await readFile(join(root, 'outside'), 'utf8'), 'Foutside 1\n', 'the link target is untouched');
});
