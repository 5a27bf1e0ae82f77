// The cache of verified passwords (src/mailhost/auth-cache.ts): a password verified once is accepted again
// without a derivation within the TTL; a wrong password, another user's hash, a changed hash and an expired
// entry each take the derivation; failures are never cached; TTL 0 turns it off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifiedPasswords } from '../../../src/mailhost/auth-cache.ts';
import { hashPassword, verifyPassword } from '../../../src/mailhost/password.ts';

const FAST = { N: 1024, r: 8, p: 1 };

function counted(): { calls: () => number; derive: typeof verifyPassword } {
  let n = 0;
  return {
    calls: () => n,
    derive: async (password, hash) => {
      n++;
      return verifyPassword(password, hash);
    },
  };
}

test('a verified password is answered from the cache; wrong ones, other hashes and failures always derive', async () => {
  const alice = await hashPassword('alice-password', FAST);
  const bob = await hashPassword('bob-password', FAST);
  const { calls, derive } = counted();
  const cache = verifiedPasswords(60_000, 100, derive);
  assert.equal(await cache.verify('alice-password', alice), true);
  assert.equal(calls(), 1);
  assert.equal(await cache.verify('alice-password', alice), true);
  assert.equal(await cache.verify('alice-password', alice), true);
  assert.equal(calls(), 1, 'answered from the cache');
  assert.equal(await cache.verify('wrong-password', alice), false, 'a cached user with another password');
  assert.equal(await cache.verify('wrong-password', alice), false);
  assert.equal(calls(), 3, 'a failure is never cached');
  assert.equal(await cache.verify('alice-password', bob), false, "alice's password against bob's hash");
  assert.equal(await cache.verify('alice-password', undefined), false, 'no such user');
  assert.equal(calls(), 5);
  // a changed password is a new hash: the old password misses the cache and fails
  const changed = await hashPassword('new-password', FAST);
  assert.equal(await cache.verify('alice-password', changed), false);
  assert.equal(await cache.verify('new-password', changed), true);
  assert.equal(calls(), 7);
  // the same text in another Unicode normalisation is the same password, as scrypt sees it (NFC)
  const accented = await hashPassword('caf\u00e9-password', FAST);
  assert.equal(await cache.verify('cafe\u0301-password', accented), true);
  assert.equal(await cache.verify('caf\u00e9-password', accented), true);
  assert.equal(calls(), 8);
});

test('an entry expires after the TTL from its verification; TTL 0 derives every time; the cache is bounded', async () => {
  const hash = await hashPassword('the-password', FAST);
  const short = counted();
  const expiring = verifiedPasswords(50, 100, short.derive);
  await expiring.verify('the-password', hash);
  await expiring.verify('the-password', hash);
  assert.equal(short.calls(), 1);
  await new Promise((r) => setTimeout(r, 120));
  await expiring.verify('the-password', hash);
  assert.equal(short.calls(), 2, 'expired: derived again');

  const off = counted();
  const none = verifiedPasswords(0, 100, off.derive);
  for (let i = 0; i < 3; i++) assert.equal(await none.verify('the-password', hash), true);
  assert.equal(off.calls(), 3);

  const small = counted();
  const two = verifiedPasswords(60_000, 2, small.derive);
  const hashes = await Promise.all(['a', 'b', 'c'].map((x) => hashPassword(`${x}-password`, FAST)));
  for (const [i, h] of hashes.entries()) await two.verify(`${'abc'[i]}-password`, h);
  assert.equal(small.calls(), 3);
  await two.verify('a-password', hashes[0]);
  assert.equal(small.calls(), 4, 'the oldest of three went past the bound of two');
});
