// The shared writer of the user lists file (user-list-edit.ts) against a lock held by another live process: a lock
// held for a moment (the server serving a list link, or another `spamgate users`) is waited for, so `users del`
// still drops the deleted user's lists; a lock held for long is refused after a bounded wait, never waited on for ever.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { unlinkSync, writeFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { addEntry, ListsBusyError } from '../../../src/lists/user-list-edit.ts';
import { readUserLists, userListsPath } from '../../../src/lists/user-list-file.ts';
import { processIdentity } from '../../../src/util/process-identity.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

/** A lock file held by a live process other than this one (a child that only sleeps). */
function lockByOther(t: TestContext, lock: string): void {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => child.kill());
  const pid = child.pid ?? 0;
  writeFileSync(lock, `${pid}\n${processIdentity(pid) ?? ''}\n`);
}

test('a lock another process holds for a moment is waited for: the change is made, not refused', async (t) => {
  const file = userListsPath(tempDir(t, 'spamgate-user-list-edit-'));
  lockByOther(t, `${file}.lock`);
  setTimeout(() => unlinkSync(`${file}.lock`), 300);
  assert.equal(await addEntry(file, 'alice@localhost', 'allow', 'friend@partner.example', () => true), 'added');
  const r = readUserLists(file);
  assert.ok(r.ok);
  assert.deepEqual(r.data['alice@localhost']?.allow, ['friend@partner.example']);
});

test('a lock another process keeps is refused after a bounded wait, and the queue goes on after it', async (t) => {
  const file = userListsPath(tempDir(t, 'spamgate-user-list-edit-'));
  lockByOther(t, `${file}.lock`);
  const started = Date.now();
  await assert.rejects(addEntry(file, 'alice@localhost', 'allow', 'friend@partner.example', () => true), ListsBusyError);
  assert.ok(Date.now() - started < 15_000, 'bounded');
  unlinkSync(`${file}.lock`);
  assert.equal(await addEntry(file, 'alice@localhost', 'block', 'spam.example', () => true), 'added');
});
