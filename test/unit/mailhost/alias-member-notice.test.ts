// An alias member that fails for good while others have the message: the sender is told once. The notice is queued
// before the copies for off-site members; when queuing such a copy fails the alias is retried, and that retry must
// not queue the notice a second time.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { hashPassword } from '../../../src/mailhost/password.ts';
import { openMailHost } from '../../../src/mailhost/mailhost-setup.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import type { MessageSink, QueueEnvelope } from '../../../src/queue/types.ts';
import { ManualClock, systemClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

test('a retry after an off-site copy could not be queued does not send the member failure notice again', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'spamgate-alias-notice-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const password = await hashPassword('tiny-password', { N: 1024, r: 8, p: 1 });
  const { config } = loadConfig({
    inline: {
      local_domains: ['localhost'],
      users: { 'postmaster@localhost': { password }, 'tiny@localhost': { password, quota: 1024 } },
      aliases: { 'team@localhost': ['postmaster@localhost', 'tiny@localhost', 'far@remote.example'] },
      mailhost: { watch_files: false },
    },
    dataDir,
  });
  const host = openMailHost({ config, dataDir, clock: systemClock, log: silentLogger, registry: createRegistry(false), hostname: 'mx.test.example' });
  t.after(() => host.close());
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
  const envelope: QueueEnvelope = { sessionId: 'S1', clientIp: '192.0.2.1', mailFrom: 'bob@remote.example', rcptTo: ['team@localhost'], receivedAt: systemClock.now() };
  const raw = Buffer.from(`From: bob@remote.example\r\nSubject: big\r\n\r\n${'x'.repeat(4000)}\r\n`);
  await assert.rejects(deliver(envelope, 'team@localhost', raw, 'Q1'), /ENOSPC/);
  const retry = await deliver(envelope, 'team@localhost', raw, 'Q1');
  assert.equal(retry.status, 'ok');
  const notices = queued.filter((e) => e.mailFrom === '');
  assert.equal(notices.length, 1, 'one failure notice for tiny@, however often the alias is tried');
  assert.equal(queued.filter((e) => e.mailFrom !== '').length, 1, 'one copy for the off-site member');
});

test('an alias retried for hours while one member defers: the members that have the message get no second copy', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'spamgate-alias-retry-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const password = await hashPassword('full-password', { N: 1024, r: 8, p: 1 });
  // defaults: mailhost.duplicate_window 1h, queue.retry_max 1h, queue.max_age 5d
  const { config } = loadConfig({
    inline: {
      local_domains: ['localhost'],
      users: { 'postmaster@localhost': { password }, 'full@localhost': { password, quota: 7000 } },
      aliases: { 'team@localhost': ['postmaster@localhost', 'full@localhost'] },
      mailhost: { watch_files: false },
    },
    dataDir,
  });
  const clock = new ManualClock(1_000_000);
  const host = openMailHost({ config, dataDir, clock, log: silentLogger, registry: createRegistry(false), hostname: 'mx.test.example' });
  t.after(() => host.close());
  const sink: MessageSink = { enqueue: () => Promise.resolve({ id: 'n1' }) };
  const deliver = host.deliverLocal(sink);
  const envelope = (rcpt: string): QueueEnvelope => ({ sessionId: 'S1', clientIp: '192.0.2.1', mailFrom: 'bob@remote.example', rcptTo: [rcpt], receivedAt: clock.now() });
  // full@ holds 4000 of its 7000 octets: the next 4000 wait for room (452, retried)
  assert.equal((await deliver(envelope('full@localhost'), 'full@localhost', Buffer.from(`Subject: filler\r\n\r\n${'f'.repeat(4000)}\r\n`), 'Q0')).status, 'ok');
  const raw = Buffer.from(`From: bob@remote.example\r\nSubject: big\r\n\r\n${'x'.repeat(4000)}\r\n`);
  // the queue's retries: 1, 2, 4, … minutes, then every hour (retry_max), for hours
  for (const wait of [0, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000, 3_600_000]) {
    clock.advance(wait);
    assert.equal((await deliver(envelope('team@localhost'), 'team@localhost', raw, 'Q1')).status, 'temp');
  }
  const inbox = path.join(dataDir, 'mail', 'localhost', 'postmaster', 'Maildir', 'new');
  assert.equal(readdirSync(inbox).length, 1, 'postmaster@ has the message once, however long the alias is retried');
});
