// The queue's attempt that starts before queue.max_age and ends after it (a slow MX for another recipient of the
// message keeps the attempt open): the mail host saw the alias before max_age and kept it deferred; the queue must
// not then expire the whole alias — a member has the message — but try it once more, when the mail host fails the
// member still deferring alone, named in the member notice.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { RecipientOutcome } from '../../../src/queue/router.ts';
import { bigMessage, bobTo, filler, MIN, openQueueRig, queueUntilEmpty, TEAM_FULL } from '../../helpers/alias-mailhost.ts';

/** Queue, spool and mail host on one manual clock; team@ → postmaster@ and full@ (quota 7000 octets; postmaster@'s quota `pmQuota`). */
async function rig(t: TestContext, pmQuota?: number) {
  // what went off-site: the notices to the sender
  const sent: string[] = [];
  const slow = { on: false };
  const book = { ...TEAM_FULL, users: { ...TEAM_FULL.users, 'postmaster@localhost': pmQuota } };
  const queue = await openQueueRig(
    t,
    'spamgate-alias-straddle-',
    book,
    () => (_from, _domain, recipients, message) => {
      sent.push(message.toString('utf8'));
      return Promise.resolve(new Map(recipients.map((r): [string, RecipientOutcome] => [r, { status: 'delivered', reply: { code: 250, text: 'ok' }, destination: 'remote' }])));
    },
    (local, clock) => async (envelope, recipient, raw, queueId) => {
      const outcome = await local(envelope, recipient, raw, queueId);
      // the rest of the attempt (another recipient's slow MX) takes a minute
      if (slow.on) clock.advance(MIN);
      return outcome;
    },
  );
  const base = bobTo([], queue.clock.now());
  const fill = async (user: string): Promise<void> => {
    assert.equal((await queue.local({ ...base, rcptTo: [user] }, user, filler(), `F-${user}`)).status, 'ok');
  };
  return { queue, clock: queue.clock, spool: queue.spool, scheduler: queue.scheduler, sent, slow, base, fill };
}

test('an alias all members of which defer until queue.max_age fails as a whole, in one notice', async (t) => {
  const { queue, sent, base, fill } = await rig(t, 7000);
  await fill('full@localhost');
  await fill('postmaster@localhost');
  await queueUntilEmpty(queue, { ...base, rcptTo: ['team@localhost'] });
  assert.equal(sent.length, 1, 'one notice');
  assert.match(sent[0] ?? '', /Final-Recipient: rfc822; ?team@localhost\r\nAction: failed\r\nStatus: 4\.4\.7/i);
  assert.doesNotMatch(sent[0] ?? '', /Final-Recipient: rfc822; ?(postmaster|full)@localhost/i);
});

test('an attempt that straddles queue.max_age does not expire an alias a member of which has the message', async (t) => {
  const { clock, spool, scheduler, sent, slow, base, fill } = await rig(t);
  // full@ holds 4000 of its 7000 octets: the message waits for room (452 4.2.2) until it expires
  await fill('full@localhost');
  const receivedAt = clock.now();
  await spool.enqueue({ ...base, rcptTo: ['team@localhost'], receivedAt }, bigMessage());
  await scheduler.runDue();
  // walked up to half a minute before max_age, the queue retrying on its way
  while (clock.now() < receivedAt + 2 * 60 * MIN - MIN / 2) {
    clock.advance(Math.min(5 * MIN, receivedAt + 2 * 60 * MIN - MIN / 2 - clock.now()));
    await scheduler.runDue();
  }
  assert.equal(sent.length, 0, 'no notice before max_age');
  // the attempt that starts before max_age and ends after it
  slow.on = true;
  scheduler.flush();
  await scheduler.runDue();
  slow.on = false;
  for (let i = 0; i < 10 && scheduler.size() > 0; i++) {
    clock.advance(MIN);
    await scheduler.runDue();
  }
  assert.equal(scheduler.size(), 0, 'the queue is empty');
  assert.equal(sent.length, 1, `one notice: ${sent.map((s) => s.match(/^Final-Recipient:.*$/gim)?.join(' ')).join(' | ')}`);
  const notice = sent[0] ?? '';
  assert.match(notice, /Final-Recipient: rfc822; ?full@localhost/i);
  assert.match(notice, /Original-Recipient: rfc822; ?team@localhost/i);
  assert.match(notice, /Status: 4\.4\.7/);
  assert.doesNotMatch(notice, /Final-Recipient: rfc822; ?team@localhost/i, 'the alias is not failed: postmaster@ has the message');
});
