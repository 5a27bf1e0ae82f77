// Front-of mode and the domainless <postmaster> (RFC 5321 §4.1.1.3, §4.5.1) over real SMTP: accepted in any case,
// handed to the sink upstream as postmaster@ the first of local_domains, never refused for the upstream's answer to
// a recipient probe; another address without a domain is still a syntax error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { startSink } from '../helpers/sink-server.ts';
import { SmtpWire, type Reply } from '../helpers/smtp-wire.ts';

const MSG = 'From: someone@remote.example\r\nTo: postmaster\r\nSubject: for the postmaster\r\nMessage-ID: <pm@remote.example>\r\n\r\nyour server is listed\r\n';

function frontOf(port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode: 'front-of',
    local_domains: ['relay.example', 'other.example'],
    smtp: { trusted_networks: [] },
    delivery: { upstream: { host: '127.0.0.1', port }, ...extra },
    queue: { scan_interval: '100ms' },
  };
}

/** One transaction from an untrusted client: the RCPT reply, and the reply to the data when the recipient was taken. */
async function send(port: number, rcpt: string): Promise<{ rcpt: Reply; data?: Reply }> {
  const { wire } = await SmtpWire.open(port);
  try {
    await wire.command('EHLO client.remote.example');
    assert.equal((await wire.command('MAIL FROM:<someone@remote.example>')).code, 250);
    const r = await wire.command(`RCPT TO:<${rcpt}>`);
    if (r.code !== 250) return { rcpt: r };
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write(MSG);
    return { rcpt: r, data: await wire.command('.', 10_000) };
  } finally {
    wire.close();
  }
}

test('front-of: <postmaster> and <PostMaster> are accepted and reach the upstream as postmaster@ the first local domain', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port));
  for (const rcpt of ['postmaster', 'PostMaster']) {
    const r = await send(gw.smtpPort, rcpt);
    assert.equal(r.rcpt.code, 250, `RCPT TO:<${rcpt}>: ${r.rcpt.code} ${r.rcpt.text}`);
    assert.equal(r.data?.code, 250, `${rcpt}: the data is taken`);
  }
  await sink.waitForMessages(2, 20_000);
  assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['postmaster@relay.example'], ['postmaster@relay.example']]);
  for (const m of sink.messages) {
    assert.equal(m.mailFrom, 'someone@remote.example');
    // handed on as mail for one of our own domains: the verdict field stays for the inner MTA
    assert.match(m.raw.toString(), /^X-Spamgate-Result: /m);
  }
  // another address without a domain: the same syntax error as ever, nothing handed on
  const bare = await send(gw.smtpPort, 'webmaster');
  assert.equal(`${bare.rcpt.code} ${bare.rcpt.text}`, '501 5.1.3 Error: Bad recipient address syntax');
  assert.equal(sink.messages.length, 2);
});

test('front-of with verify_recipients: postmaster is accepted without asking, even when the upstream would refuse it', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  // an upstream that (wrongly) refuses postmaster: the probe would have made spamgate refuse it too
  sink.rule({ stage: 'rcpt', rcpt: 'postmaster@relay.example', code: 550, text: '5.1.1 no such user', times: 1 });
  const gw = await startGateway(t, frontOf(sink.port, { verify_recipients: { enabled: true, timeout: '1s' } }));
  const r = await send(gw.smtpPort, 'postmaster@relay.example');
  assert.equal(r.rcpt.code, 250, `${r.rcpt.code} ${r.rcpt.text}`);
  assert.equal(r.data?.code, 250);
  // the refusal was left for the delivery (no probe took it: that message bounces); the next one is delivered
  const bare = await send(gw.smtpPort, 'POSTMASTER');
  assert.equal(bare.rcpt.code, 250);
  assert.equal(bare.data?.code, 250);
  await sink.waitForMessages(2, 20_000);
  const delivered = sink.messages.filter((m) => m.mailFrom === 'someone@remote.example');
  assert.deepEqual(delivered.map((m) => m.rcptTo), [['postmaster@relay.example']]);
  assert.ok(sink.messages.some((m) => m.mailFrom === '' && m.rcptTo.join() === 'someone@remote.example'), 'the first is bounced by delivery, not refused at RCPT');
});

test('front-of: the qualified postmaster goes on with ORCPT naming the <postmaster> received (RFC 3461 §4.2), a client ORCPT unchanged', async (t) => {
  const sink = await startSink({ dsn: true });
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port));
  assert.equal((await send(gw.smtpPort, 'PostMaster')).data?.code, 250);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  try {
    await wire.command('EHLO client.remote.example');
    assert.equal((await wire.command('MAIL FROM:<someone@remote.example>')).code, 250);
    assert.equal((await wire.command('RCPT TO:<postmaster> NOTIFY=FAILURE ORCPT=rfc822;pm@first.example')).code, 250);
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write(MSG);
    assert.equal((await wire.command('.', 10_000)).code, 250);
  } finally {
    wire.close();
  }
  await sink.waitForMessages(2, 20_000);
  assert.deepEqual(
    sink.messages.map((m) => m.rcptParams['postmaster@relay.example']),
    [{ ORCPT: 'rfc822;PostMaster' }, { NOTIFY: 'FAILURE', ORCPT: 'rfc822;pm@first.example' }],
  );
});
