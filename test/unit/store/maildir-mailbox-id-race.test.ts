// The spamgate-mailboxid file (maildir-mailbox-id.ts): a folder's first id written once, by whichever writer comes
// first, so no client is told an id the file does not keep (RFC 8474 §4); and the file is read without following a
// link, blocking on a FIFO or loading a huge file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { giveMailboxId, MAILBOXID_FILE, resolveMailboxId } from '../../../src/store/maildir-mailbox-id.ts';

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-mboxid-race-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
const noClaims = async (): Promise<ReadonlyMap<string, string | undefined>> => new Map();
const fileId = async (dir: string): Promise<string | undefined> => (await readFile(join(dir, MAILBOXID_FILE), 'utf8')).split(' ')[0];

test('a folder first asked for its id while the store gives it one: the id told is the id kept', async (t) => {
  const root = await tempRoot(t);
  for (let i = 0; i < 40; i++) {
    const dir = join(root, `.F${i}`);
    await mkdir(dir);
    const [, told] = await Promise.all([giveMailboxId(dir, false), resolveMailboxId(dir, 1000 + i, noClaims, false)]);
    assert.equal(told, await fileId(dir), `folder ${i}: told ${told}, kept ${await fileId(dir)}`);
    // and two first askers at once (two deliveries, two sessions) tell the same id
    const dir2 = join(root, `.G${i}`);
    await mkdir(dir2);
    const [a, b] = await Promise.all([giveMailboxId(dir2, false), giveMailboxId(dir2, false)]).then(() => Promise.all([fileId(dir2), fileId(dir2)]));
    assert.equal(a, b);
  }
});

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
