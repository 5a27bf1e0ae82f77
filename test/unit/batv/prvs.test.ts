// BATV prvs tags: the tag computed here with node:crypto from the draft's definition (draft-levine-smtp-batv-01
// §4.1, as Exim's ${prvs} writes it), validation with rotated keys, expiry across the day-999 wraparound, hex
// case, and malformed local parts (never a throw, bounded).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { checkPrvs, dayNumber, parsePrvs, prvsHash, prvsSign, type PrvsKey } from '../../../src/batv/prvs.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 7, 10, 0, 0);
const KEY: PrvsKey = { id: 3, secret: 'unit-test-batv-secret-0123456789' };
const OLD: PrvsKey = { id: 2, secret: 'older-batv-secret-abcdefghijklmn' };

function expected(key: PrvsKey, ddd: string, address: string): string {
  return createHmac('sha1', key.secret).update(`${key.id}${ddd}${address}`).digest('hex').slice(0, 6);
}

function tagged(address: string) {
  const p = parsePrvs(address);
  assert.equal(p.kind, 'tagged', address);
  return p as Extract<typeof p, { kind: 'tagged' }>;
}

test('prvsSign: prvs=KDDDSSSSSS=local@domain, DDD the expiry day mod 1000, SSSSSS the HMAC-SHA1 over K, DDD and the address', () => {
  const ddd = String((Math.floor(NOW / DAY) + 7) % 1000).padStart(3, '0');
  const signed = prvsSign('Alice@Example.ORG', KEY, NOW, 7);
  // the address is hashed in lower case (a bounce may come back in any case); local part and domain keep their case
  assert.equal(signed, `prvs=3${ddd}${expected(KEY, ddd, 'alice@example.org')}=Alice@Example.ORG`);
  // an MTA that upper-cases or lower-cases the whole bounce address: still ours
  for (const back of [signed, signed.toUpperCase(), signed.toLowerCase()]) assert.equal(checkPrvs(tagged(back), [KEY], NOW, 7).kind, 'valid', back);
  // a tag signed over the local part as written (Exim's ${prvs} with a sender with capitals) passes as it comes back
  const exim = `prvs=3${ddd}${expected(KEY, ddd, 'Alice@example.org')}=Alice@example.org`;
  assert.equal(checkPrvs(tagged(exim), [KEY], NOW, 7).kind, 'valid');
  assert.match(signed, /^prvs=3\d{3}[0-9a-f]{6}=Alice@Example\.ORG$/);
});

test('checkPrvs: a fresh tag is valid and gives the plain address; the hash compares without regard to case', () => {
  const signed = prvsSign('bob@example.org', KEY, NOW, 7);
  assert.deepEqual(checkPrvs(tagged(signed), [KEY], NOW, 7), { kind: 'valid', address: 'bob@example.org' });
  const upper = signed.replace(/^prvs=(\d{4})([0-9a-f]{6})/, (_m, kd: string, h: string) => `PRVS=${kd}${h.toUpperCase()}`);
  assert.notEqual(upper, signed);
  assert.equal(checkPrvs(tagged(upper), [KEY], NOW, 7).kind, 'valid');
  // an MTA that upper-cases the whole address: a local part signed in lower case still passes
  assert.equal(checkPrvs(tagged(signed.toUpperCase()), [KEY], NOW, 7).kind, 'valid');
});

test('checkPrvs: key rotation: a tag of the old key passes while it is listed, fails (unknown_key) once dropped', () => {
  const signed = prvsSign('bob@example.org', OLD, NOW, 7);
  assert.equal(checkPrvs(tagged(signed), [KEY, OLD], NOW + DAY, 7).kind, 'valid');
  assert.deepEqual(checkPrvs(tagged(signed), [KEY], NOW + DAY, 7), { kind: 'invalid', reason: 'unknown_key', address: 'bob@example.org' });
  // the key number is hashed: the same tag under another number does not pass with that number's key
  const renumbered = signed.replace(/^prvs=2/, 'prvs=3');
  assert.equal(checkPrvs(tagged(renumbered), [KEY, OLD], NOW, 7).kind === 'valid', false);
});

test('checkPrvs: a forged or altered tag is bad_hash; another address with the same tag too', () => {
  const signed = prvsSign('bob@example.org', KEY, NOW, 7);
  const flipped = signed.replace(/=bob@/, '=eve@');
  assert.deepEqual(checkPrvs(tagged(flipped), [KEY], NOW, 7), { kind: 'invalid', reason: 'bad_hash', address: 'eve@example.org' });
  const forged = signed.replace(/^(prvs=\d{4})[0-9a-f]{6}/, '$1000000');
  assert.equal((checkPrvs(tagged(forged), [KEY], NOW, 7) as { reason?: string }).reason, 'bad_hash');
  // another expiry day with the old hash
  const redated = signed.replace(/^prvs=3(\d{3})/, (_m, d: string) => `prvs=3${String((Number(d) + 1) % 1000).padStart(3, '0')}`);
  assert.equal((checkPrvs(tagged(redated), [KEY], NOW, 7) as { reason?: string }).reason, 'bad_hash');
});

test('checkPrvs: valid through the expiry day, expired the day after', () => {
  const signed = prvsSign('bob@example.org', KEY, NOW, 7);
  assert.equal(checkPrvs(tagged(signed), [KEY], NOW + 7 * DAY, 7).kind, 'valid');
  assert.equal((checkPrvs(tagged(signed), [KEY], NOW + 8 * DAY, 7) as { reason?: string }).reason, 'expired');
  assert.equal((checkPrvs(tagged(signed), [KEY], NOW + 500 * DAY, 7) as { reason?: string }).reason, 'expired');
  // 1000 days on, DDD comes round again: the day number is mod 1000 (as the draft defines it)
  assert.equal(checkPrvs(tagged(signed), [KEY], NOW + 1000 * DAY, 7).kind, 'valid');
});

test('checkPrvs: the day number wraps from 999 to 000', () => {
  // a day whose number is 996 mod 1000: the tag's DDD is 003
  const base = Math.floor(NOW / DAY);
  const day996 = (base - (base % 1000) + 996) * DAY + 3_600_000;
  assert.equal(dayNumber(day996) % 1000, 996);
  const signed = prvsSign('bob@example.org', KEY, day996, 7);
  assert.match(signed, /^prvs=3003/);
  for (const later of [0, 3, 4, 7]) assert.equal(checkPrvs(tagged(signed), [KEY], day996 + later * DAY, 7).kind, 'valid', `after ${later} days`);
  assert.equal((checkPrvs(tagged(signed), [KEY], day996 + 8 * DAY, 7) as { reason?: string }).reason, 'expired');
  assert.equal(prvsHash(KEY, 3, 'bob@example.org'), expected(KEY, '003', 'bob@example.org'));
});

test('parsePrvs: malformed prvs local parts are told apart, never thrown on; plain addresses are plain', () => {
  assert.deepEqual(parsePrvs('bob@example.org'), { kind: 'plain' });
  assert.deepEqual(parsePrvs('prvsbob@example.org'), { kind: 'plain' });
  for (const bad of [
    'prvs=@example.org',
    'prvs=bob@example.org',
    'prvs=3123abcde=bob@example.org', // 5 hex digits
    'prvs=3123abcdeg=bob@example.org', // not hex
    'prvs=31234abcdef=bob@example.org', // 4 digits of day
    'prvs=A123abcdef=bob@example.org', // key not a digit
    'prvs=3123abcdef=@example.org', // empty inner local part
    'prvs=3123abcdef=bob', // no domain
    'prvs=3123abcdef=bob@', // empty domain
    'prvs=3123abcdef=prvs=3123abcdef=bob@example.org', // tagged twice
    `prvs=3123abcdef=${'a'.repeat(300)}@example.org`, // too long
    `prvs=${'='.repeat(100_000)}@example.org`, // bounded
  ]) {
    assert.deepEqual(parsePrvs(bad), { kind: 'malformed' }, bad.slice(0, 60));
  }
  assert.deepEqual(parsePrvs('PRVS=3123ABCDEF=Bob=x@example.org'), { kind: 'tagged', key: 3, day: 123, hash: 'abcdef', address: 'Bob=x@example.org' });
});

// its speed is measured by `BENCH=hostile npm run bench` (test/bench/hostile-input.ts)
test('parsePrvs: a local part of many "=" is read as the inner address, once', () => {
  const inner = `${'=a'.repeat(100)}@example.org`;
  for (let i = 0; i < 1000; i++) assert.deepEqual(parsePrvs(`prvs=3123abcdef=${inner}`), { kind: 'tagged', key: 3, day: 123, hash: 'abcdef', address: inner });
});
