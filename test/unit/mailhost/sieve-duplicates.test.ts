// The duplicate test's memory (RFC 7352): ids expire after their period, :last starts the period again, the
// file is bounded, and a damaged or foreign file is an empty memory (never an error at delivery).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createSieveDuplicateStore, duplicatesFile, MAX_DUPLICATE_ENTRIES } from '../../../src/mailhost/sieve-duplicates.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const USER = 'alice@corp.example';

test('an id is seen within its period, not after; another handle is another memory', async (t) => {
  const store = createSieveDuplicateStore(tempDir(t), false);
  await store.record(USER, [{ handle: 'h', id: '<a@x>', seconds: 60, last: false }], 1_000_000);
  const mem = await store.load(USER);
  assert.equal(mem.seen('h', '<a@x>', 60, 1_000_000 + 59_000), true);
  assert.equal(mem.seen('h', '<a@x>', 60, 1_000_000 + 60_000), false);
  assert.equal(mem.seen('other', '<a@x>', 60, 1_000_000), false);
  assert.equal(mem.seen('h', '<b@x>', 60, 1_000_000), false);
});

test('without :last the period runs from the first message; with :last it starts again (RFC 7352 §3.4)', async (t) => {
  const store = createSieveDuplicateStore(tempDir(t), false);
  const rec = (last: boolean, now: number): Promise<void> => store.record(USER, [{ handle: 'h', id: 'id', seconds: 100, last }], now);
  await rec(false, 0);
  await rec(false, 50_000);
  assert.equal((await store.load(USER)).seen('h', 'id', 100, 120_000), false, 'expired 100 s after the first');
  await rec(true, 200_000);
  await rec(true, 250_000);
  assert.equal((await store.load(USER)).seen('h', 'id', 100, 320_000), true, 'renewed by the second');
});

test('bounded: past MAX_DUPLICATE_ENTRIES the ones expiring soonest go; expired ones are dropped', async (t) => {
  const dir = tempDir(t);
  const store = createSieveDuplicateStore(dir, false);
  const many = Array.from({ length: MAX_DUPLICATE_ENTRIES + 5 }, (_, i) => ({ handle: '', id: `id${i}`, seconds: 1000 + i, last: false }));
  await store.record(USER, many, 0);
  const kept = Object.keys(JSON.parse(readFileSync(duplicatesFile(dir, USER), 'utf8')) as object);
  assert.equal(kept.length, MAX_DUPLICATE_ENTRIES);
  const mem = await store.load(USER);
  assert.equal(mem.seen('', 'id0', 1, 1), false, 'the soonest to expire went');
  assert.equal(mem.seen('', `id${MAX_DUPLICATE_ENTRIES + 4}`, 1, 1), true);
  await store.record(USER, [{ handle: '', id: 'late', seconds: 10, last: false }], 20_000_000);
  assert.equal(Object.keys(JSON.parse(readFileSync(duplicatesFile(dir, USER), 'utf8')) as object).length, 1, 'the expired ones are gone');
});

test('a damaged file is an empty memory, and is replaced whole by the next record', async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.dirname(duplicatesFile(dir, USER)), { recursive: true });
  writeFileSync(duplicatesFile(dir, USER), '{"abc": 12, "trunc');
  const store = createSieveDuplicateStore(dir, false);
  assert.equal((await store.load(USER)).seen('h', 'id', 60, 0), false);
  await store.record(USER, [{ handle: 'h', id: 'id', seconds: 60, last: false }], 0);
  assert.equal((await store.load(USER)).seen('h', 'id', 60, 1), true);
  writeFileSync(duplicatesFile(dir, USER), '[1,2,3]');
  assert.equal((await store.load(USER)).seen('h', 'id', 60, 1), false);
});
