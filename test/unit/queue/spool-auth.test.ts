// The receipt Authentication-Results kept with a queued message (envelope.auth, for the ARC seal of a forwarded
// copy) is optional: a spool file without it, or with one damaged or written by another version, must still be
// delivered (unsealed), never set aside as a damaged message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEnvelope } from '../../../src/queue/spool-validate.ts';

const base = { mailFrom: 'a@src.test', rcptTo: ['b@dest.test'], sessionId: 's1', clientIp: '192.0.2.1', receivedAt: 1 };

test('an envelope without auth (older spool files) reads as before', () => {
  const e = parseEnvelope({ ...base }, 'f.msg');
  assert.equal(e.auth, undefined);
  assert.deepEqual(e.rcptTo, ['b@dest.test']);
});

test('a sound auth is kept', () => {
  const e = parseEnvelope({ ...base, auth: { results: 'mx.test; spf=pass', arc: 'pass' } }, 'f.msg');
  assert.deepEqual(e.auth, { results: 'mx.test; spf=pass', arc: 'pass' });
});

test('a damaged or unknown auth is dropped: the message stays deliverable (its forwards go unsealed)', () => {
  for (const auth of [null, 'x', 7, [], { results: 5, arc: 'pass' }, { results: 'mx.test; x', arc: 'temperror' }, { arc: 'none' }]) {
    const e = parseEnvelope({ ...base, auth }, 'f.msg');
    assert.equal(e.auth, undefined, JSON.stringify(auth));
    assert.equal('auth' in e, false, JSON.stringify(auth));
    assert.deepEqual(e.rcptTo, ['b@dest.test']);
  }
});

test('the other fields are still checked', () => {
  assert.throws(() => parseEnvelope({ ...base, rcptTo: [], auth: 'x' }, 'f.msg'), /damaged envelope \(rcptTo/);
});
