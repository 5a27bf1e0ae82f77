// The queue's log line that ends a message: bounded whatever the next hop replied; the expiry notice's lifetime text.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createRegistry } from '../../../src/metrics/registry.ts';
import type { RecipientOutcome, Router } from '../../../src/queue/router.ts';
import { createScheduler, lifetimeText } from '../../../src/queue/scheduler.ts';
import { openSpool } from '../../../src/queue/spool.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { capturingLogger, envelope, message, queueConfig, T0, tempDir } from './helpers.ts';

test('"message done" stays bounded when the next hop answers with a huge reply for many recipients', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const { lines, log } = capturingLogger();
  const spool = await openSpool({ dir: path.join(dir, 'spool'), fsync: false, clock, registry, log: silentLogger });
  // a remote-controlled reply: one long line (the reply reader takes up to about a megabyte), CR/LF inside its text
  const huge = `queued as X ${'A'.repeat(200_000)}\r\nInjected: line`;
  const router: Router = {
    route: async (job) => new Map(job.recipients.map((r): [string, RecipientOutcome] => [r, r.startsWith('bad') ? { status: 'perm', reply: { code: 550, enhanced: '5.1.1', text: huge }, destination: 'remote', remoteMta: 'mx.dest.test' } : { status: 'delivered', reply: { code: 250, enhanced: '2.0.0', text: huge }, destination: 'remote', remoteMta: 'mx.dest.test' }])),
    close: async () => undefined,
  };
  const scheduler = createScheduler({ spool, router, config: queueConfig(), clock, registry, log, hostname: 'gw.test' });
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop(2000);
    await spool.close();
  });
  const rcpts = [...Array.from({ length: 40 }, (_, i) => `r${i}@dest.test`), 'bad@dest.test'];
  await spool.enqueue(envelope({ mailFrom: '', rcptTo: rcpts }), message('many'));
  await scheduler.runDue();
  const done = lines.find((l) => l.includes('"message done"'));
  assert.ok(done, 'no "message done" line');
  assert.equal(done.split('\n').filter(Boolean).length, 1, 'one line');
  assert.ok(done.length < 64 * 1024, `the line is ${done.length} characters`);
  const parsed = JSON.parse(done) as { relays?: Record<string, string>; failures?: Record<string, string> };
  assert.match(parsed.relays?.['r0@dest.test'] ?? '', /^mx\.dest\.test: 250 2\.0\.0 queued as X A+/);
  assert.doesNotMatch(parsed.relays?.['r0@dest.test'] ?? '', /[\r\n]/, 'no line break of the remote in the field');
  assert.match(parsed.failures?.['bad@dest.test'] ?? '', /^550 5\.1\.1 queued as X A+/);
});

test('the expiry notice states queue.max_age exactly, below a second and with fractions of one too', () => {
  assert.equal(lifetimeText(5 * 86_400_000), '5d');
  assert.equal(lifetimeText(36 * 3_600_000), '36h');
  assert.equal(lifetimeText(90 * 60_000), '90m');
  assert.equal(lifetimeText(70_000), '70s');
  // were "2s", "0s" and "91s"
  assert.equal(lifetimeText(1500), '1500ms');
  assert.equal(lifetimeText(400), '400ms');
  assert.equal(lifetimeText(90_500), '90500ms');
  assert.equal(lifetimeText(0), '0s');
});
