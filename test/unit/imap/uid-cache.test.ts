// The per-mailbox UID caches (envelope-cache.ts): bounded by size, whole mailboxes dropped least recently used first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UidCache } from '../../../src/imap/envelope-cache.ts';

test('a table dropped while a command still fills it counts nothing more against the cache, which keeps working', () => {
  const cache = new UidCache<string>(1000, (v) => v.length);
  const a = cache.table('u', 'A', 1); // one SORT holds mailbox A's table across its slices
  a.set(1, 'x'.repeat(400));
  const b = cache.table('u', 'B', 1); // meanwhile another session fills B, and A's table is dropped
  b.set(1, 'y'.repeat(400));
  b.set(2, 'y'.repeat(400));
  a.set(2, 'x'.repeat(400)); // the first command goes on with its (dropped) table
  assert.ok(cache.size <= cache.maxSize, `size ${cache.size} over ${cache.maxSize}`);
  // the cache is not left full of sizes no table accounts for: a new mailbox can be cached again
  const c = cache.table('u', 'C', 1);
  c.set(1, 'z'.repeat(400));
  assert.equal(c.get(1), 'z'.repeat(400));
  c.set(2, 'z'.repeat(400));
  assert.equal(c.get(2), 'z'.repeat(400));
});
