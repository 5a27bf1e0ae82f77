// Expiry of an alias some members of which have the message: what the sender hears (NOTIFY=NEVER, the null sender),
// and that a plain recipient still expires as before.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { RecipientOutcome } from '../../../src/queue/router.ts';
import type { QueueEnvelope } from '../../../src/queue/types.ts';
import { bobTo, filler, inboxCount, MIN, openQueueRig, queueUntilEmpty } from '../../helpers/alias-mailhost.ts';

async function rig(t: TestContext, team: string[] = ['postmaster@localhost', 'full@localhost', 'far@remote.example']) {
  const sent: Array<{ rcpts: string[]; from: string; text: string }> = [];
  const attempts: number[] = [];
  const queue = await openQueueRig(t, 'spamgate-alias-expiry-review-', { users: { 'postmaster@localhost': undefined, 'full@localhost': 7000 }, aliases: { 'team@localhost': team } }, (clock) => (from, _domain, recipients, message) => {
    if (recipients.includes('slow@remote.example')) {
      // a remote that defers, slowly (the attempt takes a minute)
      attempts.push(clock.now());
      clock.advance(MIN);
      return Promise.resolve(new Map(recipients.map((r): [string, RecipientOutcome] => [r, { status: 'temp', reply: { code: 451, text: 'later' }, destination: 'remote' }])));
    }
    sent.push({ rcpts: [...recipients], from, text: message.toString('utf8') });
    return Promise.resolve(new Map(recipients.map((r): [string, RecipientOutcome] => [r, { status: 'delivered', reply: { code: 250, text: 'ok' }, destination: 'remote' }])));
  });
  const base = bobTo([], queue.clock.now());
  assert.equal((await queue.local({ ...base, rcptTo: ['full@localhost'] }, 'full@localhost', filler(), 'F-full')).status, 'ok');
  const run = (envelope: QueueEnvelope): Promise<void> => queueUntilEmpty(queue, envelope);
  const inbox = (u: string): number => inboxCount(queue.dataDir, u);
  return { run, sent, base, inbox, attempts, clock: queue.clock };
}

test('NOTIFY=NEVER on the alias: no notice at expiry; the others keep one copy; the off-site copy goes', async (t) => {
  const { run, sent, base, inbox } = await rig(t);
  await run({ ...base, rcptTo: ['team@localhost'], rcptDsn: { 'team@localhost': { notify: ['NEVER'] } } });
  assert.deepEqual(sent.filter((s) => s.from === '' || s.text.includes('Final-Recipient')), [], 'no notice');
  assert.equal(sent.filter((s) => s.rcpts.includes('far@remote.example')).length, 1);
  assert.equal(inbox('postmaster'), 1);
});

test('the null sender: no notice at expiry', async (t) => {
  const { run, sent, base, inbox } = await rig(t);
  await run({ ...base, mailFrom: '', rcptTo: ['team@localhost'] });
  assert.equal(sent.filter((s) => s.text.includes('Final-Recipient')).length, 0, 'no notice');
  assert.equal(sent.filter((s) => s.rcpts.includes('far@remote.example')).length, 1);
  assert.equal(inbox('postmaster'), 1);
});

test('NOTIFY=FAILURE,DELAY and an ORCPT: one failure notice, naming full@ alone with 4.4.7, the ORCPT as Original-Recipient', async (t) => {
  const { run, sent, base, inbox } = await rig(t);
  await run({ ...base, rcptTo: ['team@localhost'], rcptDsn: { 'team@localhost': { notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;Team@localhost' } } });
  const notices = sent.filter((s) => s.text.includes('Final-Recipient'));
  for (const n of notices) if (process.env.SHOW) console.log(n.text.match(/^(Final-Recipient|Original-Recipient|Action|Status|Diagnostic-Code):.*$/gim));
  const failed = notices.filter((n) => /Action: failed/.test(n.text));
  assert.equal(failed.length, 1);
  assert.match(failed[0]?.text ?? '', /Original-Recipient: rfc822; ?Team@localhost\r\nFinal-Recipient: rfc822; ?full@localhost\r\nAction: failed\r\nStatus: 4\.4\.7/i);
  assert.equal(inbox('postmaster'), 1);
  assert.equal(sent.filter((s) => s.rcpts.includes('far@remote.example')).length, 1);
});

test('a plain recipient deferring expires at max_age with 4.4.7, named itself', async (t) => {
  const { run, sent, base } = await rig(t);
  await run({ ...base, rcptTo: ['full@localhost'] });
  const failed = sent.filter((s) => /Action: failed/.test(s.text));
  if (process.env.SHOW) console.log(failed[0]?.text.match(/^(Final-Recipient|Original-Recipient|Action|Status|Diagnostic-Code):.*$/gim));
  assert.equal(failed.length, 1);
  assert.match(failed[0]?.text ?? '', /Final-Recipient: rfc822; ?full@localhost\r\nAction: failed\r\nStatus: 4\.4\.7/i);
});

test('an alias of off-site members and a local member deferring until max_age: the off-site copy goes, the notice names the local member alone', async (t) => {
  const { run, sent, base } = await rig(t, ['full@localhost', 'far@remote.example']);
  await run({ ...base, rcptTo: ['team@localhost'] });
  assert.equal(sent.filter((s) => s.rcpts.includes('far@remote.example')).length, 1, 'far@ gets the copy held back while the alias was retried');
  const failed = sent.filter((s) => /Action: failed/.test(s.text));
  assert.equal(failed.length, 1);
  assert.match(failed[0]?.text ?? '', /Original-Recipient: rfc822; ?team@localhost\r\nFinal-Recipient: rfc822; ?full@localhost\r\nAction: failed\r\nStatus: 4\.4\.7/i);
  assert.doesNotMatch(failed[0]?.text ?? '', /Final-Recipient: rfc822; ?team@localhost/i);
});

test('a plain remote recipient whose attempt straddles max_age is tried once more at once, then expires with 4.4.7', async (t) => {
  const { run, sent, base, attempts } = await rig(t);
  const receivedAt = base.receivedAt;
  await run({ ...base, rcptTo: ['slow@remote.example'] });
  const late = attempts.filter((a) => a >= receivedAt + 2 * 60 * MIN);
  assert.ok(late.length <= 1, `at most one attempt starts past max_age: ${attempts.map((a) => (a - receivedAt) / MIN).join(',')}`);
  const failed = sent.filter((s) => /Action: failed/.test(s.text));
  assert.equal(failed.length, 1);
  assert.match(failed[0]?.text ?? '', /Final-Recipient: rfc822; ?slow@remote\.example\r\nAction: failed\r\nStatus: 4\.4\.7/i);
});
