// A Sieve reject of spam by one member of an alias whose other member defers: the alias is tried again and again,
// and the reject's suppressed notice is counted once (spamgate_notices_suppressed_total counts notices, not attempts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openMailHost } from '../../../src/mailhost/mailhost-setup.ts';
import { writeSieveScript } from '../../../src/mailhost/sieve-scripts.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import type { MessageSink, QueueEnvelope } from '../../../src/queue/types.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { aliasConfig, aliasDataDir, bigMessage, bobTo, filler, TEAM_FULL } from '../../helpers/alias-mailhost.ts';

test('a spam Sieve reject in an alias retried for a deferring member is counted once', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-spam-reject-count-');
  writeSieveScript(dataDir, 'postmaster@localhost', 'require "reject";\nreject "no thanks";\n');
  const clock = new ManualClock(1_000_000);
  const registry = createRegistry(false);
  const host = openMailHost({ config: aliasConfig(dataDir, password, TEAM_FULL), dataDir, clock, log: silentLogger, registry, hostname: 'mx.test.example' });
  t.after(() => host.close());
  const sink: MessageSink = { enqueue: () => Promise.resolve({ id: 'n1' }) };
  const deliver = host.deliverLocal(sink);
  const ham: QueueEnvelope = bobTo(['full@localhost'], clock.now());
  assert.equal((await deliver(ham, 'full@localhost', filler(), 'Q0')).status, 'ok');
  const spam: QueueEnvelope = { ...bobTo(['team@localhost'], clock.now()), verdict: { action: 'junk', score: 7, junkRecipients: ['team@localhost'] } };
  for (let i = 0; i < 3; i++) {
    assert.equal((await deliver(spam, 'team@localhost', bigMessage(), 'Q1')).status, 'temp', 'full@ defers');
    clock.advance(60_000);
  }
  assert.match(await registry.metrics(), /^spamgate_notices_suppressed_total\{notice="sieve_reject"\} 1$/m);
});
