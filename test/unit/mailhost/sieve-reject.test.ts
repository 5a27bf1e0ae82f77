// What a Sieve reject becomes at local delivery: a permanent failure carrying the reason (one line, bounded),
// so the queue sends its DSN; dropped without a notice for spam verdicts, Junk, the null sender and system senders.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideReject } from '../../../src/mailhost/sieve-reject.ts';
import type { QueueEnvelope } from '../../../src/queue/types.ts';

const envelope = (mailFrom: string, action?: string): QueueEnvelope => ({ mailFrom, rcptTo: ['alice@corp.example'], sessionId: 's', clientIp: '192.0.2.1', receivedAt: 0, ...(action ? { verdict: { action, score: 0 } } : {}) });

test('a permanent 5.7.1 failure with the reason on one line, bounded', () => {
  const d = decideReject(envelope('bob@remote.example', 'no_action'), false, 'Not\r\nhere,\tthanks');
  assert.deepEqual(d, { kind: 'notice', outcome: { status: 'perm', reply: { code: 550, enhanced: '5.7.1', text: "rejected by the recipient's filter: Not here, thanks" } } });
  const long = decideReject(envelope('bob@remote.example'), false, 'x'.repeat(5000));
  assert.ok(long.kind === 'notice' && long.outcome.status === 'perm' && long.outcome.reply.text.length < 500);
});

test('no notice: spam verdicts, Junk, the null sender, mailer-daemon and other system senders', () => {
  for (const action of ['junk', 'rewrite_subject', 'quarantine']) assert.deepEqual(decideReject(envelope('bob@remote.example', action), false, 'x'), { kind: 'dropped', why: 'spam' });
  assert.deepEqual(decideReject(envelope('bob@remote.example'), true, 'x'), { kind: 'dropped', why: 'spam' });
  assert.deepEqual(decideReject(envelope(''), false, 'x'), { kind: 'dropped', why: 'null_sender' });
  for (const from of ['MAILER-DAEMON@remote.example', 'postmaster@remote.example', 'list-bounces@remote.example']) assert.deepEqual(decideReject(envelope(from), false, 'x'), { kind: 'dropped', why: 'system_sender' });
});

test('no notice to a sender SPF said is forged (spf=fail at receipt): backscatter; other SPF results still get one', () => {
  const withSpf = (result: string): QueueEnvelope => ({ ...envelope('bob@remote.example', 'no_action'), auth: { results: `mx.corp.example;\r\n\tdkim=none;\r\n\tspf=${result} smtp.mailfrom=remote.example;\r\n\tdmarc=none header.from=remote.example`, arc: 'none' } });
  assert.deepEqual(decideReject(withSpf('fail'), false, 'x'), { kind: 'dropped', why: 'forged_sender' });
  for (const result of ['pass', 'softfail', 'neutral', 'none', 'temperror']) assert.equal(decideReject(withSpf(result), false, 'x').kind, 'notice', result);
  assert.equal(decideReject(envelope('bob@remote.example'), false, 'x').kind, 'notice', 'no receipt results (a local sender)');
});
