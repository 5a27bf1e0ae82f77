// A Sieve redirect to a local address of mail the filter judged spam: the redirected copy keeps the verdict, so the
// target's Sieve reject and the member notice of a local alias send nothing to the (most likely forged) sender and
// the copy goes to the target's Junk; a copy of mail not judged spam carries no verdict (it is answered as before).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { writeSieveScript } from '../../../src/mailhost/sieve-scripts.ts';
import type { MessageSink, QueueEnvelope, QueuedVerdict } from '../../../src/queue/types.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { aliasConfig, aliasDataDir, bigMessage, bobTo, openAliasHost, type AliasBook } from '../../helpers/alias-mailhost.ts';
import { maildirMessages } from '../../helpers/maildir.ts';

/** alice@ redirects all to bob@ (whose script rejects) and to team@ (carol@, and tiny@ that fails for good). */
const BOOK: AliasBook = {
  users: { 'postmaster@localhost': undefined, 'alice@localhost': undefined, 'bob@localhost': undefined, 'carol@localhost': undefined, 'tiny@localhost': 1024 },
  aliases: { 'team@localhost': ['carol@localhost', 'tiny@localhost'] },
};

async function setup(t: TestContext) {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-redirect-spam-');
  writeSieveScript(dataDir, 'alice@localhost', 'redirect "bob@localhost";\nredirect "team@localhost";\n');
  writeSieveScript(dataDir, 'bob@localhost', 'require "reject";\nreject "not wanted here";\n');
  const host = openAliasHost(t, aliasConfig(dataDir, password, BOOK), dataDir);
  const queued: Array<{ envelope: QueueEnvelope; raw: Buffer }> = [];
  const sink: MessageSink = { enqueue: async (envelope, raw) => (queued.push({ envelope, raw }), { id: `R${queued.length}` }) };
  return { dataDir, queued, deliver: host.deliverLocal(sink) };
}

/** alice@ gets the message with `verdict`; then each redirected copy is delivered as the queue would. */
async function run(t: TestContext, verdict: QueuedVerdict | undefined) {
  const s = await setup(t);
  const envelope: QueueEnvelope = { ...bobTo(['alice@localhost'], systemClock.now()), ...(verdict ? { verdict } : {}) };
  assert.equal((await s.deliver(envelope, 'alice@localhost', bigMessage(), 'Q1')).status, 'ok');
  const redirects = [...s.queued];
  assert.deepEqual(redirects.map((r) => r.envelope.rcptTo), [['bob@localhost'], ['team@localhost']]);
  const toBob = redirects[0] as { envelope: QueueEnvelope; raw: Buffer };
  const toTeam = redirects[1] as { envelope: QueueEnvelope; raw: Buffer };
  const bob = await s.deliver(toBob.envelope, 'bob@localhost', toBob.raw, 'R1');
  const team = await s.deliver(toTeam.envelope, 'team@localhost', toTeam.raw, 'R2');
  // what the team@ delivery queued: the member notice (from the null sender) if any
  const notices = s.queued.slice(redirects.length).filter((q) => q.envelope.mailFrom === '');
  return { ...s, toBob, toTeam, bob, team, notices };
}

test('judged spam (its copy in Junk): the redirected copies keep the verdict; no reject notice, no member notice; the copy goes to Junk', async (t) => {
  const r = await run(t, { action: 'junk', score: 9, junkRecipients: ['alice@localhost'] });
  assert.deepEqual(r.toBob.envelope.verdict, { action: 'junk', score: 9, junkRecipients: ['bob@localhost'] });
  // was 550 5.7.1 (the queue's notice to the forged sender): the message is dropped, logged
  assert.equal(r.bob.status, 'ok', JSON.stringify(r.bob));
  assert.equal(r.team.status, 'ok', JSON.stringify(r.team));
  assert.deepEqual(r.notices, [], 'no notice of the failed member tiny@');
  assert.equal(maildirMessages(r.dataDir, '.Junk', 'carol').length, 1, 'carol@ has it in Junk');
});

test('judged spam by its action alone (rewrite_subject): kept as such, the copy not sent to Junk', async (t) => {
  const r = await run(t, { action: 'rewrite_subject', score: 6 });
  assert.deepEqual(r.toBob.envelope.verdict, { action: 'rewrite_subject', score: 6 });
  assert.equal(r.bob.status, 'ok', JSON.stringify(r.bob));
  assert.deepEqual(r.notices, []);
  assert.equal(maildirMessages(r.dataDir, '', 'carol').length, 1, 'carol@ has it in INBOX');
});

test('not judged spam: the redirected copy carries no verdict, and the reject and the member notice go to the sender', async (t) => {
  const r = await run(t, { action: 'add_header', score: 3, spamtest: { 'alice@localhost': { value: 3, percent: 30 } } });
  assert.equal(r.toBob.envelope.verdict, undefined, 'our own ham is not tagged');
  assert.equal(r.bob.status, 'perm');
  assert.equal(r.notices.length, 1, 'the sender hears of tiny@');
  const plain = await run(t, undefined);
  assert.equal(plain.toBob.envelope.verdict, undefined);
  assert.equal(plain.bob.status, 'perm');
});
