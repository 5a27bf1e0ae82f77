// Front-of mode's upstream over verified TLS (delivery.upstream.tls_verify, tls_ca, tls_server_name): mail goes
// only to an upstream whose certificate a trusted CA issued for the expected name, and is never sent in clear
// or to an impostor instead; recipient probes use the same rules; misconfigurations are refused by key.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { SmtpWire } from '../helpers/smtp-wire.ts';
import { makeTestCa } from '../helpers/test-ca.ts';

async function tlsSink(t: TestContext, pair: { cert: string | Buffer; key: string | Buffer }): Promise<SinkServer> {
  const read = (f: string | Buffer): Buffer => (typeof f === 'string' ? readFileSync(f) : f);
  const sink = await startSink({ tls: { cert: read(pair.cert), key: read(pair.key) } });
  t.after(() => sink.close());
  return sink;
}

function frontOf(port: number, upstream: Record<string, unknown>, delivery: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode: 'front-of',
    local_domains: ['relay.example'],
    smtp: { trusted_networks: [] },
    delivery: { upstream: { host: '127.0.0.1', port, starttls: true, tls_verify: true, ...upstream }, ...delivery },
    queue: { scan_interval: '100ms' },
  };
}

/** One message to user@relay.example; the RCPT and end-of-data codes. */
async function send(gw: RunningGateway, rcpt = 'user@relay.example'): Promise<{ rcpt: number; data?: number }> {
  const { wire } = await SmtpWire.open(gw.smtpPort);
  try {
    await wire.command('EHLO client.test.example');
    assert.equal((await wire.command('MAIL FROM:<sender@remote.example>')).code, 250);
    const r = (await wire.command(`RCPT TO:<${rcpt}>`)).code;
    if (r !== 250) return { rcpt: r };
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write('From: sender@remote.example\r\nSubject: tls\r\n\r\nbody\r\n');
    return { rcpt: r, data: (await wire.command('.', 10_000)).code };
  } finally {
    wire.close();
  }
}

/** Waits until the queue has logged a deferral naming `pattern`. */
async function deferral(gw: RunningGateway, pattern: RegExp): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const hit = gw.logs.find((l) => l.msg === 'message deferred' && pattern.test(JSON.stringify(l.error)));
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no deferral matching ${pattern}; logs: ${JSON.stringify(gw.logs.filter((l) => l.msg === 'message deferred'))}`);
}

test('an upstream certificate from the configured CA for tls_server_name: delivered over TLS', async (t) => {
  const ca = makeTestCa(t);
  const sink = await tlsSink(t, ca.issue(['upstream.test.example'], { loopback: true }));
  const gw = await startGateway(t, frontOf(sink.port, { tls_ca: ca.caFile, tls_server_name: 'upstream.test.example' }));
  assert.deepEqual(await send(gw), { rcpt: 250, data: 250 });
  await sink.waitForMessages(1);
  assert.equal(sink.messages[0]?.secure, true, 'the message went over TLS');
});

test('a self-signed certificate, one for another name, or an upstream without STARTTLS: nothing is delivered, the mail stays queued', async (t) => {
  const ca = makeTestCa(t);
  const impostor = await tlsSink(t, selfSignedCert(t, 'upstream.test.example'));
  const gw = await startGateway(t, frontOf(impostor.port, { tls_ca: ca.caFile, tls_server_name: 'upstream.test.example' }));
  assert.deepEqual(await send(gw), { rcpt: 250, data: 250 });
  await deferral(gw, /certificate/i);
  assert.equal(impostor.messages.length, 0, 'nothing handed to an upstream whose certificate no trusted CA issued');

  const otherName = await tlsSink(t, ca.issue(['other.test.example'], { loopback: true }));
  const gw2 = await startGateway(t, frontOf(otherName.port, { tls_ca: ca.caFile, tls_server_name: 'upstream.test.example' }));
  assert.deepEqual(await send(gw2), { rcpt: 250, data: 250 });
  await deferral(gw2, /altnames|upstream\.test\.example/i);
  assert.equal(otherName.messages.length, 0, 'nothing handed to an upstream whose certificate names another host');

  const clear = await startSink();
  t.after(() => clear.close());
  const gw3 = await startGateway(t, frontOf(clear.port, { tls_ca: ca.caFile }));
  assert.deepEqual(await send(gw3), { rcpt: 250, data: 250 });
  await deferral(gw3, /STARTTLS required/);
  assert.equal(clear.messages.length, 0, 'never sent in clear');
});

test('without tls_server_name the certificate must be valid for the host (here its address); tls_verify off takes any', async (t) => {
  const ca = makeTestCa(t);
  const sink = await tlsSink(t, ca.issue(['upstream.test.example'], { loopback: true })); // its certificate also names IP 127.0.0.1
  const gw = await startGateway(t, frontOf(sink.port, { tls_ca: ca.caFile }));
  assert.deepEqual(await send(gw), { rcpt: 250, data: 250 });
  await sink.waitForMessages(1);
  assert.equal(sink.messages[0]?.secure, true);

  const selfSigned = await tlsSink(t, selfSignedCert(t, 'anything.example'));
  const lax = await startGateway(t, frontOf(selfSigned.port, { tls_verify: false }));
  assert.deepEqual(await send(lax), { rcpt: 250, data: 250 });
  await selfSigned.waitForMessages(1).catch((err: unknown) => assert.fail(`${String(err)}: ${JSON.stringify(lax.logs.filter((l) => l.msg === 'message deferred'))}`));
  assert.equal(selfSigned.messages[0]?.secure, true, 'encrypted, unverified: as before tls_verify existed');
});

test('recipient probes verify the upstream as deliveries do: an impostor is never asked (on_error applies)', async (t) => {
  const ca = makeTestCa(t);
  const impostor = await tlsSink(t, selfSignedCert(t, 'upstream.test.example'));
  impostor.rule({ stage: 'rcpt', rcpt: 'nobody@relay.example', code: 550, text: '5.1.1 no such user' });
  const gw = await startGateway(
    t,
    frontOf(impostor.port, { tls_ca: ca.caFile, tls_server_name: 'upstream.test.example' }, { verify_recipients: { enabled: true, timeout: '1s', on_error: 'tempfail' } }),
  );
  assert.deepEqual(await send(gw, 'nobody@relay.example'), { rcpt: 450 }, 'no answer taken from an unverified upstream');
  assert.ok(gw.logs.some((l) => l.msg === 'recipient verification without an answer' && /certificate/i.test(String(l.reason))));
});

test('TLS settings that would be silently unused, and a CA file that is not one, are refused by key', (t) => {
  const upstream = (u: Record<string, unknown>): Record<string, unknown> => ({ mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', ...u } } });
  assert.throws(() => loadConfig({ inline: upstream({ tls_verify: true }) }), /delivery\.upstream\.tls_verify: takes effect only with starttls: true/);
  assert.throws(() => loadConfig({ inline: upstream({ starttls: true, tls_ca: '/etc/ssl/ca.pem' }) }), /delivery\.upstream\.tls_ca: is used to verify the certificate: set tls_verify: true as well/);
  assert.throws(() => loadConfig({ inline: upstream({ starttls: true, tls_verify: true, tls_ca: '/nonexistent/ca.pem' }) }), /delivery\.upstream\.tls_ca: \/nonexistent\/ca\.pem does not exist/);
  const ca = makeTestCa(t);
  const notCa = path.join(path.dirname(ca.caFile), 'not-a-ca.pem');
  writeFileSync(notCa, 'hello\n');
  assert.throws(() => loadConfig({ inline: upstream({ starttls: true, tls_verify: true, tls_ca: notCa }) }), /delivery\.upstream\.tls_ca: .*not-a-ca\.pem holds no PEM certificate/);
  assert.doesNotThrow(() => loadConfig({ inline: upstream({ starttls: true, tls_verify: true, tls_ca: ca.caFile, tls_server_name: 'upstream.test.example' }) }));
});
