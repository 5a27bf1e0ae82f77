// Front-of recipient verification (delivery.verify_recipients) end to end: a running gateway asks the sink
// upstream about each local-domain recipient at RCPT; unknown users are refused with 550 before DATA (no
// bounce to a forged sender), answers are cached, an upstream that cannot answer follows on_error, and
// recipients refused by relay control never cost the upstream a probe.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { awaitLog } from '../helpers/await-log.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { startScriptedSmtp } from '../helpers/scripted-smtp.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { SmtpWire } from '../helpers/smtp-wire.ts';

/** A front-of gateway that trusts no network and verifies recipients at the upstream on `port` (1 s probes unless `verify` says otherwise). */
function verifyingConfig(port: number, verify: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode: 'front-of',
    local_domains: ['relay.example'],
    smtp: { trusted_networks: [] },
    delivery: { upstream: { host: '127.0.0.1', port }, verify_recipients: { enabled: true, timeout: '1s', ...verify } },
    queue: { scan_interval: '100ms' },
    ...extra,
  };
}

async function gatewayBefore(t: TestContext, verify: Record<string, unknown> = {}): Promise<{ gw: RunningGateway; sink: SinkServer }> {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, verifyingConfig(sink.port, verify));
  return { gw, sink };
}

/** One session: MAIL, then RCPT for each address; the codes, and the DATA result when any was accepted. */
async function rcpts(port: number, addresses: string[]): Promise<{ codes: number[]; texts: string[]; data?: number }> {
  const { wire } = await SmtpWire.open(port);
  try {
    await wire.command('EHLO client.test.example');
    assert.equal((await wire.command('MAIL FROM:<sender@remote.example>')).code, 250);
    const replies = [];
    for (const a of addresses) replies.push(await wire.command(`RCPT TO:<${a}>`));
    const codes = replies.map((r) => r.code);
    if (!codes.includes(250)) return { codes, texts: replies.map((r) => r.text) };
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write('From: sender@remote.example\r\nSubject: verify\r\n\r\nbody\r\n');
    const data = (await wire.command('.', 10_000)).code;
    return { codes, texts: replies.map((r) => r.text), data };
  } finally {
    wire.close();
  }
}

const metric = async (gw: RunningGateway, labels: string): Promise<number> => {
  const line = (await gw.app.registry.metrics()).split('\n').find((l) => l.startsWith(`spamgate_recipient_verify_total{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
};

test('an unknown user at the upstream is refused at RCPT (550), a known one accepted and delivered; answers are cached', async (t) => {
  const { gw, sink } = await gatewayBefore(t);
  sink.rule({ stage: 'rcpt', rcpt: 'nobody@relay.example', code: 550, text: '5.1.1 <nobody@relay.example>: no such user' });
  const first = await rcpts(gw.smtpPort, ['user@relay.example', 'nobody@relay.example']);
  assert.deepEqual(first.codes, [250, 550]);
  assert.match(first.texts[1] ?? '', /^5\.1\.1 Recipient address rejected: user unknown/);
  assert.equal(first.data, 250);
  await sink.waitForMessages(1);
  // the sink holds the message before its 250 has reached the gateway: the delivery's connection is back in the
  // pool (reused by the next delivery, not counted as a new one) once the queue has logged the message done
  await awaitLog(gw, 0, (l) => l.msg === 'message done', 'the first message done');
  assert.deepEqual(sink.messages[0]?.rcptTo, ['user@relay.example'], 'only the known recipient was queued and delivered');
  assert.equal(await metric(gw, 'result="accepted",cached="false"'), 1);
  assert.equal(await metric(gw, 'result="refused",cached="false"'), 1);
  const connections = sink.connectionCount;
  const again = await rcpts(gw.smtpPort, ['User@RELAY.example', 'nobody@relay.example']);
  assert.deepEqual(again.codes, [250, 550]);
  await sink.waitForMessages(2);
  assert.equal(sink.connectionCount, connections + 1, 'no probe the second time (the one new connection is the delivery)');
  assert.equal(await metric(gw, 'result="refused",cached="true"'), 1);
  const logged = gw.transactions().at(-1);
  assert.match(JSON.stringify(logged?.refused_rcpts), /nobody@relay\.example/);
});

test('relay-denied and non-local recipients are never probed; a 4xx or a dead upstream follows on_error', async (t) => {
  const { gw, sink } = await gatewayBefore(t);
  sink.rule({ stage: 'rcpt', rcpt: 'busy@relay.example', code: 452, text: '4.2.2 mailbox full' });
  const before = sink.connectionCount;
  const denied = await rcpts(gw.smtpPort, ['someone@elsewhere.example']);
  assert.deepEqual(denied.codes, [554]);
  assert.equal(sink.connectionCount, before, 'no probe for a recipient relay control refused');
  // on_error: accept — the recipient is taken (the queue keeps the message, as it would without verification)
  const busy = await rcpts(gw.smtpPort, ['busy@relay.example']);
  assert.deepEqual(busy.codes, [250]);
  assert.ok(gw.logs.some((l) => l.msg === 'recipient verification without an answer' && String(l.reason).includes('mailbox full')));
  await sink.down();
  const down = await rcpts(gw.smtpPort, ['new@relay.example']);
  assert.deepEqual(down.codes, [250], 'upstream down: accepted and queued');
  assert.equal(await metric(gw, 'result="unknown",cached="false"'), 2);
});

test('on_error: tempfail answers 450 while the upstream cannot answer; a slow upstream is given up on within the timeout', async (t) => {
  const { gw, sink } = await gatewayBefore(t, { on_error: 'tempfail', timeout: '500ms' });
  await sink.down();
  const started = Date.now();
  const down = await rcpts(gw.smtpPort, ['user@relay.example']);
  assert.deepEqual(down.codes, [450]);
  assert.match(down.texts[0] ?? '', /^4\.1\.1 /);
  assert.ok(Date.now() - started < 5_000);
  await sink.up();
  assert.deepEqual((await rcpts(gw.smtpPort, ['user@relay.example'])).codes, [250], 'a temporary failure is not cached');

  // An upstream that takes the connection and never greets: the probe is abandoned after its timeout.
  const silent = await startScriptedSmtp(() => undefined, () => undefined);
  t.after(() => silent.close());
  const hung = await startGateway(t, verifyingConfig(silent.port, { timeout: '500ms', on_error: 'tempfail' }));
  const t0 = Date.now();
  const slow = await rcpts(hung.smtpPort, ['user@relay.example']);
  const took = Date.now() - t0;
  assert.deepEqual(slow.codes, [450]);
  assert.ok(hung.logs.some((l) => l.msg === 'recipient verification without an answer' && /no answer within 500 ms/.test(String(l.reason))), 'given up by the probe timeout, not the check budget');
  assert.ok(took < 4_000, `answered in ${took} ms`);
});

test('verify_recipients is refused outside front-of mode and with a timeout at or above checks.timeout', () => {
  assert.throws(() => loadConfig({ inline: { delivery: { verify_recipients: { enabled: true } } } }), /delivery\.verify_recipients\.enabled: recipient verification asks the upstream of front-of mode/);
  assert.throws(
    () => loadConfig({ inline: { mode: 'front-of', delivery: { upstream: { host: '127.0.0.1' }, verify_recipients: { enabled: true, timeout: '5s' } } } }),
    /delivery\.verify_recipients\.timeout: must be below checks\.timeout/,
  );
});

test('a probe given up at its timeout leaves no connection at the upstream and sends it nothing more', async (t) => {
  // An upstream that greets and answers EHLO slowly: the connection is still being set up when the probe's
  // timeout (500 ms) passes. Each command is recorded; every connection still open is counted.
  const commands: string[] = [];
  const later = (socket: net.Socket, text: string): void => void setTimeout(() => socket.destroyed || socket.write(text), 300);
  const slow = await startScriptedSmtp(
    (socket) => later(socket, '220 slow.example ESMTP\r\n'),
    (line, socket) => {
      commands.push(line);
      if (/^EHLO /i.test(line)) later(socket, '250-slow.example\r\n250 PIPELINING\r\n');
      else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
      else socket.write('250 ok\r\n');
    },
  );
  t.after(() => slow.close());
  const gw = await startGateway(t, verifyingConfig(slow.port, { timeout: '500ms', on_error: 'tempfail' }));
  const result = await rcpts(gw.smtpPort, ['u1@relay.example', 'u2@relay.example', 'u3@relay.example']);
  assert.deepEqual(result.codes, [450, 450, 450]);
  // The EHLO replies come 600 ms after each connection opened; give them time to arrive and be acted on.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.deepEqual(commands.filter((c) => !/^EHLO /i.test(c)), [], 'no MAIL, RCPT or RSET after the probe was given up');
  assert.equal(slow.open, 0, 'every probe connection is closed');
});

test('an upstream that refuses the probe for a reason other than the recipient (550 5.7.1 relay denied) does not make every user unknown', async (t) => {
  const { gw, sink } = await gatewayBefore(t, { on_error: 'tempfail' });
  sink.rule({ stage: 'rcpt', code: 550, text: '5.7.1 <user@relay.example>: Relay access denied' });
  const denied = await rcpts(gw.smtpPort, ['user@relay.example']);
  assert.deepEqual(denied.codes, [450], 'on_error applies: the upstream said nothing about the user');
  const warned = gw.logs.find((l) => l.msg === 'recipient verification without an answer' && l.level === 'warn');
  assert.match(String(warned?.reason), /refused the probe, not the recipient: 550 5\.7\.1 .*Relay access denied/, 'the upstream reply is logged as a warning');
  assert.equal(await metric(gw, 'result="refused",cached="false"'), 0);
  // Nothing was cached: once the upstream takes the probe, the same user is accepted; an unknown user still is not.
  sink.clearRules();
  sink.rule({ stage: 'rcpt', rcpt: 'nobody@relay.example', code: 550, text: '5.1.1 <nobody@relay.example>: no such user' });
  assert.deepEqual((await rcpts(gw.smtpPort, ['user@relay.example', 'nobody@relay.example'])).codes, [250, 550]);
});

test('greylisting leaves no triplet for a recipient the upstream refuses: a dictionary attack does not push real triplets out', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, verifyingConfig(sink.port, {}, { greylist: { enabled: true, delay: '1s', max_entries: 2 } }));
  const unknown = ['nobody1@relay.example', 'nobody2@relay.example', 'nobody3@relay.example'];
  for (const rcpt of unknown) sink.rule({ stage: 'rcpt', rcpt, code: 550, text: `5.1.1 <${rcpt}>: no such user` });
  const first = await rcpts(gw.smtpPort, ['user@relay.example', ...unknown]);
  assert.deepEqual(first.codes, [451, 550, 550, 550], 'the real user greylisted, the unknown ones refused');
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  const retry = await rcpts(gw.smtpPort, ['user@relay.example']);
  assert.deepEqual(retry.codes, [250], 'the retry after the delay passes: its triplet was kept');
});

test('a quoted local part is probed as the envelope holds it, quotes and all', async (t) => {
  // An upstream that takes "john doe"@relay.example and refuses anything that is not a valid path with 501 5.1.3.
  const rcptLines: string[] = [];
  const strict = await startScriptedSmtp('220 strict.example ESMTP', (line, socket) => {
    if (/^EHLO /i.test(line)) socket.write('250-strict.example\r\n250 8BITMIME\r\n');
    else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
    else if (/^RCPT /i.test(line)) {
      rcptLines.push(line);
      socket.write(line === 'RCPT TO:<"john doe"@relay.example>' ? '250 2.1.5 ok\r\n' : '501 5.1.3 Bad recipient address syntax\r\n');
    } else socket.write('250 ok\r\n');
  });
  t.after(() => strict.close());
  const gw = await startGateway(t, verifyingConfig(strict.port));
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<sender@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<"john doe"@relay.example>')).code, 250);
  assert.deepEqual(rcptLines, ['RCPT TO:<"john doe"@relay.example>']);
});

test('an ASCII recipient of an SMTPUTF8 transaction is verified at an upstream without SMTPUTF8; a non-ASCII one is not', async (t) => {
  const sink = await startSink({ smtputf8: false });
  t.after(() => sink.close());
  const gw = await startGateway(t, verifyingConfig(sink.port, { on_error: 'tempfail' }));
  sink.rule({ stage: 'rcpt', rcpt: 'nobody@relay.example', code: 550, text: '5.1.1 <nobody@relay.example>: no such user' });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<sender@remote.example> SMTPUTF8')).code, 250);
  assert.equal((await wire.command('RCPT TO:<user@relay.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<nobody@relay.example>')).code, 550);
  assert.equal((await wire.command('RCPT TO:<jörg@relay.example>')).code, 450, 'the upstream cannot be asked about a non-ASCII mailbox');
});
