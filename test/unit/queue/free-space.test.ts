// The spool's free-space watcher with the real statfs: the space a message needs, the cached reading (a MAIL
// never waits for the file system), the gauges, and a file system that cannot be read (nothing refused).
import assert from 'node:assert/strict';
import { rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { FREE_SPACE_MAX_AGE_MS, spaceNeeded, watchFreeSpace } from '../../../src/queue/free-space.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { capturingLogger, metricValue, tempDir } from './helpers.ts';

test('the space a message needs: the reserve plus 1.5 × its declared SIZE, or × the largest message without one; nothing with min_free 0', () => {
  assert.equal(spaceNeeded(100, 1000, 5000), 100 + 1500);
  assert.equal(spaceNeeded(100, undefined, 5000), 100 + 7500);
  assert.equal(spaceNeeded(100, 0, 5000), 100);
  assert.equal(spaceNeeded(0, 1000, 5000), 0);
});

test('free bytes come from statfs, are cached for about a second, and are exported with the reserve', async (t) => {
  const dir = await tempDir(t, 'spamgate-free-');
  let now = 0;
  let minFree = 1234;
  const registry = createRegistry(false);
  const watcher = await watchFreeSpace({ dir, registry, log: silentLogger, minFree: () => minFree, now: () => now });
  const s = await statfs(dir);
  const free = watcher.freeBytes();
  assert.ok(free !== undefined && free > 0);
  // another writer on the disk may change it a little meanwhile
  assert.ok(Math.abs(free - s.bavail * s.bsize) < 64 * 1024 * 1024, `${free} vs ${s.bavail * s.bsize}`);
  assert.equal(await metricValue(registry, 'spamgate_queue_free_bytes'), free);
  minFree = 4321;
  assert.equal(await metricValue(registry, 'spamgate_queue_min_free_bytes'), 4321, 'the reserve of the running config');

  // The directory goes away: within the second the cached reading is answered, and statfs is not asked.
  await rm(dir, { recursive: true });
  now += FREE_SPACE_MAX_AGE_MS - 1;
  assert.equal(watcher.freeBytes(), free);
  await watcher.refresh();
  assert.equal(watcher.freeBytes(), undefined, 'an explicit refresh reads again');
});

test('a file system that cannot be read refuses nothing and is said once in the log', async (t) => {
  const dir = await tempDir(t, 'spamgate-free-');
  const { lines, log } = capturingLogger();
  let now = 0;
  const watcher = await watchFreeSpace({ dir: path.join(dir, 'missing'), registry: createRegistry(false), log, minFree: () => 1, now: () => now });
  assert.equal(watcher.freeBytes(), undefined);
  for (let i = 0; i < 3; i++) {
    now += FREE_SPACE_MAX_AGE_MS;
    watcher.freeBytes();
    await watcher.refresh();
  }
  assert.equal(lines.filter((l) => l.includes('cannot read free space')).length, 1, lines.join(''));
});
