// Expiry of an alias some members of which have the message: what the sender hears (NOTIFY=NEVER, the null sender),
// and that a plain recipient still expires as before.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
import type { QueueEnvelope } from '../../../src/queue/types.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const MIN = 60_000;

async function rig(t: TestContext, team: string[] = ['postmaster@localhost', 'full@localhost', 'far@remote.example']) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'spamgate-alias-expiry-review-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const password = await hashPassword('full-password', { N: 1024, r: 8, p: 1 });
  const { config } = loadConfig({
    inline: {
      mode: 'full-stack',
      local_domains: ['localhost'],
      users: { 'postmaster@localhost': { password }, 'full@localhost': { password, quota: 7000 } },
      aliases: { 'team@localhost': team },
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
  const sent: Array<{ rcpts: string[]; from: string; text: string }> = [];
  const attempts: number[] = [];
  const router = createFullStackRouter({
    isLocal: (r) => r.toLowerCase().endsWith('@localhost'),
    deliverLocal: local,
    outbound: {
      deliver: (from, _domain, recipients, message) => {
        if (recipients.includes('slow@remote.example')) {
          // a remote that defers, slowly (the attempt takes a minute)
          attempts.push(clock.now());
          clock.advance(MIN);
          return Promise.resolve(new Map(recipients.map((r): [string, RecipientOutcome] => [r, { status: 'temp', reply: { code: 451, text: 'later' }, destination: 'remote' }])));
        }
        sent.push({ rcpts: [...recipients], from, text: message.toString('utf8') });
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
  assert.equal((await local({ ...base, rcptTo: ['full@localhost'] }, 'full@localhost', Buffer.from(`Subject: filler\r\n\r\n${'f'.repeat(4000)}\r\n`), 'F-full')).status, 'ok');
  const run = async (envelope: QueueEnvelope): Promise<void> => {
    await spool.enqueue({ ...envelope, receivedAt: clock.now() }, Buffer.from(`From: bob@remote.example\r\nSubject: big\r\n\r\n${'x'.repeat(4000)}\r\n`));
    await scheduler.runDue();
    for (let i = 0; i < 100 && scheduler.size() > 0; i++) {
      clock.advance(5 * MIN);
      await scheduler.runDue();
    }
    assert.equal(scheduler.size(), 0, 'the queue is empty');
  };
  const inbox = (u: string): number => readdirSync(path.join(dataDir, 'mail', 'localhost', u, 'Maildir', 'new')).length;
  return { run, sent, base, inbox, attempts, clock };
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
