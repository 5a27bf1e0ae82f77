// SRS encoding and decoding: hashes and day stamps computed here with node:crypto from the scheme's definition,
// postsrsd's (libsrs2's) published test values, SRS1 chains, case-insensitive checks, age and length limits.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { isSrsLocalPart, srsForward, srsReverse, srsTimestamp, stampAgeDays } from '../../../src/mailhost/srs.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 6, 18, 0, 0);
const SECRET = 'unit-test-secret-0123456789abcdef';
const fwd = (sender: string, over: Partial<Parameters<typeof srsForward>[1]> = {}) =>
  srsForward(sender, { domain: 'fwd.example', secret: SECRET, nowMs: NOW, isLocalDomain: (d) => d === 'fwd.example' || d === 'other-local.example', ...over });
const rev = (local: string, over: Partial<Parameters<typeof srsReverse>[1]> = {}) => srsReverse(local, { secrets: [SECRET], maxAgeDays: 21, nowMs: NOW, ...over });

/** The scheme from its description: base64(HMAC-SHA1(secret, lower-cased fields concatenated)), first 4 characters. */
function expectedHash(secret: string, ...fields: string[]): string {
  return createHmac('sha1', secret).update(fields.join('').toLowerCase()).digest('base64').slice(0, 4);
}
/** Days since the epoch mod 1024 as two base32 digits (RFC 4648 alphabet). */
function expectedStamp(ms: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const day = Math.floor(ms / DAY) % 1024;
  return alphabet.charAt(Math.floor(day / 32)) + alphabet.charAt(day % 32);
}

test('SRS0: hash and day stamp as the scheme defines them; the address keeps the case it was given', () => {
  const stamp = expectedStamp(NOW);
  assert.equal(srsTimestamp(NOW), stamp);
  const hash = expectedHash(SECRET, stamp, 'gmail.example', 'Alice.Smith');
  assert.deepEqual(fwd('Alice.Smith@Gmail.example'), { kind: 'rewritten', scheme: 'SRS0', address: `SRS0=${hash}=${stamp}=Gmail.example=Alice.Smith@fwd.example` });
  assert.deepEqual(rev(`SRS0=${hash}=${stamp}=Gmail.example=Alice.Smith`), { kind: 'ok', scheme: 'SRS0', address: 'Alice.Smith@Gmail.example' });
});

test("postsrsd's published values (secret tops3cr3t, 2020-01-01 00:01 UTC, domain example.com)", () => {
  const at = Date.UTC(2020, 0, 1, 0, 1, 0);
  const opts = { domain: 'example.com', secret: 'tops3cr3t', nowMs: at, isLocalDomain: (d: string) => d === 'example.com' };
  const address = (r: ReturnType<typeof srsForward>): string => (r.kind === 'rewritten' ? r.address : `unchanged: ${r.reason}`);
  assert.equal(address(srsForward('test@otherdomain.com', opts)), 'SRS0=vmyz=2W=otherdomain.com=test@example.com');
  assert.equal(address(srsForward('testing@otherdomain.com', opts)), 'SRS0=rNNq=2W=otherdomain.com=testing@example.com');
  assert.equal(address(srsForward('SRS0=opaque+string@otherdomain.com', opts)), 'SRS1=chaI=otherdomain.com==opaque+string@example.com');
  assert.equal(address(srsForward('SRS1=X=thirddomain.com==opaque+string@otherdomain.com', opts)), 'SRS1=JIBX=thirddomain.com==opaque+string@example.com');
  assert.equal(address(srsForward('test@example.com', opts)), 'unchanged: local-sender');
  const back = { secrets: ['tops3cr3t'], maxAgeDays: 21, nowMs: at };
  assert.deepEqual(srsReverse('SRS0=XjO9=2V=otherdomain.com=test', back), { kind: 'ok', scheme: 'SRS0', address: 'test@otherdomain.com' });
  assert.deepEqual(srsReverse('srs0=xjo9=2v=otherdomain.com=test', back), { kind: 'ok', scheme: 'SRS0', address: 'test@otherdomain.com' }, 'all lower case');
  assert.deepEqual(srsReverse('SRS0=XJO9=2V=OTHERDOMAIN.COM=TEST', back), { kind: 'ok', scheme: 'SRS0', address: 'TEST@OTHERDOMAIN.COM' }, 'all upper case');
  assert.deepEqual(srsReverse('SRS1=JIBX=thirddomain.com==opaque+string', back), { kind: 'ok', scheme: 'SRS1', address: 'SRS0=opaque+string@thirddomain.com' });
  assert.equal(srsReverse('SRS0=FAKE=2V=otherdomain.com=test', back).kind, 'bad-hash');
  assert.equal(srsReverse('SRS1=XXXX=thirddomain.com==opaque+string', back).kind, 'bad-hash');
  assert.equal(srsReverse('SRS0=te87=T7=otherdomain.com=test', back).kind, 'expired', 'half a year old');
  assert.equal(srsReverse('SRS0=VcIb=7N=otherdomain.com=test', back).kind, 'expired', 'half a year ahead reads as almost 1024 days old');
  for (const bad of ['SRS0=', 'SRS0=XjO9', 'SRS0=XjO9=2V', 'SRS0=XjO9=2V=otherdomain.com', 'SRS1-', 'SRS1=X=thirddomain.com', 'SRS0=XjO9=0!=otherdomain.com=test']) {
    assert.equal(srsReverse(bad, back).kind, 'malformed', bad);
  }
});

test("SRS1: another forwarder's SRS0 is wrapped with that forwarder's domain and reverses to its SRS0 address", () => {
  const theirs = 'SRS0=AbCd=ZZ=orig.example=bob';
  const hash = expectedHash(SECRET, 'forwarder1.example', theirs.slice(4));
  const r = fwd(`${theirs}@forwarder1.example`);
  assert.deepEqual(r, { kind: 'rewritten', scheme: 'SRS1', address: `SRS1=${hash}=forwarder1.example==AbCd=ZZ=orig.example=bob@fwd.example` });
  assert.deepEqual(rev(`SRS1=${hash}=forwarder1.example==AbCd=ZZ=orig.example=bob`), { kind: 'ok', scheme: 'SRS1', address: `${theirs}@forwarder1.example` });
  // An SRS1 from a further forwarder keeps the first forwarder's part, newly signed.
  const again = fwd(`SRS1=QQQQ=forwarder1.example==AbCd=ZZ=orig.example=bob@forwarder2.example`);
  assert.deepEqual(again, r);
});

test('the hash is compared without regard to case, and any configured secret verifies (rotation)', () => {
  const r = fwd('carol@remote.example');
  assert.equal(r.kind, 'rewritten');
  const local = r.kind === 'rewritten' ? r.address.slice(0, r.address.lastIndexOf('@')) : '';
  const [tag, hash = '', ...rest] = local.split('=');
  assert.equal(rev([tag, hash.toUpperCase(), ...rest].join('=')).kind, 'ok');
  assert.equal(rev([tag, hash.toLowerCase(), ...rest].join('=')).kind, 'ok');
  assert.equal(rev(local, { secrets: ['a-newer-secret-0123456789', SECRET] }).kind, 'ok', 'signed with the older secret');
  assert.equal(rev(local, { secrets: ['a-newer-secret-0123456789'] }).kind, 'bad-hash', 'the old secret dropped');
  // Tampering with what the hash covers: the original domain, the local part, the stamp.
  assert.equal(rev(local.replace('=remote.example=', '=evil.example=')).kind, 'bad-hash');
  assert.equal(rev(`${local}x`).kind, 'bad-hash');
  const other = expectedStamp(NOW - DAY);
  assert.equal(rev(local.replace(`=${srsTimestamp(NOW)}=`, `=${other}=`)).kind, 'bad-hash');
});

test('a stamp is good up to max age in days, across the 1024-day wrap', () => {
  const sent = fwd('dave@remote.example', { nowMs: NOW });
  const local = sent.kind === 'rewritten' ? sent.address.split('@')[0] ?? '' : '';
  assert.equal(rev(local, { nowMs: NOW + 21 * DAY }).kind, 'ok');
  assert.deepEqual(rev(local, { nowMs: NOW + 22 * DAY }), { kind: 'expired', ageDays: 22 });
  assert.equal(rev(local, { nowMs: NOW + 22 * DAY, maxAgeDays: 30 }).kind, 'ok');
  // Day 1023 mod 1024, checked on day 1024 + 3: four days old.
  const lateDay = 1023 * DAY;
  assert.equal(stampAgeDays(srsTimestamp(lateDay), 1027 * DAY), 4);
  assert.equal(srsTimestamp(lateDay), '77');
  assert.equal(stampAgeDays('77', 1027 * DAY), stampAgeDays('77'.toLowerCase(), 1027 * DAY));
});

test('not rewritten: null sender, own domains, what no SRS address can carry, over 64 octets', () => {
  assert.deepEqual(fwd(''), { kind: 'unchanged', reason: 'null-sender' });
  assert.deepEqual(fwd('alice@fwd.example'), { kind: 'unchanged', reason: 'local-sender' });
  assert.deepEqual(fwd('alice@other-local.example'), { kind: 'unchanged', reason: 'local-sender' });
  for (const s of ['"john doe"@remote.example', 'x@[192.0.2.1]', 'a%b@remote.example', 'a!b@remote.example', 'nodomain']) {
    assert.deepEqual(fwd(s), { kind: 'unchanged', reason: 'unsupported' }, s);
  }
  // "SRS0=" + 4 + "=" + 2 + "=" + domain + "=" + local: 14 octets of frame.
  const domain = 'remote.example';
  const fits = 'l'.repeat(64 - 14 - domain.length);
  const r = fwd(`${fits}@${domain}`);
  assert.equal(r.kind === 'rewritten' ? r.address.split('@')[0]?.length : -1, 64);
  assert.deepEqual(fwd(`${fits}l@${domain}`), { kind: 'unchanged', reason: 'too-long' });
  // Octets, not characters: a UTF-8 local part (SMTPUTF8) counts its bytes.
  assert.deepEqual(fwd(`${'é'.repeat(26)}@${domain}`), { kind: 'unchanged', reason: 'too-long' });
});

test('SRS local parts are recognised in any case, with any of the separators libsrs2 reads', () => {
  for (const l of ['SRS0=x', 'srs0+x', 'Srs1-x', 'SRS1=x']) assert.ok(isSrsLocalPart(l), l);
  for (const l of ['SRS0', 'SRS2=x', 'xSRS0=x', 'srs', 'bob']) assert.ok(!isSrsLocalPart(l), l);
});
