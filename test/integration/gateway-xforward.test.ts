// XFORWARD to the upstream (front-of mode): the next hop learns each message's original client, per
// transaction, on pooled connections; off unless delivery.upstream.xforward is set.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Zones } from '../helpers/dns-server.ts';
import { awaitLog } from '../helpers/await-log.ts';
import { startGateway } from '../helpers/gateway.ts';
import { startSink, type SinkMessage } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

const BODY = 'Subject: x\r\n\r\nbody\r\n';

test('delivery.upstream.xforward: each message reaches the upstream with its own client address, HELO and protocol', async (t) => {
  const sink = await startSink({ xforward: true });
  t.after(() => sink.close());
  const gw = await startGateway(t, {
    mode: 'front-of',
    smtp: { xclient_from: ['127.0.0.1/32'] },
    delivery: { upstream: { host: '127.0.0.1', port: sink.port, xforward: true } },
  });
  const first = await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost'], BODY, 'first.test.example');
  assert.equal(first.data?.code, 250);
  await sink.waitForMessages(1);
  // the sink holds the message before its 250 has reached the gateway: the connection is back in the pool, for the
  // second message to reuse, once the queue has logged the first one done
  await awaitLog(gw, 0, (l) => l.msg === 'message done', 'the first message done');
  // a client presented by XCLIENT, greeting with HELO (not EHLO)
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO proxy.test.example');
  assert.equal((await wire.command('XCLIENT ADDR=192.0.2.7 NAME=client.example.net')).code, 220);
  assert.equal((await wire.command('HELO second+name.test.example')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<b@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command(`${BODY}.`, 10_000)).code, 250);
  await sink.waitForMessages(2);
  const [one, two] = sink.messages;
  assert.equal(one?.xforward.ADDR, '127.0.0.1');
  assert.equal(one?.xforward.HELO, 'first.test.example');
  assert.equal(one?.xforward.PROTO, 'ESMTP');
  assert.equal(one?.xforward.SOURCE, 'REMOTE');
  assert.equal(two?.xforward.ADDR, '192.0.2.7');
  assert.equal(two?.xforward.NAME, 'client.example.net');
  assert.equal(two?.xforward.HELO, 'second+name.test.example', 'xtext-encoded on the wire, decoded by the next hop');
  assert.equal(two?.xforward.PROTO, 'SMTP');
  assert.equal(sink.connectionCount, 1, 'both on one pooled connection');
});

test('without delivery.upstream.xforward nothing is forwarded, even to a next hop that offers XFORWARD', async (t) => {
  const sink = await startSink({ xforward: true });
  t.after(() => sink.close());
  const gw = await startGateway(t, { mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port: sink.port } } });
  assert.equal((await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost'], BODY)).data?.code, 250);
  await sink.waitForMessages(1);
  assert.deepEqual(sink.messages[0]?.xforward, {});
});

/**
 * One message from a client presented by XCLIENT ADDR=`ip` (no NAME), greeting as mail.client.example, through a
 * front-of gateway whose test DNS serves `zones`, to an upstream offering XFORWARD: what the upstream got.
 */
async function relayedForClient(t: TestContext, ip: string, zones: Zones): Promise<SinkMessage | undefined> {
  const sink = await startSink({ xforward: true });
  t.after(() => sink.close());
  const gw = await startGateway(t, {
    mode: 'front-of',
    smtp: { xclient_from: ['127.0.0.1/32'], trusted_networks: [] },
    delivery: { upstream: { host: '127.0.0.1', port: sink.port, xforward: true } },
    // 1 s, under checks.timeout: a loaded machine can take over 300 ms to read the test server's answer
    dns: { timeout: '1s', retries: 0 },
  }, { zones });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO proxy.test.example');
  assert.equal((await wire.command(`XCLIENT ADDR=${ip}`)).code, 220);
  assert.equal((await wire.command('EHLO mail.client.example')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<b@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command(`${BODY}.`, 10_000)).code, 250);
  await sink.waitForMessages(1);
  return sink.messages[0];
}

test('delivery.upstream.xforward: a client with forward-confirmed reverse DNS and no XCLIENT NAME is named to the upstream by that name', async (t) => {
  const got = await relayedForClient(t, '192.0.2.8', { '8.2.0.192.in-addr.arpa': [{ PTR: 'mail.client.example' }], 'mail.client.example': [{ A: '192.0.2.8' }] });
  assert.match(got?.raw.toString('latin1') ?? '', /^Received: from mail\.client\.example \(mail\.client\.example \[192\.0\.2\.8\]\)/m);
  // as the Received field names it: Postfix then logs orig_client=mail.client.example[192.0.2.8], not unknown[…]
  assert.equal(got?.xforward.ADDR, '192.0.2.8');
  assert.equal(got?.xforward.NAME, 'mail.client.example');
});

test('a forward-confirmed PTR answer that is no host name (a space, CR LF) names the client nowhere: not in Received, not to the upstream', async (t) => {
  const hostile = 'mail\r\nX-Injected: yes client.example';
  const got = await relayedForClient(t, '192.0.2.9', { '9.2.0.192.in-addr.arpa': [{ PTR: hostile }], [hostile]: [{ A: '192.0.2.9' }] });
  const raw = got?.raw.toString('latin1') ?? '';
  assert.match(raw, /RDNS_FCRDNS_PASS\(/, 'the hostile name is confirmed forward (the case under test)');
  assert.match(raw, /^Received: from mail\.client\.example \(\[192\.0\.2\.9\]\)/m);
  assert.equal(got?.xforward.NAME ?? '', '', 'NAME=[UNAVAILABLE] (smtp-server keeps it as empty)');
});
