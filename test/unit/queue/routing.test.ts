// Full-stack routing (local function + MX delivery) and inline forwarding (the DATA reply is the upstream's).
import assert from 'node:assert/strict';
import net from 'node:net';
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
  const fwd = createInlineForwarder({ upstream: { host: sink.host, port: sink.port, protocol: 'smtp', max_connections: 2, timeout: 5000, data_timeout: 10000, starttls: false, tls_verify: false, xforward: false }, hostname: 'gw.test', log: silentLogger, bounces });
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
  const router = createUpstreamRouter({ upstream: { host: sink.host, port: sink.port, protocol: 'smtp', max_connections: 1, timeout: 5000, data_timeout: 10000, starttls: false, tls_verify: false, xforward: false }, hostname: 'gw.test', log: silentLogger });
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

test('upstream: a slow reply to the end of the data is waited for (delivery.upstream.data_timeout), not taken for a failure and sent again', async (t) => {
  // An upstream that takes longer than twice the command timeout over the message (a content filter) accepted it
  // after spamgate had given up: every retry delivered another copy.
  const sockets = new Set<net.Socket>();
  let dataEnds = 0;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.write('220 slow ESMTP\r\n');
    let buf = '';
    let inData = false;
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line !== '.') continue;
          inData = false;
          dataEnds++;
          setTimeout(() => sock.write('250 2.0.0 queued\r\n'), 1500);
        } else if (/^EHLO/i.test(line)) sock.write('250-slow\r\n250 ENHANCEDSTATUSCODES\r\n');
        else if (/^(MAIL|RCPT|RSET)/i.test(line)) sock.write('250 2.0.0 ok\r\n');
        else if (line === 'DATA') {
          inData = true;
          sock.write('354 go on\r\n');
        } else if (line === 'QUIT') sock.end('221 bye\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const router = createUpstreamRouter({ upstream: configSchema.parse({ mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port, timeout: '500ms' } } }).delivery.upstream!, hostname: 'gw.test', log: silentLogger });
  t.after(() => router.close());
  const res = await router.route({ id: 'slow', envelope: envelope({ rcptTo: ['a@up.test'] }), recipients: ['a@up.test'], message: message('slow') });
  assert.equal(res.get('a@up.test')?.status, 'delivered');
  assert.equal(dataEnds, 1);
});
