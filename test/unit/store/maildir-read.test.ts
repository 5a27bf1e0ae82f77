// Reading message files: sizes from the name trusted only while they match, files that changed, vanished or are no
// regular file, the synchronous (small) and thread-pool (large) paths, and the store's read over a changed file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMessageFile, SYNC_READ_MAX } from '../../../src/store/maildir-read.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';
import { MailboxError } from '../../../src/store/mailbox-store.ts';

const U = 'alice@example.org';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-maildir-read-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Both paths: everything synchronous up to the default limit, and everything in the thread pool. */
const MODES = [
  ['sync', SYNC_READ_MAX],
  ['thread pool', 0],
] as const;

for (const [mode, syncMax] of MODES) {
  test(`${mode}: a file of the size its name gives is served as it is; one that changed size is read whole and made CRLF`, async (t) => {
    const dir = await tempDir(t);
    const crlf = 'Subject: a\r\n\r\nbody\r\n';
    const named = join(dir, `1700000000.M1P1Q1.host,S=${crlf.length},W=${crlf.length}:2,S`);
    await writeFile(named, crlf);
    assert.equal((await readMessageFile(named, syncMax))?.toString(), crlf);
    // grown: another program rewrote it with bare LF line ends (the name's W= no longer describes it)
    const grown = 'Subject: a\n\nbody, longer than before\n.dot\n';
    await writeFile(named, grown);
    assert.equal((await readMessageFile(named, syncMax))?.toString(), grown.replace(/\n/g, '\r\n'));
    // shrunk, bare LF again
    await writeFile(named, 'S: b\n\nx\n');
    assert.equal((await readMessageFile(named, syncMax))?.toString(), 'S: b\r\n\r\nx\r\n');
    // empty
    const empty = join(dir, '1700000001.M1P1Q1.host,S=0,W=0');
    await writeFile(empty, '');
    assert.equal((await readMessageFile(empty, syncMax))?.length, 0);
    // no size in the name: scanned
    const foreign = join(dir, '1700000002.external.host');
    await writeFile(foreign, 'a\nb\r\nc');
    assert.equal((await readMessageFile(foreign, syncMax))?.toString(), 'a\r\nb\r\nc');
  });

  test(`${mode}: a large file is read whole`, async (t) => {
    const dir = await tempDir(t);
    const big = Buffer.alloc(3 * SYNC_READ_MAX + 17, 'x');
    for (let i = 100; i < big.length; i += 100) big[i - 2] = 13, big[i - 1] = 10;
    const file = join(dir, `1700000000.M1P1Q1.host,S=${big.length},W=${big.length}`);
    await writeFile(file, big);
    const got = await readMessageFile(file, syncMax);
    assert.ok(got?.equals(big));
    // named smaller than it is (it grew), across the synchronous limit
    const misnamed = join(dir, '1700000001.M1P1Q1.host,S=10,W=10');
    await writeFile(misnamed, big);
    assert.ok((await readMessageFile(misnamed, syncMax))?.equals(big));
  });

  test(`${mode}: a file that is gone, a link, a directory or a FIFO is no message (undefined), and a FIFO does not hang the read`, async (t) => {
    const dir = await tempDir(t);
    assert.equal(await readMessageFile(join(dir, 'missing,S=3,W=3'), syncMax), undefined);
    const outside = join(dir, 'secret');
    await writeFile(outside, 'secret\r\n');
    await symlink(outside, join(dir, 'link,S=8,W=8'));
    assert.equal(await readMessageFile(join(dir, 'link,S=8,W=8'), syncMax), undefined);
    await rm(join(dir, 'secret'));
    execFileSync('mkdir', [join(dir, 'dir,S=1,W=1')]);
    assert.equal(await readMessageFile(join(dir, 'dir,S=1,W=1'), syncMax), undefined);
    execFileSync('mkfifo', [join(dir, 'fifo,S=5,W=5')]);
    assert.equal(await readMessageFile(join(dir, 'fifo,S=5,W=5'), syncMax), undefined);
  });
}

test('one turn of the event loop reads at most 16 files or 512 KiB synchronously; the rest go to the thread pool until the next turn', async (t) => {
  const dir = await tempDir(t);
  const small = Buffer.from('Subject: s\r\n\r\nx\r\n');
  const big = Buffer.alloc(64 * 1024, 'y');
  for (let i = 0; i < 20; i++) await writeFile(join(dir, `s${i},S=${small.length},W=${small.length}`), small);
  for (let i = 0; i < 10; i++) await writeFile(join(dir, `b${i},S=${big.length},W=${big.length}`), big);
  const turn = (names: string[]): (Buffer | undefined | Promise<Buffer | undefined>)[] => names.map((n) => readMessageFile(join(dir, n)));
  const sync = (got: unknown[]): boolean[] => got.map((g) => !(g instanceof Promise));
  await new Promise((r) => setImmediate(r));
  const smalls = turn(Array.from({ length: 20 }, (_, i) => `s${i},S=${small.length},W=${small.length}`));
  assert.deepEqual(sync(smalls), [...Array(16).fill(true), ...Array(4).fill(false)]);
  for (const g of await Promise.all(smalls)) assert.ok(g?.equals(small));
  await new Promise((r) => setImmediate(r));
  const bigs = turn(Array.from({ length: 10 }, (_, i) => `b${i},S=${big.length},W=${big.length}`));
  assert.deepEqual(sync(bigs), [...Array(8).fill(true), false, false]);
  for (const g of await Promise.all(bigs)) assert.ok(g?.equals(big));
  await new Promise((r) => setImmediate(r));
  assert.equal(sync(turn([`s0,S=${small.length},W=${small.length}`]))[0], true, 'a new turn has its budget back');
  // syncReadMax 0: nothing synchronous, not even the open
  await new Promise((r) => setImmediate(r));
  const none = readMessageFile(join(dir, `s0,S=${small.length},W=${small.length}`), 0);
  assert.ok(none instanceof Promise);
  assert.ok((await none)?.equals(small));
});

test('store.read: a message file rewritten with another size after it was indexed is served as it is now, in CRLF', async (t) => {
  const root = await tempDir(t);
  for (const syncReadMax of [undefined, 0]) {
    const store = createMaildirStore({ root, fsync: false, ...(syncReadMax === undefined ? {} : { syncReadMax }) });
    await store.ensureUser(U);
    const { uid } = await store.append(U, 'INBOX', Buffer.from('Subject: one\r\n\r\nfirst\r\n'));
    await store.list(U, 'INBOX');
    const newDir = join(store.maildirOf(U), 'new');
    const curDir = join(store.maildirOf(U), 'cur');
    const [name] = [...(await readdir(newDir)), ...(await readdir(curDir))];
    assert.ok(name);
    const file = join((await readdir(newDir)).includes(name) ? newDir : curDir, name);
    await writeFile(file, 'Subject: one\n\nrewritten, and longer\n');
    assert.equal((await store.read(U, 'INBOX', uid)).toString(), 'Subject: one\r\n\r\nrewritten, and longer\r\n');
    await writeFile(file, 'S\n');
    assert.equal((await store.read(U, 'INBOX', uid)).toString(), 'S\r\n');
    // renamed behind the index's back (another program set a flag): found again after a look at the folder
    await rename(file, join(curDir, `${name.split(':')[0]}:2,F`));
    assert.equal((await store.read(U, 'INBOX', uid)).toString(), 'S\r\n');
    // removed: known gone
    await rm(join(curDir, `${name.split(':')[0]}:2,F`));
    await assert.rejects(store.read(U, 'INBOX', uid), (e: unknown) => e instanceof MailboxError && e.code === 'NONEXISTENT');
  }
});

test('readHeader: the start of a big message holding its whole header (CRLF), never the whole file; a gone one is NONEXISTENT', async (t) => {
  const dir = await tempDir(t);
  const store = createMaildirStore({ root: dir, fsync: false });
  await store.ensureUser(U);
  const head = 'From: a@example.org\nSubject: Grüße\n\n';
  const { uid } = await store.append(U, 'INBOX', Buffer.from(head + 'x'.repeat(80).concat('\n').repeat(5000)));
  const start = await store.readHeader(U, 'INBOX', uid);
  assert.ok(start.toString('utf8').startsWith(head.replace(/\n/g, '\r\n')));
  assert.ok(start.length < 64 * 1024, `read ${start.length} octets of a 400 KB message`);
  await store.expunge(U, 'INBOX', [uid]);
  await assert.rejects(store.readHeader(U, 'INBOX', uid), (e: unknown) => e instanceof MailboxError && e.code === 'NONEXISTENT');
});
