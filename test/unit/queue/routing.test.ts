// Full-stack routing (local function + MX delivery) and inline forwarding (the DATA reply is the upstream's).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { createOutbound } from '../../../src/mailhost/outbound.ts';
import { createInlineForwarder } from '../../../src/queue/inline.ts';
import { createUpstreamRouter } from '../../../src/queue/upstream-router.ts';
import { createFullStackRouter, domainOf, type DeliverLocal } from '../../../src/queue/router.ts';
import type { MessageSink, QueueEnvelope } from '../../../src/queue/types.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { createZoneResolver } from '../../helpers/dns-server.ts';
import { startSink } from '../../helpers/sink-server.ts';
import { envelope, message } from './helpers.ts';

test('full-stack router: local recipients to deliverLocal, remote ones to their MX', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const resolver = createZoneResolver({ 'remote.test': [{ MX: [10, 'mx.remote.test'] }], 'mx.remote.test': [{ A: '127.0.0.1' }] });
  const outbound = createOutbound({ resolver, config: configSchema.parse({ outbound: { port: sink.port } }).outbound, hostname: 'gw.test', log: silentLogger });
  const local: string[] = [];
  const deliverLocal: DeliverLocal = async (_env, rcpt) => {
    local.push(rcpt);
    if (rcpt.startsWith('full')) return { status: 'temp', reply: { code: 452, enhanced: '4.2.2', text: 'mailbox full' } };
    if (rcpt.startsWith('gone')) return { status: 'perm', reply: { code: 550, enhanced: '5.1.1', text: 'no such user' } };
    return { status: 'ok' };
  };
  const router = createFullStackRouter({ deliverLocal, isLocal: (r) => domainOf(r) === 'local.test', outbound });
  t.after(() => router.close());
  const rcpts = ['me@local.test', 'full@local.test', 'gone@local.test', 'you@remote.test'];
  const res = await router.route({ id: 'q1', envelope: envelope({ rcptTo: rcpts }), recipients: rcpts, message: message('fs') });
  assert.deepEqual(local.sort(), ['full@local.test', 'gone@local.test', 'me@local.test']);
  assert.deepEqual(
    rcpts.map((r) => [res.get(r)?.status, res.get(r)?.destination]),
    [['delivered', 'local'], ['temp', 'local'], ['perm', 'local'], ['delivered', 'remote']],
  );
  assert.deepEqual(sink.messages[0]?.rcptTo, ['you@remote.test']);
});

test('inline: the client gets the upstream reply; partial 5xx is bounced, 4xx asks for a retry', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const bounced: QueueEnvelope[] = [];
  const bounces: MessageSink = { enqueue: async (env) => (bounced.push(env), { id: 'b1' }) };
  const fwd = createInlineForwarder({ upstream: { host: sink.host, port: sink.port, protocol: 'smtp', max_connections: 2, timeout: 5000, starttls: false, xforward: false }, hostname: 'gw.test', log: silentLogger, bounces });
  t.after(() => fwd.close());

  const ok = await fwd.forward(envelope(), message('inline1'));
  assert.equal(ok.code, 250);
  assert.match(ok.text, /queued as sink-1/);

  sink.rule({ stage: 'data', code: 554, text: '5.7.1 rejected by policy', times: 1 });
  const refused = await fwd.forward(envelope(), message('inline2'));
  assert.deepEqual([refused.code, refused.enhanced], [554, '5.7.1']);

  sink.rule({ stage: 'rcpt', rcpt: 'bad@dest.test', code: 550, text: '5.1.1 unknown', times: 1 });
  const partial = await fwd.forward(envelope({ rcptTo: ['rcpt@dest.test', 'bad@dest.test'] }), message('inline3'));
  assert.equal(partial.code, 250);
  assert.deepEqual(bounced.map((b) => [b.mailFrom, b.rcptTo]), [['', ['sender@origin.test']]]);

  sink.rule({ stage: 'rcpt', rcpt: 'later@dest.test', code: 450, text: '4.2.1 later', times: 1 });
  const deferred = await fwd.forward(envelope({ rcptTo: ['rcpt@dest.test', 'later@dest.test'] }), message('inline4'));
  assert.equal(deferred.code, 450);

  await sink.down();
  const down = await fwd.forward(envelope(), message('inline5'));
  assert.deepEqual([down.code, down.enhanced], [451, '4.4.1']);
});

test('upstream: recipients put off with 452 after others were taken go in a new transaction at once (RFC 5321 §4.5.3.1.10)', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  // an upstream whose recipient limit is 2: the 3rd and 4th get 452 4.5.3 the first time
  for (const rcpt of ['c@up.test', 'd@up.test']) sink.rule({ stage: 'rcpt', rcpt, code: 452, text: '4.5.3 Error: too many recipients', times: 1 });
  const router = createUpstreamRouter({ upstream: { host: sink.host, port: sink.port, protocol: 'smtp', max_connections: 1, timeout: 5000, starttls: false, xforward: false }, hostname: 'gw.test', log: silentLogger });
  t.after(() => router.close());
  const rcpts = ['a@up.test', 'b@up.test', 'c@up.test', 'd@up.test'];
  const res = await router.route({ id: 'q452', envelope: envelope({ rcptTo: rcpts }), recipients: rcpts, message: message('452') });
  assert.deepEqual(rcpts.map((r) => res.get(r)?.status), ['delivered', 'delivered', 'delivered', 'delivered']);
  assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['a@up.test', 'b@up.test'], ['c@up.test', 'd@up.test']]);
  // nobody taken: no second round, the 452 stays temporary for the queue's retry
  sink.rule({ stage: 'rcpt', code: 452, text: '4.5.3 Error: too many recipients', times: 1 });
  const none = await router.route({ id: 'q452b', envelope: envelope({ rcptTo: ['e@up.test'] }), recipients: ['e@up.test'], message: message('452b') });
  assert.equal(none.get('e@up.test')?.status, 'temp');
  assert.equal(sink.messages.length, 2);
});
