// The digest link tokens: a signed action, id, recipient and expiry; forged, altered, truncated, expired and
// foreign-key tokens are refused, and so is a token made for another action; first-format tokens still release or delete.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createLinkTokens, MAX_TOKEN_LENGTH } from '../../../src/quarantine/link-token.ts';

const ID = 'mh3k2a1b0-00a1b-0f0e0d';
const NOW = Date.UTC(2026, 11, 7, 9, 0, 0);

test('a token signed is verified back to its id, recipient and expiry', () => {
  const tokens = createLinkTokens(randomBytes(32));
  const t = tokens.sign({ action: 'release', id: ID, recipient: 'Alice@corp.example', expires: NOW + 3_600_000 });
  assert.match(t, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/, 'URL-safe as it stands');
  assert.deepEqual(tokens.verify(t, NOW, 'release'), { ok: true, claim: { action: 'release', id: ID, recipient: 'Alice@corp.example', expires: NOW + 3_600_000 } });
});

test('expired at its expiry; refused when forged, altered, cut or made with another key', () => {
  const key = randomBytes(32);
  const tokens = createLinkTokens(key);
  const t = tokens.sign({ action: 'release', id: ID, recipient: 'alice@corp.example', expires: NOW + 1000 });
  assert.deepEqual(tokens.verify(t, NOW + 1000, 'release'), { ok: false, reason: 'expired' });
  const [payload = '', mac = ''] = t.split('.');
  const flipped = `${payload}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
  assert.deepEqual(tokens.verify(flipped, NOW, 'release'), { ok: false, reason: 'invalid' });
  // another recipient with the first one's MAC
  const other = Buffer.from(`release\n${ID}\nbob@corp.example\n${Math.floor((NOW + 1000) / 1000).toString(36)}`).toString('base64url');
  assert.deepEqual(tokens.verify(`${other}.${mac}`, NOW, 'release'), { ok: false, reason: 'invalid' });
  assert.deepEqual(tokens.verify(t.slice(0, -1), NOW, 'release'), { ok: false, reason: 'invalid' });
  assert.deepEqual(tokens.verify('', NOW, 'release'), { ok: false, reason: 'invalid' });
  assert.deepEqual(tokens.verify(`${'A'.repeat(MAX_TOKEN_LENGTH)}.${mac}`, NOW, 'release'), { ok: false, reason: 'invalid' });
  assert.deepEqual(createLinkTokens(randomBytes(32)).verify(t, NOW, 'release'), { ok: false, reason: 'invalid' });
  // a validly signed payload that is no link (not a quarantine id) is refused too
  const odd = tokens.sign({ action: 'release', id: '../../etc/passwd', recipient: 'alice@corp.example', expires: NOW + 1000 });
  assert.deepEqual(tokens.verify(odd, NOW, 'release'), { ok: false, reason: 'invalid' });
});

test('a short secret is refused', () => {
  assert.throws(() => createLinkTokens(Buffer.alloc(8)), /at least 16 bytes/);
});

test('a token works for its own action alone: release is not block, lists is not allow', () => {
  const tokens = createLinkTokens(randomBytes(32));
  const release = tokens.sign({ action: 'release', id: ID, recipient: 'alice@corp.example', expires: NOW + 1000 });
  for (const other of ['delete', 'allow', 'block', 'lists'] as const) assert.deepEqual(tokens.verify(release, NOW, other), { ok: false, reason: 'invalid' }, other);
  const lists = tokens.sign({ action: 'lists', id: '', recipient: 'alice@corp.example', expires: NOW + 1000 });
  assert.deepEqual(tokens.verify(lists, NOW, 'lists'), { ok: true, claim: { action: 'lists', id: '', recipient: 'alice@corp.example', expires: NOW + 1000 } });
  for (const other of ['release', 'delete', 'allow', 'block'] as const) assert.deepEqual(tokens.verify(lists, NOW, other), { ok: false, reason: 'invalid' }, other);
  // a lists token must name no message, a message token one
  const odd = tokens.sign({ action: 'lists', id: ID, recipient: 'alice@corp.example', expires: NOW + 1000 });
  assert.deepEqual(tokens.verify(odd, NOW, 'lists'), { ok: false, reason: 'invalid' });
  const none = tokens.sign({ action: 'allow', id: '', recipient: 'alice@corp.example', expires: NOW + 1000 });
  assert.deepEqual(tokens.verify(none, NOW, 'allow'), { ok: false, reason: 'invalid' });
});

test('a first-format token (no action, from digests sent before) still releases or deletes, and does nothing else', () => {
  const key = randomBytes(32);
  const tokens = createLinkTokens(key);
  const payload = Buffer.from(`${ID}\nalice@corp.example\n${Math.floor((NOW + 1000) / 1000).toString(36)}`);
  const mac = createHmac('sha256', key).update('spamgate quarantine link v1\n').update(payload).digest();
  const v1 = `${payload.toString('base64url')}.${mac.toString('base64url')}`;
  assert.deepEqual(tokens.verify(v1, NOW, 'release'), { ok: true, claim: { action: 'release', id: ID, recipient: 'alice@corp.example', expires: NOW + 1000 } });
  assert.equal(tokens.verify(v1, NOW, 'delete').ok, true);
  for (const other of ['allow', 'block', 'lists'] as const) assert.deepEqual(tokens.verify(v1, NOW, other), { ok: false, reason: 'invalid' }, other);
});
