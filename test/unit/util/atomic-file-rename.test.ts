// Atomic replacement whose final rename fails (the name is taken by a directory): the error is thrown and the
// temp file written aside is removed, not left in the directory, one more for each failed write.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic, writeFileAtomicSync } from '../../../src/util/atomic-file.ts';

test('a failed rename leaves no temp file behind (sync and async writes)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-atomic-rename-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const target = path.join(dir, 'state.json');
  mkdirSync(path.join(target, 'inside'), { recursive: true });
  for (let i = 0; i < 3; i++) {
    assert.throws(() => writeFileAtomicSync(target, '{}'), /EISDIR|ENOTEMPTY|EEXIST/);
    await assert.rejects(writeFileAtomic(target, '{}'), /EISDIR|ENOTEMPTY|EEXIST/);
  }
  assert.deepEqual(readdirSync(dir), ['state.json']);
});
