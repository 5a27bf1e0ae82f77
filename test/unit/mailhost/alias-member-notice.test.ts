// An alias member that fails for good while others have the message: the sender is told once. The notice is queued
// before the copies for off-site members; when queuing such a copy fails the alias is retried, and that retry must
// not queue the notice a second time.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { hashPassword } from '../../../src/mailhost/password.ts';
import { openMailHost } from '../../../src/mailhost/mailhost-setup.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import type { MessageSink, QueueEnvelope } from '../../../src/queue/types.ts';
import { systemClock } from '../../../src/util/clock.ts';
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
