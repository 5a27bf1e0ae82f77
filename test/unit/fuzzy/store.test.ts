// Fuzzy stores (src/fuzzy/memory-store.ts, src/redis/fuzzy-store.ts): add / remove / look-up at the
// threshold, TTL expiry on an injected clock, eviction of the oldest past max_entries, the in-process
// store's file across a reopen, and one Redis store shared by two clients (two gateways).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { digestId, textDigest, type FuzzyDigest } from '../../../src/fuzzy/digest.ts';
import { MemoryFuzzyStore } from '../../../src/fuzzy/memory-store.ts';
import type { FuzzyStore } from '../../../src/fuzzy/store.ts';
import { RedisFuzzyStore } from '../../../src/redis/fuzzy-store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { linkTo, startRedis } from '../redis/redis-server.ts';
import { CAMPAIGN, nearCopy, UNRELATED } from './fixtures.ts';

const DAY = 86_400_000;
const d = (text: string): FuzzyDigest => {
  const r = textDigest(text, 32);
  assert.ok(r);
  return r;
};
/** Distinct long texts (for eviction): each its own vocabulary. */
const distinct = (i: number): string => Array.from({ length: 40 }, (_, w) => `w${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}${String.fromCharCode(97 + w % 26)}${String.fromCharCode(97 + Math.floor(w / 26))}`).join(' ');

type Make = (t: test.TestContext, clock: ManualClock, opts: { ttlMs: number; maxEntries: number }) => Promise<FuzzyStore>;

const kinds: [string, Make][] = [
  ['memory', async (_t, clock, o) => new MemoryFuzzyStore({ clock, ...o })],
  ['redis', async (t, clock, o) => new RedisFuzzyStore(await linkTo(t, await startRedis(t)), clock, o.ttlMs, o.maxEntries)],
];

for (const [kind, make] of kinds) {
  test(`${kind}: a near-copy matches at the threshold, an unrelated text does not; remove takes it out`, async (t) => {
    const clock = new ManualClock(1_000_000);
    const store = await make(t, clock, { ttlMs: 90 * DAY, maxEntries: 100 });
    assert.equal(await store.lookup(d(nearCopy(1)), 0.7, true), undefined, 'empty store');
    assert.equal(await store.add(d(CAMPAIGN)), 'added');
    assert.equal(await store.add(d(CAMPAIGN)), 'exists');
    const hit = await store.lookup(d(nearCopy(1)), 0.7, true);
    assert.equal(hit?.id, d(CAMPAIGN).id);
    assert.ok(hit && hit.similarity >= 0.7 && hit.similarity < 1);
    assert.equal((await store.lookup(d(CAMPAIGN), 0.7, true))?.similarity, 1);
    assert.equal(await store.lookup(d(UNRELATED), 0.7, true), undefined);
    // the threshold is honoured: nothing below it, whatever the store holds
    assert.equal(await store.lookup(d(nearCopy(1)), 1, true), undefined);
    assert.equal((await store.stats()).entries, 1);
    // a near-copy reported as ham removes the original it matches
    assert.equal(await store.remove(d(nearCopy(2)), 0.7), 1);
    assert.equal(await store.lookup(d(CAMPAIGN), 0.7, true), undefined);
    assert.equal((await store.stats()).entries, 0);
    await store.close();
  });

  test(`${kind}: entries expire after the TTL`, async (t) => {
    const clock = new ManualClock(5_000_000);
    const store = await make(t, clock, { ttlMs: 10 * DAY, maxEntries: 100 });
    await store.add(d(CAMPAIGN));
    clock.advance(9 * DAY);
    assert.ok(await store.lookup(d(CAMPAIGN), 0.7, true));
    clock.advance(2 * DAY);
    assert.equal(await store.lookup(d(CAMPAIGN), 0.7, true), undefined);
    assert.equal((await store.stats()).entries, 0);
    await store.close();
  });

  test(`${kind}: past max_entries the oldest go first`, async (t) => {
    const clock = new ManualClock(7_000_000);
    const store = await make(t, clock, { ttlMs: 90 * DAY, maxEntries: 3 });
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await store.add(d(distinct(i)));
    }
    assert.equal((await store.stats()).entries, 3);
    assert.equal(await store.lookup(d(distinct(0)), 0.7, true), undefined);
    assert.equal(await store.lookup(d(distinct(1)), 0.7, true), undefined);
    for (const i of [2, 3, 4]) assert.ok(await store.lookup(d(distinct(i)), 0.7, true), `entry ${i}`);
    await store.close();
  });
}

test('memory: the store is saved atomically and read back on reopen (entries, times, TTL)', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'fuzzy.json');
  const clock = new ManualClock(1_000_000);
  const a = new MemoryFuzzyStore({ clock, ttlMs: 10 * DAY, maxEntries: 100, file });
  await a.add(d(CAMPAIGN));
  await a.close();
  assert.ok(existsSync(file));
  const b = new MemoryFuzzyStore({ clock, ttlMs: 10 * DAY, maxEntries: 100, file });
  assert.equal((await b.lookup(d(nearCopy(3)), 0.7, true))?.id, d(CAMPAIGN).id);
  clock.advance(11 * DAY);
  const c = new MemoryFuzzyStore({ clock, ttlMs: 10 * DAY, maxEntries: 100, file });
  assert.equal(c.size, 0, 'expired while closed');
  const ro = new MemoryFuzzyStore({ clock, ttlMs: 90 * DAY, maxEntries: 100, file, readOnly: true });
  await ro.add(d(UNRELATED));
  await ro.close();
  assert.equal(new MemoryFuzzyStore({ clock, ttlMs: 90 * DAY, maxEntries: 100, file }).size, 1, 'read-only never writes');
});

test('redis: two clients (two gateways) share the entries', async (t) => {
  const redis = await startRedis(t);
  const clock = new ManualClock(1_000_000);
  const a = new RedisFuzzyStore(await linkTo(t, redis), clock, 90 * DAY, 100);
  const b = new RedisFuzzyStore(await linkTo(t, redis), clock, 90 * DAY, 100);
  await a.add(d(CAMPAIGN));
  assert.equal((await b.lookup(d(nearCopy(4)), 0.7, true))?.id, d(CAMPAIGN).id);
  assert.equal(await b.remove(d(CAMPAIGN), 0.7), 1);
  assert.equal(await a.lookup(d(nearCopy(4)), 0.7, true), undefined);
});

test('memory: a damaged file is refused naming it, never emptied', (t) => {
  const file = path.join(tempDir(t), 'fuzzy.json');
  for (const text of ['{"entries": [', 'null', '[]', '{"entries": 3}']) {
    writeFileSync(file, text);
    assert.throws(() => new MemoryFuzzyStore({ clock: new ManualClock(0), ttlMs: DAY, maxEntries: 10, file }), (err: Error) => err.message.startsWith(`${file}: not a fuzzy store`), text);
  }
});

test('redis: entries evicted past max_entries leave no ids in the index sets (they would grow with every report for the whole TTL)', async (t) => {
  const link = await linkTo(t, await startRedis(t));
  const clock = new ManualClock(7_000_000);
  const store = new RedisFuzzyStore(link, clock, 90 * DAY, 3);
  for (let i = 0; i < 12; i++) {
    clock.advance(1000);
    await store.add(d(distinct(i)));
  }
  const keys = await link.client.keys(`${link.prefix}{fz}:i:*`);
  let ids = 0;
  for (const k of keys) ids += await link.client.scard(k);
  assert.ok(ids <= 3 * 32, `${ids} ids in ${keys.length} index sets for 3 entries`);
  for (const i of [9, 10, 11]) assert.ok(await store.lookup(d(distinct(i)), 0.7, true), `entry ${i}`);
});

test('memory: a save that fails (disk full, directory gone) keeps the changes for the next save, close() writes them', async (t) => {
  const dir = path.join(tempDir(t), 'data');
  mkdirSync(dir);
  const file = path.join(dir, 'fuzzy.json');
  const clock = new ManualClock(1_000_000);
  const a = new MemoryFuzzyStore({ clock, ttlMs: 10 * DAY, maxEntries: 100, file });
  await a.add(d(CAMPAIGN));
  rmSync(dir, { recursive: true });
  writeFileSync(dir, 'not a directory');
  await assert.rejects(a.save());
  rmSync(dir);
  mkdirSync(dir);
  await a.close();
  assert.equal(new MemoryFuzzyStore({ clock, ttlMs: 10 * DAY, maxEntries: 100, file }).size, 1, 'the report survives the failed save');
});

test('memory: the temp file of a save cut short (process killed) is removed when the store is opened', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'fuzzy.json');
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const dead = Number(child.stdout);
  assert.ok(dead > 0);
  const temp = path.join(dir, `.fuzzy.json.${dead}.1.tmp`);
  writeFileSync(temp, '{"version":1,"entr');
  new MemoryFuzzyStore({ clock: new ManualClock(1), ttlMs: DAY, maxEntries: 10, file });
  assert.equal(existsSync(temp), false);
});

test('memory: the index stays small: 20,000 unrelated entries take well under 60 MB of heap', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const store = new MemoryFuzzyStore({ clock: new ManualClock(1), ttlMs: DAY, maxEntries: 20_000 });
  let x = 12345;
  const next = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 20_000; i++) {
    const slots = Array.from({ length: 32 }, next);
    await store.add({ kind: 'text', id: digestId(slots), slots });
  }
  gc();
  const mb = (process.memoryUsage().heapUsed - before) / 1048576;
  assert.equal(store.size, 20_000);
  assert.ok(mb < 60, `${mb.toFixed(0)} MB`);
});

test('a look-up counts a hit only when asked (a scored message), not for explain or a report checking for a near-copy', async (t) => {
  const id = d(CAMPAIGN).id;
  // in-process: the hit count is what the saved file holds
  const file = path.join(tempDir(t), 'fuzzy.json');
  const memory = new MemoryFuzzyStore({ clock: new ManualClock(1_000_000), ttlMs: DAY, maxEntries: 10, file });
  await memory.add(d(CAMPAIGN));
  assert.ok(await memory.lookup(d(nearCopy(1)), 0.7, false));
  await memory.save();
  const hitsSaved = (): unknown => (JSON.parse(readFileSync(file, 'utf8')) as { entries: { id: string; hits: number }[] }).entries.find((e) => e.id === id)?.hits;
  assert.equal(hitsSaved(), 0);
  assert.ok(await memory.lookup(d(nearCopy(2)), 0.7, true));
  await memory.save();
  assert.equal(hitsSaved(), 1);
  // Redis: the entry's `h` field
  const link = await linkTo(t, await startRedis(t));
  const redis = new RedisFuzzyStore(link, new ManualClock(1_000_000), DAY, 10);
  await redis.add(d(CAMPAIGN));
  assert.ok(await redis.lookup(d(nearCopy(1)), 0.7, false));
  assert.equal(await link.client.hget(`test:{fz}:e:${id}`, 'h'), '0');
  assert.ok(await redis.lookup(d(nearCopy(2)), 0.7, true));
  assert.equal(await link.client.hget(`test:{fz}:e:${id}`, 'h'), '1');
});
