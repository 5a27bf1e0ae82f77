// An alias member that fails for good while others have the message: the sender is told once. The notice is queued
// before the copies for off-site members; when queuing such a copy fails the alias is retried, and that retry must
// not queue the notice a second time.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { writeSieveScript } from '../../../src/mailhost/sieve-scripts.ts';
import type { SpoolProgress } from '../../../src/queue/spool-progress.ts';
import type { MessageSink, QueueEnvelope } from '../../../src/queue/types.ts';
import { capturingLogger } from '../../helpers/capture-logs.ts';
import { ManualClock, systemClock } from '../../../src/util/clock.ts';
import type { Logger } from '../../../src/util/logger.ts';
import {
  aliasConfig,
  aliasDataDir,
  bigMessage,
  bobTo,
  filler,
  inboxCount,
  openAliasHost,
  openHostProcess,
  TEAM_FULL,
  TEAM_TINY,
  type HostProcess,
} from '../../helpers/alias-mailhost.ts';

test('a retry after an off-site copy could not be queued does not send the member failure notice again', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-alias-notice-', 'tiny-password');
  const host = openAliasHost(t, aliasConfig(dataDir, password, TEAM_TINY), dataDir);
  const queued: QueueEnvelope[] = [];
  let failNextCopy = true;
  const sink: MessageSink = {
    enqueue: (envelope) => {
      if (envelope.mailFrom !== '' && failNextCopy) {
        failNextCopy = false;
        return Promise.reject(new Error('ENOSPC: no space left on device'));
      }
      queued.push(envelope);
      return Promise.resolve({ id: `n${queued.length}` });
    },
  };
  const deliver = host.deliverLocal(sink);
  const envelope = bobTo(['team@localhost'], systemClock.now());
  const raw = bigMessage();
  await assert.rejects(deliver(envelope, 'team@localhost', raw, 'Q1'), /ENOSPC/);
  const retry = await deliver(envelope, 'team@localhost', raw, 'Q1');
  assert.equal(retry.status, 'ok');
  const notices = queued.filter((e) => e.mailFrom === '');
  assert.equal(notices.length, 1, 'one failure notice for tiny@, however often the alias is tried');
  assert.equal(queued.filter((e) => e.mailFrom !== '').length, 1, 'one copy for the off-site member');
});

test('an alias retried for hours while one member defers: the members that have the message get no second copy', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-alias-retry-');
  // defaults: mailhost.duplicate_window 1h, queue.retry_max 1h, queue.max_age 5d
  const config = aliasConfig(dataDir, password, TEAM_FULL);
  const clock = new ManualClock(1_000_000);
  const host = openAliasHost(t, config, dataDir, clock);
  const sink: MessageSink = { enqueue: () => Promise.resolve({ id: 'n1' }) };
  const deliver = host.deliverLocal(sink);
  const envelope = (rcpt: string): QueueEnvelope => bobTo([rcpt], clock.now());
  // full@ holds 4000 of its 7000 octets: the next 4000 wait for room (452, retried)
  assert.equal((await deliver(envelope('full@localhost'), 'full@localhost', filler(), 'Q0')).status, 'ok');
  const raw = bigMessage();
  // the queue's retries: 1, 2, 4, … minutes, then every hour (retry_max), for hours
  for (const wait of [0, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000, 3_600_000]) {
    clock.advance(wait);
    assert.equal((await deliver(envelope('team@localhost'), 'team@localhost', raw, 'Q1')).status, 'temp');
  }
  assert.equal(inboxCount(dataDir), 1, 'postmaster@ has the message once, however long the alias is retried');
});

/** One mail host and spool as a process has them (team@ → postmaster@, tiny@, far@remote.example): a restart is a new pair on the same data directory. */
function openProcess(dataDir: string, password: string, log?: Logger): Promise<HostProcess> {
  return openHostProcess(aliasConfig(dataDir, password, TEAM_TINY), dataDir, sinkOf, log);
}

/** What was queued (off-site copies and notices); the first off-site copy cannot be queued (ENOSPC). */
const queued: QueueEnvelope[] = [];
let failNextCopy = true;
function sinkOf(spool: MessageSink): MessageSink {
  return {
    enqueue: async (envelope, raw) => {
      if (envelope.mailFrom !== '' && failNextCopy) {
        failNextCopy = false;
        throw new Error('ENOSPC: no space left on device');
      }
      queued.push(envelope);
      return spool.enqueue(envelope, raw);
    },
  };
}

/** A fresh data directory (`prefix`) where a first process tries team@ once: the off-site copy cannot be queued (ENOSPC), then the process ends. */
async function firstProcessFails(t: TestContext, prefix: string): Promise<{ dataDir: string; password: string; envelope: QueueEnvelope; raw: Buffer }> {
  const { dataDir, password } = await aliasDataDir(t, prefix, 'tiny-password');
  queued.length = 0;
  failNextCopy = true;
  const envelope = bobTo(['team@localhost'], systemClock.now());
  const raw = bigMessage();
  const first = await openProcess(dataDir, password);
  await assert.rejects(first.deliver(envelope, 'team@localhost', raw, 'Q1'), /ENOSPC/);
  await first.close();
  return { dataDir, password, envelope, raw };
}

test('a restart between the member failure notice and the retry of the alias: the notice goes once, the member that has the message gets no second copy', async (t) => {
  const { dataDir, password, envelope, raw } = await firstProcessFails(t, 'spamgate-alias-restart-');
  const second = await openProcess(dataDir, password);
  t.after(() => second.close());
  assert.equal((await second.deliver(envelope, 'team@localhost', raw, 'Q1')).status, 'ok');
  assert.equal(queued.filter((e) => e.mailFrom === '').length, 1, 'one failure notice for tiny@ across the restart');
  assert.equal(queued.filter((e) => e.mailFrom !== '').length, 1, 'one copy for the off-site member');
  assert.equal(inboxCount(dataDir), 1, 'postmaster@ has the message once');
});

test('a damaged progress record is ignored with a warning: the retry delivers as without one', async (t) => {
  const { dataDir, password, envelope, raw } = await firstProcessFails(t, 'spamgate-alias-damaged-');
  for (const damage of ['{"v":1,"steps":[', '{"v":1,"steps":[1,2]}', `{"v":1,"steps":${JSON.stringify(Array.from({ length: 20_000 }, (_v, i) => `s${i}`))}}`, '[]']) {
    writeFileSync(path.join(dataDir, 'spool', 'progress', 'Q1.json'), damage);
    const { log, logs } = capturingLogger('warn');
    const again = await openProcess(dataDir, password, log);
    assert.equal((await again.deliver(envelope, 'team@localhost', raw, 'Q1')).status, 'ok', damage.slice(0, 30));
    await again.close();
    assert.ok(logs.some((l) => /delivery progress (damaged|unreadable)/.test(String(l.msg))), `warned: ${JSON.stringify(logs)}`);
  }
});

test('an alias member that defers until queue.max_age: the notice names that member alone, from the alias; the others keep their copy', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-alias-expiry-');
  const clock = new ManualClock(1_000_000);
  const host = openAliasHost(t, aliasConfig(dataDir, password, TEAM_FULL, { queue: { max_age: '2d' } }), dataDir, clock);
  const notices: Array<{ envelope: QueueEnvelope; raw: string }> = [];
  const sink: MessageSink = {
    enqueue: (envelope, raw) => {
      notices.push({ envelope, raw: raw.toString('utf8') });
      return Promise.resolve({ id: `n${notices.length}` });
    },
  };
  const deliver = host.deliverLocal(sink);
  const receivedAt = clock.now();
  const envelope = (rcpt: string): QueueEnvelope => bobTo([rcpt], receivedAt);
  assert.equal((await deliver(envelope('full@localhost'), 'full@localhost', filler(), 'Q0')).status, 'ok');
  const raw = bigMessage();
  assert.equal((await deliver(envelope('team@localhost'), 'team@localhost', raw, 'Q1')).status, 'temp');
  clock.advance(2 * 86_400_000 - 1);
  assert.equal((await deliver(envelope('team@localhost'), 'team@localhost', raw, 'Q1')).status, 'temp', 'before max_age the alias is retried');
  assert.equal(notices.length, 0);
  clock.advance(1);
  // the queue's last attempt, at receivedAt + max_age
  assert.equal((await deliver(envelope('team@localhost'), 'team@localhost', raw, 'Q1')).status, 'ok', 'the alias is delivered: a member has it');
  assert.equal(notices.length, 1, 'one notice');
  const notice = notices[0];
  assert.equal(notice?.envelope.mailFrom, '');
  assert.deepEqual(notice?.envelope.rcptTo, ['bob@remote.example']);
  assert.match(notice?.raw ?? '', /Final-Recipient: rfc822; ?full@localhost/i);
  assert.match(notice?.raw ?? '', /Original-Recipient: rfc822; ?team@localhost/i);
  assert.match(notice?.raw ?? '', /Status: 4\.4\.7/);
  assert.match(notice?.raw ?? '', /message expired after 2d in queue/);
  assert.doesNotMatch(notice?.raw ?? '', /Final-Recipient: rfc822; ?(postmaster@localhost|team@localhost)/i);
  assert.equal(inboxCount(dataDir), 1, 'postmaster@ has the message once');
});

/** The first process's attempt of a message to postmaster@ and team@ (postmaster@'s copy delivered, full@ deferred). */
async function directThenAlias(first: HostProcess, envelope: QueueEnvelope, raw: Buffer): Promise<void> {
  // full@ holds 4000 of its 7000 octets: the alias defers for it
  assert.equal((await first.deliver({ ...envelope, rcptTo: ['full@localhost'] }, 'full@localhost', filler(), 'Q0')).status, 'ok');
  // the message's two recipients: postmaster@ itself (delivered), then the alias (postmaster@ a duplicate, full@ deferred)
  assert.equal((await first.deliver(envelope, 'postmaster@localhost', raw, 'Q1')).status, 'ok');
  assert.equal((await first.deliver(envelope, 'team@localhost', raw, 'Q1')).status, 'temp');
}

test('a member also addressed directly got the message from that recipient: a retry of the alias after a restart gives it no second copy', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-alias-direct-');
  const openPair = (): Promise<HostProcess> => openHostProcess(aliasConfig(dataDir, password, TEAM_FULL), dataDir);
  const envelope = bobTo(['postmaster@localhost', 'team@localhost'], systemClock.now());
  const raw = bigMessage();
  const first = await openPair();
  await directThenAlias(first, envelope, raw);
  await first.close();
  const second = await openPair();
  t.after(() => second.close());
  assert.equal((await second.deliver(envelope, 'team@localhost', raw, 'Q1')).status, 'temp');
  assert.equal(inboxCount(dataDir), 1, 'postmaster@ has the message once across the restart');
});

test('a member also addressed directly whose script redirects: a retry of the alias after a restart queues no second redirect', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-alias-redirect-');
  writeSieveScript(dataDir, 'postmaster@localhost', 'require "copy";\nredirect :copy "boss@remote.example";\n');
  const redirects: QueueEnvelope[] = [];
  const openPair = (): Promise<HostProcess> =>
    openHostProcess(aliasConfig(dataDir, password, TEAM_FULL), dataDir, (spool) => ({
      enqueue: (envelope, raw) => {
        if (envelope.rcptTo.includes('boss@remote.example')) redirects.push(envelope);
        return spool.enqueue(envelope, raw);
      },
    }));
  const envelope = bobTo(['postmaster@localhost', 'team@localhost'], systemClock.now());
  const raw = bigMessage();
  const first = await openPair();
  await directThenAlias(first, envelope, raw);
  assert.equal(redirects.length, 1);
  await first.close();
  const second = await openPair();
  t.after(() => second.close());
  assert.equal((await second.deliver(envelope, 'team@localhost', raw, 'Q1')).status, 'temp');
  assert.equal(redirects.length, 1, 'postmaster@\'s redirect is queued once across the restart');
});

test('a progress record that cannot be written (disk full) neither fails nor repeats the delivery: the copies stand, the memory tells', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-alias-enospc-');
  const host = openAliasHost(t, aliasConfig(dataDir, password, TEAM_FULL), dataDir);
  let writes = 0;
  const progress: SpoolProgress = {
    of: () => ({
      has: () => Promise.resolve(false),
      add: () => {
        writes++;
        return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      },
    }),
    forget: () => undefined,
  };
  const deliver = host.deliverLocal({ enqueue: () => Promise.resolve({ id: 'n1' }) }, undefined, undefined, progress);
  const envelope = bobTo(['team@localhost'], systemClock.now());
  const raw = bigMessage();
  assert.equal((await deliver({ ...envelope, rcptTo: ['full@localhost'] }, 'full@localhost', filler(), 'Q0')).status, 'ok');
  assert.equal((await deliver(envelope, 'team@localhost', raw, 'Q1')).status, 'temp', 'full@ defers; postmaster@\'s copy is no failure');
  assert.ok(writes >= 1);
  assert.equal((await deliver(envelope, 'team@localhost', raw, 'Q1')).status, 'temp');
  assert.equal(inboxCount(dataDir), 1, 'postmaster@ has the message once');
});

test('a plain delivery (one user, or an alias of one target) reads and writes no progress record', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-alias-plain-', 'plain-password');
  const book = { users: { 'postmaster@localhost': undefined, 'alice@localhost': undefined }, aliases: { 'one@localhost': ['alice@localhost'], 'two@localhost': ['alice@localhost', 'postmaster@localhost'] } };
  const host = openAliasHost(t, aliasConfig(dataDir, password, book), dataDir);
  const touched: string[] = [];
  const progress: SpoolProgress = {
    of: (id) => ({
      has: () => {
        touched.push(id);
        return Promise.resolve(false);
      },
      add: () => {
        touched.push(id);
        return Promise.resolve();
      },
    }),
    forget: () => undefined,
  };
  const deliver = host.deliverLocal({ enqueue: () => Promise.resolve({ id: 'n1' }) }, undefined, undefined, progress);
  const envelope = (rcpt: string): QueueEnvelope => bobTo([rcpt], systemClock.now());
  const raw = Buffer.from('From: bob@remote.example\r\nSubject: hi\r\n\r\nhello\r\n');
  assert.equal((await deliver(envelope('alice@localhost'), 'alice@localhost', raw, 'P1')).status, 'ok');
  assert.equal((await deliver(envelope('one@localhost'), 'one@localhost', raw, 'P2')).status, 'ok');
  assert.deepEqual(touched, [], 'plain deliveries do nothing more than before');
  assert.equal((await deliver(envelope('two@localhost'), 'two@localhost', raw, 'P3')).status, 'ok');
  assert.ok(touched.length > 0 && touched.every((id) => id === 'P3'), 'an alias of two targets keeps its record');
});
