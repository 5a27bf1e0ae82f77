// MULTIAPPEND's store step (maildir-append-all.ts): a commit that fails takes back every message of the batch the
// folder lists, also those the commit reported failed after it had numbered them (RFC 3502 §6.3.11).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitAll } from '../../../src/store/maildir-append-all.ts';
import type { MaildirFolder } from '../../../src/store/maildir-folder.ts';
import type { Staged } from '../../../src/store/maildir-stage.ts';

const staged = (key: string): Staged => ({ key, tmp: `/nonexistent/tmp/${key}`, size: 1, date: 0, fields: [], flags: [] });

test('a commit that fails after numbering the batch (a failed directory fsync) expunges all of it', async (t) => {
  const listed = new Map([
    [7, 'k1'],
    [8, 'k2'],
    [3, 'older'],
  ]);
  const expunged: number[][] = [];
  const dir = await mkdtemp(join(tmpdir(), 'sg-append-all-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const folder = {
    path: dir,
    // the uid list was written (both are listed), then the fsync of new/ failed: every result is that error
    commitStaged: async () => [new Error('EIO: fsync'), new Error('EIO: fsync')],
    list: () => [...listed.keys()].map((uid) => ({ uid })),
    keyOf: (uid: number) => listed.get(uid),
    expunge: async (uids: readonly number[]) => {
      expunged.push([...uids]);
      return [...uids];
    },
  } as unknown as MaildirFolder;
  await assert.rejects(commitAll(folder, [staged('k1'), staged('k2')], false), /EIO/);
  assert.deepEqual(expunged, [[7, 8]], 'the batch is taken back, the older message kept');
  assert.deepEqual(await readdir(dir), [], 'the batch journal goes with the batch');
});
