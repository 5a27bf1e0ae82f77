// XFORWARD from a before-queue proxy in front of spamgate: from an smtp.xclient_from peer the forwarded
// client is the one checked, logged and named in Received; from anyone else the command is not offered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { startSink } from '../helpers/sink-server.ts';
import { SmtpWire } from '../helpers/smtp-wire.ts';

test('XFORWARD from a proxy in smtp.xclient_from: checks, the transaction log and Received name the original client', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, { mode: 'front-of', smtp: { trusted_networks: [], xclient_from: ['127.0.0.1/32'] }, delivery: { upstream: { host: '127.0.0.1', port: sink.port } } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  const ehlo = await wire.command('EHLO proxy.test.example');
  assert.ok(ehlo.lines.some((l) => /^XFORWARD\b/.test(l.slice(4))), ehlo.lines.join('|'));
  assert.equal((await wire.command('XFORWARD NAME=client.example.net ADDR=192.0.2.7 PORT=40000 PROTO=ESMTP HELO=orig.example.net SOURCE=REMOTE')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: x\r\n\r\nbody\r\n.', 10_000)).code, 250);
  await sink.waitForMessages(1);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /Received: from orig\.example\.net \(client\.example\.net \[192\.0\.2\.7\]\)/);
  const tx = gw.transactions().at(-1);
  assert.equal(tx?.client_ip, '192.0.2.7');
  assert.equal(tx?.helo, 'orig.example.net');
});

test('XFORWARD is neither offered to nor taken from a peer outside smtp.xclient_from', async (t) => {
  const gw = await startGateway(t, { smtp: { xclient_from: ['192.0.2.0/24'] } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  const ehlo = await wire.command('EHLO client.test.example');
  assert.ok(!ehlo.lines.some((l) => /^XFORWARD\b/.test(l.slice(4))), ehlo.lines.join('|'));
  assert.ok((await wire.command('XFORWARD ADDR=192.0.2.7')).code >= 500);
});

test('XFORWARD HELO=[UNAVAILABLE] (the original client gave no HELO) does not undo the session\'s EHLO: MAIL goes on', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, { mode: 'front-of', smtp: { trusted_networks: [], xclient_from: ['127.0.0.1/32'] }, delivery: { upstream: { host: '127.0.0.1', port: sink.port } } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO proxy.test.example');
  assert.equal((await wire.command('XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7 PORT=40000 PROTO=SMTP HELO=[UNAVAILABLE] SOURCE=REMOTE')).code, 250);
  const mail = await wire.command('MAIL FROM:<a@remote.example>');
  assert.equal(mail.code, 250, mail.text);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: x\r\n\r\nbody\r\n.', 10_000)).code, 250);
  assert.equal(gw.transactions().at(-1)?.client_ip, '192.0.2.7');
});

test('XFORWARD names the client of one transaction: the next one, without XFORWARD or with ADDR=[UNAVAILABLE], is the proxy\'s', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  // The proxy is trusted (may relay); the forwarded client is not.
  const gw = await startGateway(t, { mode: 'front-of', smtp: { trusted_networks: ['127.0.0.0/8'], xclient_from: ['127.0.0.1/32'] }, delivery: { upstream: { host: '127.0.0.1', port: sink.port } } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO proxy.test.example');
  const relay = async (): Promise<number> => {
    assert.equal((await wire.command('MAIL FROM:<a@localhost>')).code, 250);
    const code = (await wire.command('RCPT TO:<x@elsewhere.example>')).code;
    assert.equal((await wire.command('RSET')).code, 250);
    return code;
  };
  assert.equal((await wire.command('XFORWARD NAME=client.example.net ADDR=192.0.2.7 HELO=orig.example.net')).code, 250);
  assert.equal(await relay(), 554, 'the forwarded outside client may not relay');
  assert.equal(await relay(), 250, 'the next transaction is the trusted proxy\'s again');
  assert.equal((await wire.command('XFORWARD ADDR=192.0.2.7')).code, 250);
  assert.equal(await relay(), 554);
  assert.equal((await wire.command('XFORWARD NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE] HELO=[UNAVAILABLE] SOURCE=LOCAL')).code, 250);
  assert.equal(await relay(), 250, 'ADDR=[UNAVAILABLE]: mail of the proxy\'s own host');
  // Delivered after an XFORWARD transaction, a message from the proxy itself is written as the proxy's in Received.
  assert.equal((await wire.command('XFORWARD NAME=client.example.net ADDR=192.0.2.7 HELO=orig.example.net')).code, 250);
  assert.equal(await relay(), 554);
  assert.equal((await wire.command('MAIL FROM:<a@localhost>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: x\r\n\r\nbody\r\n.', 10_000)).code, 250);
  await sink.waitForMessages(1);
  const received = /^Received: from [^\r\n]*/m.exec(sink.messages[0]?.raw.toString('latin1') ?? '')?.[0] ?? '';
  assert.match(received, /^Received: from proxy\.test\.example \(.*\[127\.0\.0\.1\]\)/, received);
  assert.doesNotMatch(received, /client\.example\.net|orig\.example\.net/);
  assert.equal(gw.transactions().at(-1)?.client_ip, '127.0.0.1');
});
