// Stale tmp/ files: removed after 36 hours when a folder is first opened; fresh files and directories stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';
import { sweepStaleTmp, TMP_MAX_AGE_MS } from '../../../src/store/maildir-tmp-sweep.ts';

const U = 'carol@example.org';

async function seedTmp(folder: string): Promise<void> {
  const tmp = join(folder, 'tmp');
  await mkdir(join(tmp, 'deleted.1.2'), { recursive: true });
  await writeFile(join(tmp, 'stale'), 'half a message');
  await writeFile(join(tmp, 'fresh'), 'being written');
  const old = new Date(Date.now() - TMP_MAX_AGE_MS - 3600_000);
  await utimes(join(tmp, 'stale'), old, old);
  await utimes(join(tmp, 'deleted.1.2'), old, old);
}

test('sweepStaleTmp removes only regular files older than 36 hours', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sg-tmpsweep-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await seedTmp(dir);
  assert.equal(await sweepStaleTmp(dir), 1);
  assert.deepEqual((await readdir(join(dir, 'tmp'))).sort(), ['deleted.1.2', 'fresh']);
  assert.equal(await sweepStaleTmp(join(dir, 'no-such-folder')), 0);
});

test('opening a folder through the store sweeps its tmp/ in the background', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sg-tmpsweep-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await seedTmp(store.maildirOf(U));
  await store.append(U, 'INBOX', Buffer.from('Subject: x\r\n\r\nbody\r\n'));
  await store.settle();
  assert.deepEqual((await readdir(join(store.maildirOf(U), 'tmp'))).sort(), ['deleted.1.2', 'fresh']);
});
