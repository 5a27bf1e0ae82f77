// The pid lock under contention: processes taking and releasing it over and over never hold it two at once (a
// lock released between a failed take and the look at its owner, or taken anew meanwhile, is not removed as stale).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runProgram } from '../../helpers/run-program.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const CHILD = fileURLToPath(new URL('./pid-lock-contend-child.ts', import.meta.url));

test('pid lock: processes contending for it hold it one at a time, every round counted', async (t) => {
  const dir = tempDir(t, 'spamgate-pid-lock-');
  const lock = path.join(dir, 'x.lock');
  const marker = path.join(dir, 'held');
  const counter = path.join(dir, 'counter');
  writeFileSync(counter, '0');
  const children = 6;
  const rounds = 150;
  const runs = await Promise.all(Array.from({ length: children }, () => runProgram(process.execPath, ['--import', 'tsx', CHILD, lock, marker, counter, String(rounds)], { timeoutMs: 120_000 })));
  for (const r of runs) assert.equal(r.status, 0, r.stderr);
  assert.equal(Number(readFileSync(counter, 'utf8')), children * rounds);
});
