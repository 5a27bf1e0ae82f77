// The digest link tokens: a signed id, recipient and expiry; forged, altered, truncated, expired and foreign-key
// tokens are refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createLinkTokens, MAX_TOKEN_LENGTH } from '../../../src/quarantine/link-token.ts';

const ID = 'mh3k2a1b0-00a1b-0f0e0d';
const NOW = Date.UTC(2026, 11, 7, 9, 0, 0);

test('a token signed is verified back to its id, recipient and expiry', () => {
  const tokens = createLinkTokens(randomBytes(32));
  const t = tokens.sign({ id: ID, recipient: 'Alice@corp.example', expires: NOW + 3_600_000 });
  assert.match(t, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/, 'URL-safe as it stands');
  assert.deepEqual(tokens.verify(t, NOW), { ok: true, claim: { id: ID, recipient: 'Alice@corp.example', expires: NOW + 3_600_000 } });
});

test('expired at its expiry; refused when forged, altered, cut or made with another key', () => {
  const key = randomBytes(32);
  const tokens = createLinkTokens(key);
  const t = tokens.sign({ id: ID, recipient: 'alice@corp.example', expires: NOW + 1000 });
  assert.deepEqual(tokens.verify(t, NOW + 1000), { ok: false, reason: 'expired' });
  const [payload = '', mac = ''] = t.split('.');
  const flipped = `${payload}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
  assert.deepEqual(tokens.verify(flipped, NOW), { ok: false, reason: 'invalid' });
  // another recipient with the first one's MAC
  const other = Buffer.from(`${ID}\nbob@corp.example\n${Math.floor((NOW + 1000) / 1000).toString(36)}`).toString('base64url');
  assert.deepEqual(tokens.verify(`${other}.${mac}`, NOW), { ok: false, reason: 'invalid' });
  assert.deepEqual(tokens.verify(t.slice(0, -1), NOW), { ok: false, reason: 'invalid' });
  assert.deepEqual(tokens.verify('', NOW), { ok: false, reason: 'invalid' });
  assert.deepEqual(tokens.verify(`${'A'.repeat(MAX_TOKEN_LENGTH)}.${mac}`, NOW), { ok: false, reason: 'invalid' });
  assert.deepEqual(createLinkTokens(randomBytes(32)).verify(t, NOW), { ok: false, reason: 'invalid' });
  // a validly signed payload that is no link (not a quarantine id) is refused too
  const odd = tokens.sign({ id: '../../etc/passwd', recipient: 'alice@corp.example', expires: NOW + 1000 });
  assert.deepEqual(tokens.verify(odd, NOW), { ok: false, reason: 'invalid' });
});

test('a short secret is refused', () => {
  assert.throws(() => createLinkTokens(Buffer.alloc(8)), /at least 16 bytes/);
});
