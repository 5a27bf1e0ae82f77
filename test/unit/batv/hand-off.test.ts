// The sender of a front-of hand-off with BATV: recipients of our own domains apart with the plain sender, the
// others with the signed one; signing asked for only when some recipient is another domain's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupBySender } from '../../../src/queue/upstream-router.ts';
import type { QueueEnvelope } from '../../../src/queue/types.ts';

const envelope: QueueEnvelope = { mailFrom: 'alice@example.org', rcptTo: [], sessionId: 's', clientIp: '127.0.0.1', receivedAt: 0, outgoing: true };
const isLocal = (r: string): boolean => r.endsWith('@example.org');

test('groupBySender: local and remote recipients apart when the sender is signed', () => {
  let asked = 0;
  const handOffSender = (e: QueueEnvelope): string => {
    asked++;
    return `prvs=1123abcdef=${e.mailFrom}`;
  };
  assert.deepEqual(groupBySender({ handOffSender, isLocal }, envelope, ['b@remote.example', 'c@example.org', 'd@remote.example']), [
    ['alice@example.org', ['c@example.org']],
    ['prvs=1123abcdef=alice@example.org', ['b@remote.example', 'd@remote.example']],
  ]);
  assert.equal(asked, 1);
  // only our own domains: not signed, not even asked (the count of signed senders stays true)
  assert.deepEqual(groupBySender({ handOffSender, isLocal }, envelope, ['c@example.org']), [['alice@example.org', ['c@example.org']]]);
  assert.equal(asked, 1);
  // a sender left as it is (not ours, null): one group
  assert.deepEqual(groupBySender({ handOffSender: (e) => e.mailFrom, isLocal }, envelope, ['b@remote.example', 'c@example.org']), [['alice@example.org', ['b@remote.example', 'c@example.org']]]);
  // without BATV: one group, the envelope's sender
  assert.deepEqual(groupBySender({}, envelope, ['b@remote.example']), [['alice@example.org', ['b@remote.example']]]);
});
