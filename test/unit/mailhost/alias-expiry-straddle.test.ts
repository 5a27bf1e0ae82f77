// The queue's attempt that starts before queue.max_age and ends after it (a slow MX for another recipient of the
// message keeps the attempt open): the mail host saw the alias before max_age and kept it deferred; the queue must
// not then expire the whole alias — a member has the message — but try it once more, when the mail host fails the
// member still deferring alone, named in the member notice.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { hashPassword } from '../../../src/mailhost/password.ts';
import { openMailHost } from '../../../src/mailhost/mailhost-setup.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { createFullStackRouter, type RecipientOutcome } from '../../../src/queue/router.ts';
import { createScheduler } from '../../../src/queue/scheduler.ts';
import { openSpool } from '../../../src/queue/spool.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const MIN = 60_000;

/** Queue, spool and mail host on one manual clock; team@ → postmaster@ and full@ (quota 7000 octets; postmaster@'s quota `pmQuota`). */
async function rig(t: TestContext, pmQuota?: number) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'spamgate-alias-straddle-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const password = await hashPassword('full-password', { N: 1024, r: 8, p: 1 });
  const { config } = loadConfig({
    inline: {
      mode: 'full-stack',
      local_domains: ['localhost'],
      users: { 'postmaster@localhost': { password, ...(pmQuota !== undefined ? { quota: pmQuota } : {}) }, 'full@localhost': { password, quota: 7000 } },
      aliases: { 'team@localhost': ['postmaster@localhost', 'full@localhost'] },
      mailhost: { watch_files: false },
      queue: { max_age: '2h', retry_initial: '1m', retry_max: '20m', delay_warning: '0s', scan_interval: '1h' },
    },
    dataDir,
  });
  const clock = new ManualClock(Date.UTC(2025, 0, 1, 12));
  const registry = createRegistry(false);
  const spool = await openSpool({ dir: path.join(dataDir, 'spool'), fsync: false, clock, registry, log: silentLogger });
  const host = openMailHost({ config, dataDir, clock, log: silentLogger, registry, hostname: 'mx.test.example' });
  const local = host.deliverLocal(spool, undefined, undefined, spool.progress);
  // what went off-site: the notices to the sender
  const sent: string[] = [];
  const slow = { on: false };
  const router = createFullStackRouter({
    isLocal: (r) => r.toLowerCase().endsWith('@localhost'),
    deliverLocal: async (envelope, recipient, raw, queueId) => {
      const outcome = await local(envelope, recipient, raw, queueId);
      // the rest of the attempt (another recipient's slow MX) takes a minute
      if (slow.on) clock.advance(MIN);
      return outcome;
    },
    outbound: {
      deliver: (_from, _domain, recipients, message) => {
        sent.push(message.toString('utf8'));
        return Promise.resolve(new Map(recipients.map((r): [string, RecipientOutcome] => [r, { status: 'delivered', reply: { code: 250, text: 'ok' }, destination: 'remote' }])));
      },
      close: () => Promise.resolve(),
    },
  });
  const scheduler = createScheduler({ spool, router, config: config.queue, clock, registry, log: silentLogger, hostname: 'mx.test.example' });
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop(2000);
    await host.close();
    await spool.close();
  });
  const base = { sessionId: 'S1', clientIp: '192.0.2.1', mailFrom: 'bob@remote.example', receivedAt: clock.now() };
  const fill = async (user: string): Promise<void> => {
    assert.equal((await local({ ...base, rcptTo: [user] }, user, Buffer.from(`Subject: filler\r\n\r\n${'f'.repeat(4000)}\r\n`), `F-${user}`)).status, 'ok');
  };
  return { clock, spool, scheduler, sent, slow, base, fill };
}

test('an alias all members of which defer until queue.max_age fails as a whole, in one notice', async (t) => {
  const { clock, spool, scheduler, sent, base, fill } = await rig(t, 7000);
  await fill('full@localhost');
  await fill('postmaster@localhost');
  const receivedAt = clock.now();
  await spool.enqueue({ ...base, rcptTo: ['team@localhost'], receivedAt }, Buffer.from(`From: bob@remote.example\r\nSubject: big\r\n\r\n${'x'.repeat(4000)}\r\n`));
  await scheduler.runDue();
  for (let i = 0; i < 100 && scheduler.size() > 0; i++) {
    clock.advance(5 * MIN);
    await scheduler.runDue();
  }
  assert.equal(scheduler.size(), 0, 'the queue is empty');
  assert.equal(sent.length, 1, 'one notice');
  assert.match(sent[0] ?? '', /Final-Recipient: rfc822; ?team@localhost\r\nAction: failed\r\nStatus: 4\.4\.7/i);
  assert.doesNotMatch(sent[0] ?? '', /Final-Recipient: rfc822; ?(postmaster|full)@localhost/i);
});

test('an attempt that straddles queue.max_age does not expire an alias a member of which has the message', async (t) => {
  const { clock, spool, scheduler, sent, slow, base, fill } = await rig(t);
  // full@ holds 4000 of its 7000 octets: the message waits for room (452 4.2.2) until it expires
  await fill('full@localhost');
  const receivedAt = clock.now();
  await spool.enqueue({ ...base, rcptTo: ['team@localhost'], receivedAt }, Buffer.from(`From: bob@remote.example\r\nSubject: big\r\n\r\n${'x'.repeat(4000)}\r\n`));
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
