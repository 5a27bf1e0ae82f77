// spamgate's X-Spamgate-* namespace: a field a message arrives with is taken for forged whatever its name or case
// (and Authentication-Results in our name whatever the case of its field name, as the milter passes it); our own
// outgoing mail loses the fields on the copies for other domains, received mail keeps them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byCopy, createUpstreamRouter } from '../../../src/queue/upstream-router.ts';
import { messageForRemote, withoutSpamgateFields } from '../../../src/queue/outgoing-fields.ts';
import { isForgedOwnHeader } from '../../../src/smtp/data-judge.ts';
import path from 'node:path';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { createScheduler } from '../../../src/queue/scheduler.ts';
import { openSpool } from '../../../src/queue/spool.ts';
import { readStateFile, stateFile } from '../../../src/queue/spool-format.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { startSink } from '../../helpers/sink-server.ts';
import { envelope, queueConfig, T0, tempDir } from './helpers.ts';

const MESSAGE = Buffer.from('X-Spamgate-Result: accept; score=0.00; id=abc\r\n\tBAYES_HAM(-1.00)[p=0.01]\r\nX-Spamgate-Reputation: ip=1.2.3.0/24; seal=x\r\nReceived: from a by b; Mon, 7 Dec 2026 00:00:00 +0000\r\nSubject: hi\r\n\r\nX-Spamgate-Result: in the body stays\r\n');

test('isForgedOwnHeader: any X-Spamgate-* name in any case, and Authentication-Results in our name in any case', () => {
  for (const name of ['X-Spamgate-Result', 'x-spamgate-verdict', 'X-SPAMGATE-Queue-ID', 'X-Spamgate-Released']) assert.equal(isForgedOwnHeader(name, 'ham', 'mx.example'), true, name);
  assert.equal(isForgedOwnHeader('X-Spamgatekeeper', 'ham', 'mx.example'), false);
  assert.equal(isForgedOwnHeader('X-Spam-Flag', 'NO', 'mx.example'), false);
  assert.equal(isForgedOwnHeader('Authentication-Results', 'mx.example; spf=pass', 'mx.example'), true);
  assert.equal(isForgedOwnHeader('Authentication-Results', 'other.example; spf=pass', 'mx.example'), false);
});

test('isForgedOwnHeader: a name with blanks before the colon (RFC 5322 §4.5.3 obsolete syntax), as an MTA may pass it to the milter', () => {
  // a downstream reader takes "Authentication-Results :" for the field itself: one in our name is forged as well
  assert.equal(isForgedOwnHeader('Authentication-Results ', 'mx.example; dkim=pass', 'mx.example'), true);
  assert.equal(isForgedOwnHeader('AUTHENTICATION-RESULTS\t', ' mx.example; dmarc=pass', 'mx.example'), true);
  assert.equal(isForgedOwnHeader('X-Spamgate-Result ', 'ham', 'mx.example'), true);
  assert.equal(isForgedOwnHeader('Authentication-Results ', 'other.example; spf=pass', 'mx.example'), false);
});

test('withoutSpamgateFields: the fields go, folded lines with them; other fields and the body stay; none: the same buffer', () => {
  const out = withoutSpamgateFields(MESSAGE).toString('latin1');
  assert.equal(out, 'Received: from a by b; Mon, 7 Dec 2026 00:00:00 +0000\r\nSubject: hi\r\n\r\nX-Spamgate-Result: in the body stays\r\n');
  const plain = Buffer.from('Subject: hi\r\n\r\nbody\r\n');
  assert.equal(withoutSpamgateFields(plain), plain);
});

test('messageForRemote: only our own outgoing mail loses the fields', () => {
  assert.equal(messageForRemote({}, MESSAGE), MESSAGE);
  assert.equal(messageForRemote({ outgoing: false }, MESSAGE), MESSAGE);
  assert.doesNotMatch(messageForRemote({ outgoing: true }, MESSAGE).toString('latin1').split('\r\n\r\n')[0] ?? '', /x-spamgate/i);
});

test('byCopy (front-of): outgoing mail in two copies, ours with the fields; received mail one copy; no isLocal: all stripped', () => {
  const isLocal = (r: string): boolean => r.endsWith('@example.org');
  const rcpts = ['a@remote.example', 'b@example.org'];
  const outgoing = byCopy({ isLocal }, { envelope: envelope({ rcptTo: rcpts, outgoing: true }), message: MESSAGE }, rcpts);
  assert.equal(outgoing.length, 2);
  assert.deepEqual(outgoing[0]?.[1], ['b@example.org']);
  assert.equal(outgoing[0]?.[0], MESSAGE);
  assert.deepEqual(outgoing[1]?.[1], ['a@remote.example']);
  assert.doesNotMatch(outgoing[1]?.[0].toString('latin1').split('\r\n\r\n')[0] ?? '', /^x-spamgate/im);
  const received = byCopy({ isLocal }, { envelope: envelope({ rcptTo: rcpts }), message: MESSAGE }, rcpts);
  assert.deepEqual(received, [[MESSAGE, rcpts]]);
  const noLocal = byCopy({}, { envelope: envelope({ rcptTo: rcpts, outgoing: true }), message: MESSAGE }, rcpts);
  assert.equal(noLocal.length, 1);
  assert.deepEqual(noLocal[0]?.[1], rcpts);
  assert.notEqual(noLocal[0]?.[0], MESSAGE);
});

test('front-of split: the local copy deferred, the remote one taken: the retry sends only the local recipient, with the fields; each gets one copy', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const sink = await startSink();
  t.after(() => sink.close());
  const spool = await openSpool({ dir: path.join(dir, 'spool'), fsync: true, clock, registry, log: silentLogger });
  const upstream = { host: sink.host, port: sink.port, protocol: 'smtp' as const, max_connections: 2, timeout: 5000, data_timeout: 10000, starttls: false, tls_verify: false, xforward: false };
  const router = createUpstreamRouter({ upstream, hostname: 'gw.test', log: silentLogger, isLocal: (r) => r.endsWith('@example.org') });
  const scheduler = createScheduler({ spool, router, config: queueConfig(), clock, registry, log: silentLogger, hostname: 'gw.test' });
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop(2000);
    await router.close();
    await spool.close();
  });
  // the first transaction (ours, with the fields) is put off after the data; the second (the other domain's) is taken
  sink.rule({ stage: 'data', code: 451, text: 'try later', times: 1 });
  const { id } = await spool.enqueue(envelope({ rcptTo: ['a@remote.example', 'b@example.org'], outgoing: true }), MESSAGE);
  await scheduler.runDue();
  const st = await readStateFile(stateFile(spool.paths, id));
  assert.equal(st?.recipients['b@example.org']?.status, 'pending');
  assert.equal(st?.recipients['a@remote.example']?.status, 'delivered');
  assert.equal(sink.messages.length, 1);
  assert.doesNotMatch(sink.messages[0]?.raw.toString('latin1').split('\r\n\r\n')[0] ?? '', /^x-spamgate-/im);
  clock.advance((st?.nextAttemptAt ?? 0) - clock.now());
  await scheduler.runDue();
  assert.equal(sink.messages.length, 2);
  assert.deepEqual(sink.messages[1]?.rcptTo, ['b@example.org']);
  assert.match(sink.messages[1]?.raw.toString('latin1') ?? '', /^X-Spamgate-Result: accept/m);
  assert.equal(scheduler.size(), 0);
});
