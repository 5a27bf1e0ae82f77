// A user (one target, no alias) whose Sieve script does several things: a step done before a later one deferred is
// not done again when the message is retried after a restart (the spool's progress record outlives the process),
// while a delivery of one step keeps no record.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { writeSieveScript } from '../../../src/mailhost/sieve-scripts.ts';
import type { MessageSink, QueueEnvelope } from '../../../src/queue/types.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { aliasConfig, aliasDataDir, bigMessage, bobTo, openHostProcess, type AliasBook, type HostProcess } from '../../helpers/alias-mailhost.ts';
import { maildirMessages } from '../../helpers/maildir.ts';

/** full@ has room (7000 octets) for one copy of the big message; roomy@ for any number. */
const TIGHT: AliasBook = { users: { 'postmaster@localhost': undefined, 'full@localhost': 7000 }, aliases: {} };
const ROOMY: AliasBook = { users: { 'postmaster@localhost': undefined, 'full@localhost': undefined }, aliases: {} };

/**
 * A first process delivers to full@ with a script filing into A and B: A is stored, B does not fit (TIGHT), the
 * delivery defers, the process ends. What the retry after the restart needs is returned.
 */
async function firstAttemptDefersAtB(t: TestContext, prefix: string): Promise<{ dataDir: string; password: string; envelope: QueueEnvelope; raw: Buffer }> {
  const { dataDir, password } = await aliasDataDir(t, prefix);
  writeSieveScript(dataDir, 'full@localhost', 'require "fileinto";\nfileinto "A";\nfileinto "B";\n');
  const envelope = bobTo(['full@localhost'], systemClock.now());
  const raw = bigMessage();
  const first = await openHostProcess(aliasConfig(dataDir, password, TIGHT), dataDir);
  assert.equal((await first.deliver(envelope, 'full@localhost', raw, 'Q1')).status, 'temp', 'the copy in B does not fit');
  await first.close();
  assert.equal(maildirMessages(dataDir, '.A', 'full').length, 1);
  return { dataDir, password, envelope, raw };
}

test('fileinto "A" then a copy that defers (over quota): after a restart and the room made, folder A has the message once', async (t) => {
  const { dataDir, password, envelope, raw } = await firstAttemptDefersAtB(t, 'spamgate-sieve-steps-');
  assert.equal(maildirMessages(dataDir, '.B', 'full').length, 0);
  // the quota is raised while spamgate is down; the queue retries the message
  const second = await openHostProcess(aliasConfig(dataDir, password, ROOMY), dataDir);
  t.after(() => second.close());
  assert.equal((await second.deliver(envelope, 'full@localhost', raw, 'Q1')).status, 'ok');
  assert.equal(maildirMessages(dataDir, '.A', 'full').length, 1, 'A had the message before the restart: no second copy');
  assert.equal(maildirMessages(dataDir, '.B', 'full').length, 1, 'B got it at the retry');
});

test('keep and a redirect that cannot be queued: the retry after a restart queues the redirect and stores no second copy', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-sieve-redirect-');
  writeSieveScript(dataDir, 'postmaster@localhost', 'require "copy";\nredirect :copy "boss@remote.example";\n');
  const redirects: QueueEnvelope[] = [];
  let failNext = true;
  const sinkOf = (spool: MessageSink): MessageSink => ({
    enqueue: async (env, body) => {
      if (failNext) {
        failNext = false;
        throw new Error('ENOSPC: no space left on device');
      }
      redirects.push(env);
      return spool.enqueue(env, body);
    },
  });
  const envelope = bobTo(['postmaster@localhost'], systemClock.now());
  const raw = bigMessage();
  const config = aliasConfig(dataDir, password, ROOMY);
  const first = await openHostProcess(config, dataDir, sinkOf);
  await assert.rejects(first.deliver(envelope, 'postmaster@localhost', raw, 'Q1'), /ENOSPC/);
  await first.close();
  assert.equal(maildirMessages(dataDir).length, 1);
  const second = await openHostProcess(config, dataDir, sinkOf);
  t.after(() => second.close());
  assert.equal((await second.deliver(envelope, 'postmaster@localhost', raw, 'Q1')).status, 'ok');
  assert.equal(maildirMessages(dataDir).length, 1, 'the kept copy is not stored again');
  assert.deepEqual(
    redirects.map((r) => r.rcptTo),
    [['boss@remote.example']],
    'the redirect is queued once',
  );
});

test('a script of one step (fileinto alone) keeps no progress record', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-sieve-one-');
  writeSieveScript(dataDir, 'full@localhost', 'require "fileinto";\nfileinto "A";\n');
  const host: HostProcess = await openHostProcess(aliasConfig(dataDir, password, ROOMY), dataDir);
  t.after(() => host.close());
  assert.equal((await host.deliver(bobTo(['full@localhost'], systemClock.now()), 'full@localhost', bigMessage(), 'Q1')).status, 'ok');
  assert.equal(maildirMessages(dataDir, '.A', 'full').length, 1);
  assert.deepEqual(readdirSync(path.join(dataDir, 'spool', 'progress')), []);
});

test('a script of several steps edited to one between the attempts: the step done before the restart is not done again', async (t) => {
  const { dataDir, password, envelope, raw } = await firstAttemptDefersAtB(t, 'spamgate-sieve-edited-');
  // the user drops the second folder while the message waits (or a currentdate test now takes one branch only)
  writeSieveScript(dataDir, 'full@localhost', 'require "fileinto";\nfileinto "A";\n');
  const second = await openHostProcess(aliasConfig(dataDir, password, ROOMY), dataDir);
  t.after(() => second.close());
  assert.equal((await second.deliver(envelope, 'full@localhost', raw, 'Q1')).status, 'ok');
  assert.equal(maildirMessages(dataDir, '.A', 'full').length, 1, 'A had the message before the restart: no second copy');
});

test('two redirects, the second cannot be queued: the retry after a restart queues only the second', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-sieve-redirects-');
  writeSieveScript(dataDir, 'postmaster@localhost', 'require "copy";\nredirect :copy "a@remote.example";\nredirect :copy "b@remote.example";\n');
  const redirects: string[] = [];
  let calls = 0;
  const sinkOf = (spool: MessageSink): MessageSink => ({
    enqueue: async (env, body) => {
      // the second enqueue of the first process fails (the spool's disk full for a moment)
      if (++calls === 2) throw new Error('ENOSPC: no space left on device');
      redirects.push(...env.rcptTo);
      return spool.enqueue(env, body);
    },
  });
  const envelope = bobTo(['postmaster@localhost'], systemClock.now());
  const raw = bigMessage();
  const config = aliasConfig(dataDir, password, ROOMY);
  const first = await openHostProcess(config, dataDir, sinkOf);
  await assert.rejects(first.deliver(envelope, 'postmaster@localhost', raw, 'Q1'), /ENOSPC/);
  await first.close();
  const second = await openHostProcess(config, dataDir, sinkOf);
  t.after(() => second.close());
  assert.equal((await second.deliver(envelope, 'postmaster@localhost', raw, 'Q1')).status, 'ok');
  assert.equal(maildirMessages(dataDir).length, 1, 'the kept copy is not stored again');
  assert.deepEqual(redirects, ['a@remote.example', 'b@remote.example'], 'each redirect queued once');
});
