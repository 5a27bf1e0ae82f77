// Delivery scheduler against a real upstream sink: retries on an injected clock, per-recipient
// results, DSN bounces and delay warnings, LMTP, upstream outage, byte-exact delivery.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import PostalMime from 'postal-mime';
import { retryDelay } from '../../../src/queue/scheduler.ts';
import { readStateFile, stateFile } from '../../../src/queue/spool-format.ts';
import { envelope, message, metricValue, queueConfig, queueRig, T0, type QueueRig } from './helpers.ts';

const MIN = 60_000;

test('retryDelay grows by the factor and is capped at retry_max', () => {
  const cfg = queueConfig({ retry_initial: '1m', retry_factor: 2, retry_max: '10m' });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelay(cfg, n) / MIN), [1, 2, 4, 8, 10, 10]);
});

test('fresh mail goes out at once (wake on enqueue), and the queue empties', async (t) => {
  const rig = await queueRig(t);
  const { id } = await rig.spool.enqueue(envelope(), message('wake'));
  await rig.sink.waitForMessages(1, 5000);
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 0);
  assert.equal(await readStateFile(stateFile(rig.spool.paths, id)), undefined);
  assert.equal(await metricValue(rig.registry, 'spamgate_delivery_attempts_total', { result: 'delivered', destination: 'upstream' }), 1);
});

test('4xx is retried on the backoff schedule, then delivered exactly once', async (t) => {
  const rig = await queueRig(t);
  rig.sink.rule({ stage: 'data', code: 451, text: 'try later', times: 3 });
  const { id } = await rig.spool.enqueue(envelope(), message('retry'));
  await rig.scheduler.runDue();
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    const st = await readStateFile(stateFile(rig.spool.paths, id));
    assert.ok(st);
    assert.equal(st.attempts, i + 1);
    assert.equal(st.recipients['rcpt@dest.test']?.status, 'pending');
    assert.match(st.lastError ?? '', /451/);
    seen.push((st.nextAttemptAt - rig.clock.now()) / MIN);
    // Not due yet: nothing happens.
    rig.clock.advance(st.nextAttemptAt - rig.clock.now() - 1);
    await rig.scheduler.runDue();
    assert.equal((await readStateFile(stateFile(rig.spool.paths, id)))?.attempts, i + 1);
    rig.clock.advance(1);
    await rig.scheduler.runDue();
  }
  assert.deepEqual(seen, [1, 2, 4]);
  assert.equal(rig.sink.messages.length, 1);
  assert.equal(rig.scheduler.size(), 0);
  assert.equal(await metricValue(rig.registry, 'spamgate_delivery_attempts_total', { result: 'deferred', destination: 'upstream' }), 3);
});

async function parseDsn(raw: Buffer) {
  const parsed = await PostalMime.parse(raw);
  const text = raw.toString('latin1');
  return { parsed, text };
}

test('5xx for one recipient: the others are delivered, the sender gets one RFC 3464 bounce', async (t) => {
  const rig = await queueRig(t);
  rig.sink.rule({ stage: 'rcpt', rcpt: 'bad@dest.test', code: 550, text: '5.1.1 no such user' });
  const original = message('mixed');
  await rig.spool.enqueue(envelope({ rcptTo: ['good@dest.test', 'bad@dest.test', 'also@dest.test'] }), original);
  await rig.scheduler.runDue();
  await rig.sink.waitForMessages(2);
  const [delivered, bounce] = rig.sink.messages;
  assert.ok(delivered && bounce);
  assert.deepEqual(delivered.rcptTo, ['good@dest.test', 'also@dest.test']);
  assert.equal(bounce.mailFrom, '', 'bounces have a null reverse path');
  assert.deepEqual(bounce.rcptTo, ['sender@origin.test']);
  const { text } = await parseDsn(bounce.raw);
  assert.match(text, /^Content-Type: multipart\/report; report-type=delivery-status; boundary=/m);
  assert.match(text, /^Content-Type: message\/delivery-status/m);
  assert.match(text, /^Content-Type: text\/rfc822-headers/m);
  assert.match(text, /^Reporting-MTA: dns; gw\.test$/m);
  assert.match(text, /^Final-Recipient: rfc822; bad@dest\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\n/m);
  assert.match(text, /^Diagnostic-Code: smtp; 550 5\.1\.1 no such user$/m);
  assert.doesNotMatch(text, /Final-Recipient: rfc822; good@/);
  assert.match(text, /^Subject: mixed$/m, 'original headers attached');
  assert.match(text, /^Auto-Submitted: auto-replied$/m);
  assert.equal(rig.scheduler.size(), 0);
  assert.equal(await metricValue(rig.registry, 'spamgate_bounces_total', { kind: 'failure' }), 1);
  assert.equal(await metricValue(rig.registry, 'spamgate_delivery_attempts_total', { result: 'failed', destination: 'upstream' }), 1);
});

test('a failed message from the null sender is never bounced', async (t) => {
  const rig = await queueRig(t);
  rig.sink.rule({ stage: 'rcpt', code: 550 });
  await rig.spool.enqueue(envelope({ mailFrom: '' }), message('null'));
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 0);
  assert.equal(rig.sink.messages.length, 0);
  assert.equal(await metricValue(rig.registry, 'spamgate_bounces_total', { kind: 'failure' }), 0);
});

/** A message to a recipient the sink keeps answering 451: the clock walked by 20 minutes a step (bounded) until it expired. */
async function expireBusyRecipient(t: TestContext, queue: Record<string, unknown>): Promise<QueueRig> {
  const rig = await queueRig(t, { queue });
  rig.sink.rule({ stage: 'rcpt', rcpt: 'slow@dest.test', code: 451, text: '4.2.0 busy' });
  await rig.spool.enqueue(envelope({ rcptTo: ['slow@dest.test'] }), message('slow'));
  await rig.scheduler.runDue();
  for (let i = 0; i < 20 && rig.scheduler.size() > 0; i++) {
    rig.clock.advance(20 * MIN);
    await rig.scheduler.runDue();
  }
  assert.equal(rig.scheduler.size(), 0);
  return rig;
}

test('delay warning once after delay_warning, then expiry after max_age bounces the rest', async (t) => {
  const rig = await expireBusyRecipient(t, { delay_warning: '30m', max_age: '2h', retry_max: '20m' });
  await rig.sink.waitForMessages(2);
  const [warning, bounce] = rig.sink.messages.map((m) => m.raw.toString('latin1'));
  assert.ok(warning && bounce);
  assert.match(warning, /^Action: delayed$/m);
  assert.match(warning, /^Status: 4\.2\.0$/m);
  assert.match(warning, /^Will-Retry-Until: /m);
  assert.match(bounce, /^Action: failed$/m);
  assert.match(bounce, /^Status: 4\.4\.7$/m);
  assert.match(bounce, /expired/);
  assert.match(warning, /^Remote-MTA: /m, 'the warning quotes the remote\'s own reply');
  assert.doesNotMatch(bounce, /^Remote-MTA: /m, 'the expiry reply is ours: it names no remote MTA (RFC 3464 §2.3.5)');
  assert.match(bounce, /last error: 451 (4\.2\.0 )?busy/);
  assert.equal(rig.sink.messages.length, 2, 'one warning, one bounce');
  assert.equal(await metricValue(rig.registry, 'spamgate_bounces_total', { kind: 'delay' }), 1);
  assert.ok(rig.clock.now() - T0 >= 2 * 60 * MIN);
});

test('the expiry notice states queue.max_age as configured and the last reply whole', async (t) => {
  const rig = await expireBusyRecipient(t, { delay_warning: '1d', max_age: '90m', retry_max: '20m' });
  await rig.sink.waitForMessages(1);
  const bounce = rig.sink.messages[0]?.raw.toString('latin1') ?? '';
  // was "after 2h" (hours rounded) and "451 busy" (the enhanced code dropped)
  assert.match(bounce, /message expired after 90m in queue; last error: 451 4\.2\.0 busy/);
});

test('LMTP: one reply per recipient after DATA (RFC 2033 §4.2)', async (t) => {
  const rig = await queueRig(t, { sink: { lmtp: true } });
  rig.sink.rule({ stage: 'data', rcpt: 'full@dest.test', code: 552, text: '5.2.2 mailbox full' });
  rig.sink.rule({ stage: 'data', rcpt: 'later@dest.test', code: 452, text: '4.3.1 later', times: 1 });
  const { id } = await rig.spool.enqueue(envelope({ rcptTo: ['a@dest.test', 'full@dest.test', 'later@dest.test'] }), message('lmtp'));
  await rig.scheduler.runDue();
  const st = await readStateFile(stateFile(rig.spool.paths, id));
  assert.equal(st?.recipients['a@dest.test']?.status, 'delivered');
  assert.equal(st?.recipients['full@dest.test']?.status, 'failed');
  assert.equal(st?.recipients['later@dest.test']?.status, 'pending');
  rig.clock.advance(MIN);
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 0);
  const deliveries = rig.sink.messages.filter((m) => m.mailFrom !== '');
  assert.deepEqual(deliveries.map((m) => m.rcptTo), [['a@dest.test'], ['later@dest.test']]);
  const bounce = rig.sink.messages.find((m) => m.mailFrom === '');
  assert.match(bounce?.raw.toString('latin1') ?? '', /Final-Recipient: rfc822; full@dest\.test\r\nAction: failed\r\nStatus: 5\.2\.2/);
});

test('upstream down then up: every message delivered once, none lost', async (t) => {
  const rig = await queueRig(t);
  await rig.sink.down();
  for (let i = 0; i < 5; i++) await rig.spool.enqueue(envelope(), message(`down${i}`));
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 5);
  await rig.sink.up();
  rig.clock.advance(MIN);
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 0);
  const subjects = rig.sink.messages.map((m) => /Subject: (\S+)/.exec(m.raw.toString())?.[1]).sort();
  assert.deepEqual(subjects, ['down0', 'down1', 'down2', 'down3', 'down4']);
});

test('bytes are delivered exactly: 8-bit, leading dots, dot-only lines', async (t) => {
  const rig = await queueRig(t);
  const body = Buffer.concat([
    Buffer.from('.leading dot\r\n..two dots\r\n.\r\nmid . dot\r\n', 'latin1'),
    Buffer.from([0xc3, 0xa9, 0xff, 0x00, 0x80, 0x0d, 0x0a]),
    Buffer.from('last line without dot\r\n.', 'latin1'),
    Buffer.from('\r\n', 'latin1'),
  ]);
  const raw = Buffer.concat([Buffer.from('Subject: bytes\r\n\r\n'), body]);
  await rig.spool.enqueue(envelope(), raw);
  await rig.sink.waitForMessages(1);
  assert.ok(rig.sink.messages[0]?.raw.equals(raw), 'identical bytes');
});

test('connections to the upstream are reused across messages', async (t) => {
  const rig = await queueRig(t);
  for (let i = 0; i < 12; i++) await rig.spool.enqueue(envelope(), message(`reuse${i}`));
  await rig.sink.waitForMessages(12);
  await rig.scheduler.runDue();
  assert.ok(rig.sink.connectionCount <= 2, `at most max_connections (2), got ${rig.sink.connectionCount}`);
});

test('queue metrics: depth and oldest age follow the queue', async (t) => {
  const rig = await queueRig(t);
  await rig.sink.down();
  await rig.spool.enqueue(envelope(), message('m1'));
  await rig.scheduler.runDue();
  rig.clock.advance(30_000);
  await rig.scheduler.runDue();
  assert.equal(await metricValue(rig.registry, 'spamgate_queue_depth'), 1);
  assert.equal(await metricValue(rig.registry, 'spamgate_queue_oldest_age_seconds'), 30);
  assert.equal(await metricValue(rig.registry, 'spamgate_queue_enqueued_total'), 1);
});
