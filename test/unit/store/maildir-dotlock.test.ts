// Dotlocks: a lock left by a dead process (SIGKILL mid-delivery) is broken at once, a live holder is
// waited for, holders in one process exclude each other, and the owner is written as Dovecot does,
// in the lock from its first moment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { breakStaleLock, parseLockOwner, staleLock, tryCreateSync, withDotlock } from '../../../src/store/maildir-dotlock.ts';
import { claimRecentMark } from '../../../src/store/maildir-recent.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-dotlock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  assert.ok(child.pid);
  return child.pid;
}

test('parseLockOwner reads "<pid>:<host>" and nothing else', () => {
  assert.deepEqual(parseLockOwner('123:mx1\n'), { pid: 123, host: 'mx1' });
  assert.equal(parseLockOwner(''), undefined);
  assert.equal(parseLockOwner('abc:mx1'), undefined);
  assert.equal(parseLockOwner('0:mx1'), undefined);
});

test('a lock left by a dead process on this host is broken at once, and held while fn runs', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'dovecot-uidlist.lock');
  await writeFile(lock, `${await deadPid()}:${hostname()}`);
  const started = Date.now();
  // a wait of 30 s for a holder (2 s by default): a lock not broken at once would miss the 5 s bound by far
  const inside = await withDotlock(lock, async () => readFile(lock, 'utf8'), { waitMs: 30_000 });
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.equal(inside, `${process.pid}:${hostname()}`);
  await assert.rejects(stat(lock), /ENOENT/, 'released');
});

test('a stale lock is broken only while it is still the file judged: another waiter\'s new lock in its place stays', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'dovecot-uidlist.lock');
  const dead = `${await deadPid()}:${hostname()}`;
  await writeFile(lock, dead);
  // two waiters judge the same dead lock
  const judgedByA = await staleLock(lock);
  const judgedByB = await staleLock(lock);
  assert.ok(judgedByA && judgedByB, 'a dead owner on this host is stale');
  // A breaks it and makes its own (a live process's lock, here ours)
  assert.equal(await breakStaleLock(lock, judgedByA), true);
  assert.equal(tryCreateSync(lock), true);
  // B, acting on its old judgement, must not remove A's lock
  assert.equal(await breakStaleLock(lock, judgedByB), false);
  assert.equal(await readFile(lock, 'utf8'), `${process.pid}:${hostname()}`);
  await unlink(lock);
  // the same content made anew (often the same inode) is another file too, and a lock touched since is alive
  await writeFile(lock, dead);
  const judged = await staleLock(lock);
  assert.ok(judged);
  await unlink(lock);
  await new Promise((r) => setTimeout(r, 5));
  await writeFile(lock, dead);
  assert.equal(await breakStaleLock(lock, judged), false, 'a lock made again since the judgement');
  const again = await staleLock(lock);
  assert.ok(again);
  const later = new Date(Date.now() + 1000);
  await utimes(lock, later, later);
  assert.equal(await breakStaleLock(lock, again), false, 'a lock touched since the judgement');
  assert.equal(await breakStaleLock(lock, (await staleLock(lock)) ?? again), true, 'unchanged since judged: broken');
  await assert.rejects(stat(lock), /ENOENT/);
});

test('our own pid in a lock we do not hold is a previous incarnation (same pid after restart): stale', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'x.lock');
  await writeFile(lock, `${process.pid}:${hostname()}`);
  const started = Date.now();
  await withDotlock(lock, async () => undefined, { waitMs: 30_000 });
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});

test('a live holder is waited for; another host or an empty lock is not judged by pid', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'live.lock');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
  t.after(() => void child.kill('SIGKILL'));
  await writeFile(lock, `${child.pid}:${hostname()}`);
  setTimeout(() => void unlink(lock).catch(() => undefined), 300);
  const started = Date.now();
  await withDotlock(lock, async () => undefined);
  assert.ok(Date.now() - started >= 250, 'waited for the live holder');
  const other = join(dir, 'other.lock');
  await writeFile(other, `${await deadPid()}:not-${hostname()}`);
  setTimeout(() => void unlink(other).catch(() => undefined), 300);
  const t2 = Date.now();
  await withDotlock(other, async () => undefined);
  assert.ok(Date.now() - t2 >= 250, 'a pid on another host is not ours to check');
});

test('holders within one process exclude each other', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'many.lock');
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      withDotlock(lock, async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((r) => setTimeout(r, i % 3));
        inside--;
      }),
    ),
  );
  assert.equal(most, 1);
});

test('delivery after a crash that left dovecot-uidlist.lock is not held up', async (t) => {
  const root = await tempDir(t);
  const user = 'alice@example.org';
  const first = createMaildirStore({ root, fsync: false });
  await first.ensureUser(user);
  await first.append(user, 'INBOX', Buffer.from('Subject: one\r\n\r\nx\r\n'));
  // The state a SIGKILL inside appendUidLines leaves behind.
  await writeFile(join(first.maildirOf(user), 'dovecot-uidlist.lock'), `${await deadPid()}:${hostname()}`);
  const second = createMaildirStore({ root, fsync: false });
  const started = Date.now();
  for (let i = 0; i < 3; i++) await second.append(user, 'INBOX', Buffer.from(`Subject: after ${i}\r\n\r\nx\r\n`));
  // the uid list lock is required: a delivery that waited for it would wait 30 s (REQUIRED_WAIT_MS)
  assert.ok(Date.now() - started < 5000, `three deliveries took ${Date.now() - started} ms`);
  const box = await second.open(user, 'INBOX', { claimRecent: false });
  assert.deepEqual(box.messages.map((m) => m.uid), [1, 2, 3, 4]);
});

test('locks appear already holding their owner, and leave no temp file behind', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'spamgate-recent.lock');
  assert.equal(tryCreateSync(lock), true);
  assert.equal(await readFile(lock, 'utf8'), `${process.pid}:${hostname()}`);
  assert.equal(tryCreateSync(lock), false, 'taken');
  await unlink(lock);
  await withDotlock(lock, async () => undefined);
  assert.deepEqual(await readdir(dir), []);
});

test('claiming \\Recent after a crash that left its lock is not held up', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'spamgate-recent.lock'), `${await deadPid()}:${hostname()}`);
  const started = Date.now();
  assert.equal(await claimRecentMark(dir, 7, 5), 0);
  assert.equal(await claimRecentMark(dir, 7, 9), 5);
  // two claims that each waited for the lock (2 s) would take 4 s
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
});

test('a required lock never runs fn without the lock: a live holder past the wait is INUSE', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'dovecot-uidlist.lock');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
  t.after(() => void child.kill('SIGKILL'));
  await writeFile(lock, `${child.pid}:${hostname()}`);
  let ran = false;
  const started = Date.now();
  await assert.rejects(
    withDotlock(lock, async () => (ran = true), { required: true, waitMs: 300 }),
    (err: Error & { code?: string }) => err.code === 'INUSE',
  );
  assert.ok(Date.now() - started >= 250, 'waited for the live holder');
  assert.equal(ran, false);
  assert.equal(await readFile(lock, 'utf8'), `${child.pid}:${hostname()}`, "the holder's lock is left alone");
  // once the holder lets go, the lock is taken
  await unlink(lock);
  assert.equal(await withDotlock(lock, async () => 'in', { required: true, waitMs: 300 }), 'in');
});

test('an old lock whose holder on this host is alive is not broken: a slow writer keeps it', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'dovecot-uidlist.lock');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
  t.after(() => void child.kill('SIGKILL'));
  await writeFile(lock, `${child.pid}:${hostname()}`);
  const old = (Date.now() - 10 * 60_000) / 1000; // well past the 120 s age limit
  await utimes(lock, old, old);
  let ran = false;
  await assert.rejects(
    withDotlock(lock, async () => (ran = true), { required: true, waitMs: 300 }),
    (err: Error & { code?: string }) => err.code === 'INUSE',
  );
  assert.equal(ran, false, 'two writers in the uid list at once');
  assert.equal(await readFile(lock, 'utf8'), `${child.pid}:${hostname()}`);
});

test('a holder whose lock was broken and taken by another does not remove the new holder\'s lock', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'dovecot-uidlist.lock');
  const theirs = `4242:not-${hostname()}`;
  await withDotlock(
    lock,
    async () => {
      // another writer judged our lock stale, broke it and took its own
      await unlink(lock);
      await writeFile(lock, theirs);
    },
    { required: true },
  );
  assert.equal(await readFile(lock, 'utf8').catch(() => 'gone'), theirs);
});

test('a holder keeps its lock fresh while it works, so others do not judge it stale by age', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, 'dovecot-uidlist.lock');
  const old = (Date.now() - 10 * 60_000) / 1000;
  let mtime = 0;
  await withDotlock(
    lock,
    async () => {
      await utimes(lock, old, old); // as if the work had taken ten minutes
      await new Promise((r) => setTimeout(r, 1300));
      mtime = (await stat(lock)).mtimeMs;
    },
    { required: true, touchMs: 500 },
  );
  assert.ok(Date.now() - mtime < 5000, `lock last touched ${Math.round((Date.now() - mtime) / 1000)} s ago`);
});
