// Out-of-office replies of a delivery that defers and is retried: one reply per message and user (RFC 5230 §4.6),
// sent once the delivery is done, not at an attempt that defers, nor again at a retry after a restart however long
// after (the period of the sender memory past: a short :seconds, --days 1 and a queue retrying for days).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';
import { openMailHost } from '../../../src/mailhost/mailhost-setup.ts';
import { writeSieveScript } from '../../../src/mailhost/sieve-scripts.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { openSpool, spoolDir } from '../../../src/queue/spool.ts';
import type { QueueEnvelope } from '../../../src/queue/types.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { aliasDataDir, bobTo } from '../../helpers/alias-mailhost.ts';
import { maildirMessages } from '../../helpers/maildir.ts';

const DAY = 86_400_000;

/** full@localhost with `quota` octets and the administrator's reply (--days 1) on. */
function configOf(dataDir: string, password: string, quota: number | undefined): Config {
  const full = { password, ...(quota !== undefined ? { quota } : {}), vacation: { message: 'ADMIN-AWAY', days: 1 } };
  return loadConfig({ inline: { local_domains: ['localhost'], users: { 'postmaster@localhost': { password }, 'full@localhost': full }, mailhost: { watch_files: false } }, dataDir }).config;
}

/** 4000 octets addressed To the user, so that it is answered (RFC 3834 §2). */
const message = (): Buffer => Buffer.from(`From: bob@remote.example\r\nTo: full@localhost\r\nSubject: big\r\nMessage-ID: <m1@remote.example>\r\n\r\n${'x'.repeat(4000)}\r\n`);

/** One process: mail host and spool on `clock`; the replies it queues are counted in `replies`. */
async function process(t: TestContext, config: Config, dataDir: string, clock: ManualClock, replies: QueueEnvelope[]) {
  const registry = createRegistry(false);
  const spool = await openSpool({ dir: spoolDir(dataDir), fsync: false, clock, registry, log: silentLogger });
  const host = openMailHost({ config, dataDir, clock, log: silentLogger, registry, hostname: 'mx.test.example' });
  const sink = { enqueue: async (env: QueueEnvelope, body: Buffer) => (env.mailFrom === '' && replies.push(env), spool.enqueue(env, body)) };
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await host.close();
    await spool.close();
  };
  t.after(close);
  return { deliver: host.deliverLocal(sink, undefined, undefined, spool.progress), close };
}

for (const [name, script] of [
  ['a Sieve vacation :seconds 60', 'require ["fileinto", "vacation", "vacation-seconds"];\nvacation :seconds 60 "SIEVE-AWAY";\nfileinto "A";\nfileinto "B";\n'],
  ['the administrator\'s reply (--days 1)', 'require "fileinto";\nfileinto "A";\nfileinto "B";\n'],
] as const) {
  test(`${name}: a delivery whose second copy defers, retried after a restart two days later, sends exactly one reply`, async (t) => {
    const { dataDir, password } = await aliasDataDir(t, 'spamgate-vacation-retry-');
    writeSieveScript(dataDir, 'full@localhost', script);
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 12));
    const replies: QueueEnvelope[] = [];
    const envelope = bobTo(['full@localhost'], clock.now());
    // room for one copy: the one in B waits (452 4.2.2)
    const first = await process(t, configOf(dataDir, password, 7000), dataDir, clock, replies);
    assert.equal((await first.deliver(envelope, 'full@localhost', message(), 'Q1')).status, 'temp');
    assert.equal(maildirMessages(dataDir, '.A', 'full').length, 1);
    assert.equal(replies.length, 0, 'no reply while the delivery is not done');
    await first.close();
    // the quota raised while spamgate is down; the queue retries two days later (the sender memory's period past)
    clock.advance(2 * DAY);
    const second = await process(t, configOf(dataDir, password, undefined), dataDir, clock, replies);
    assert.equal((await second.deliver(envelope, 'full@localhost', message(), 'Q1')).status, 'ok');
    assert.equal(maildirMessages(dataDir, '.B', 'full').length, 1);
    assert.equal(maildirMessages(dataDir, '.A', 'full').length, 1);
    assert.deepEqual(replies.map((r) => r.rcptTo), [['bob@remote.example']], 'one reply, once the message is delivered');
    // delivered again (an alias retried for another member): no second reply, in this process or the next
    assert.equal((await second.deliver(envelope, 'full@localhost', message(), 'Q1')).status, 'ok');
    await second.close();
    clock.advance(2 * DAY);
    const third = await process(t, configOf(dataDir, password, undefined), dataDir, clock, replies);
    assert.equal((await third.deliver(envelope, 'full@localhost', message(), 'Q1')).status, 'ok');
    assert.equal(replies.length, 1, 'still one reply');
  });
}

for (const [name, script] of [
  ['a Sieve vacation', 'require "vacation";\nvacation "SIEVE-AWAY";\n'],
  ['a Sieve vacation and fileinto', 'require ["fileinto", "vacation"];\nvacation "SIEVE-AWAY";\nfileinto "A";\n'],
  ['the administrator\'s reply', 'keep;\n'],
] as const) {
  test(`${name}: a delivery whose every copy fails for good (larger than the whole quota) sends no reply: the sender gets the bounce`, async (t) => {
    const { dataDir, password } = await aliasDataDir(t, 'spamgate-vacation-perm-');
    writeSieveScript(dataDir, 'full@localhost', script);
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 12));
    const replies: QueueEnvelope[] = [];
    const envelope = bobTo(['full@localhost'], clock.now());
    const host = await process(t, configOf(dataDir, password, 1000), dataDir, clock, replies);
    assert.equal((await host.deliver(envelope, 'full@localhost', message(), 'Q1')).status, 'perm');
    assert.equal(replies.length, 0, 'no out-of-office reply for a message the user never got');
  });
}

test('a process stopped once the reply is queued, before the delivery is noted done: the retry after a restart, past --days, sends no second reply', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-vacation-crash-');
  writeSieveScript(dataDir, 'full@localhost', 'require "fileinto";\nfileinto "A";\nfileinto "B";\n');
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 12));
  const envelope = bobTo(['full@localhost'], clock.now());
  const config = configOf(dataDir, password, undefined);
  // the first process: its reply is in the spool, and it goes no further (stopped there)
  const registry = createRegistry(false);
  const spool = await openSpool({ dir: spoolDir(dataDir), fsync: false, clock, registry, log: silentLogger });
  const host = openMailHost({ config, dataDir, clock, log: silentLogger, registry, hostname: 'mx.test.example' });
  let queued!: () => void;
  const replyQueued = new Promise<void>((resolve) => (queued = resolve));
  let release!: () => void;
  const stopped = new Promise<void>((resolve) => (release = resolve));
  const sink = {
    enqueue: async (env: QueueEnvelope, body: Buffer) => {
      const r = await spool.enqueue(env, body);
      if (env.mailFrom === '') {
        queued();
        await stopped;
      }
      return r;
    },
  };
  const pending = host.deliverLocal(sink, undefined, undefined, spool.progress)(envelope, 'full@localhost', message(), 'Q1');
  await replyQueued;
  // restarted two days later (the sender memory's period past): the queue retries the message
  clock.advance(2 * DAY);
  const replies: QueueEnvelope[] = [];
  const second = await process(t, config, dataDir, clock, replies);
  assert.equal((await second.deliver(envelope, 'full@localhost', message(), 'Q1')).status, 'ok');
  assert.equal(replies.length, 0, 'the reply went before the stop: no second one');
  release();
  await pending;
  await host.close();
  await spool.close();
});
