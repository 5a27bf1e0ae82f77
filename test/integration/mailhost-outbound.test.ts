// Full-stack outbound mail end to end: submission with AUTH, the outbound spam check, MX lookup through
// a DNS server on loopback, retry after a temporary failure, and alias lists mixing local and remote.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { startGateway, TEST_PASSWORD } from '../helpers/gateway.ts';
import { runPython } from '../helpers/python.ts';
import { startSink } from '../helpers/sink-server.ts';
import { freePort } from '../helpers/free-port.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

const ZONES = {
  'remote.example': [{ MX: [10, 'mx.remote.example'] as [number, string] }],
  'mx.remote.example': [{ A: '127.0.0.1' }],
};

function outboundRules(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-rules-'));
  writeFileSync(path.join(dir, 'zz-outbound.yaml'), `content_rules:\n  - { symbol: CT_TEST_OUTBOUND_SPAM, description: test marker, weight: 30, type: body, regex: 'OUTBOUND-SPAM-MARKER' }\n`);
  return dir;
}

const SUBMIT = `
import smtplib, json, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.ehlo('laptop.test.example')
s.login('postmaster@localhost', sys.argv[2])
out = {}
for name, body in (('clean', 'Subject: hello bob\\r\\nDate: Sun, 22 Nov 2026 00:00:00 +0000\\r\\nMessage-ID: <c1@localhost>\\r\\n\\r\\nLunch tomorrow?\\r\\n'),
                   ('spam', 'Subject: offer\\r\\nDate: Sun, 22 Nov 2026 00:00:00 +0000\\r\\nMessage-ID: <c2@localhost>\\r\\n\\r\\nOUTBOUND-SPAM-MARKER\\r\\n')):
    try:
        s.sendmail('postmaster@localhost', ['bob@remote.example'], body)
        out[name] = 250
    except smtplib.SMTPDataError as e:
        out[name] = e.smtp_code
s.quit()
print(json.dumps(out))
`;

test('submission: AUTH, outbound spam check, MX delivery with a retry after 451', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  sink.rule({ stage: 'rcpt', rcpt: 'bob@remote.example', code: 451, text: '4.7.1 try again', times: 1 });
  const gw = await startGateway(
    t,
    { rules_dirs: [SHIPPED_RULES_DIR, outboundRules()], outbound: { port: sink.port }, queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' } },
    { zones: ZONES },
  );
  const result = await runPython<{ clean: number; spam: number }>(SUBMIT, [String(gw.submissionPort), TEST_PASSWORD]);
  assert.deepEqual(result, { clean: 250, spam: 554 }, 'outbound spam is refused at submission');
  await sink.waitForMessages(1, 20_000);
  const got = sink.messages[0];
  assert.equal(got?.mailFrom, 'postmaster@localhost');
  assert.deepEqual(got?.rcptTo, ['bob@remote.example']);
  assert.match(got?.raw.toString() ?? '', /with ESMTPA id /, 'Received shows the authenticated submission');
  const submitted = gw.transactions().filter((l) => l.listener === 'submission');
  assert.equal(submitted.length, 2);
  assert.equal(submitted[0]?.auth_user, 'postmaster@localhost');
  // The first attempt was deferred (451 at RCPT), the second delivered: two attempts in the log.
  const deadline = Date.now() + 10_000;
  const done = (): Record<string, unknown> | undefined => gw.logs.find((l) => l.msg === 'message done');
  while (!done() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.equal(done()?.attempts, 2, JSON.stringify(done()));
});

test('the log line that ends a message names the MX that took each remote recipient and its reply', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, { outbound: { port: sink.port }, queue: { scan_interval: '100ms' } }, { zones: ZONES });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example', 'postmaster@localhost'], 'Subject: trace\r\n\r\nwhere did it go\r\n');
  const queueId = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
  assert.notEqual(queueId, '', JSON.stringify(r.data));
  const done = await messageDone(gw, queueId);
  const relays = done.relays as Record<string, string> | undefined;
  assert.match(relays?.['bob@remote.example'] ?? '', /^mx\.remote\.example: 250 /, JSON.stringify(done));
  assert.equal(relays?.['postmaster@localhost'], undefined, 'a local delivery has no next hop');
});

test('an alias list with a local and a remote member: Maildir copy and MX copy', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, { aliases: { 'team@localhost': ['postmaster@localhost', 'carol@remote.example'] }, outbound: { port: sink.port } }, { zones: ZONES });
  const r = await sendMessage(gw.smtpPort, 'boss@elsewhere.example', ['team@localhost'], 'Subject: team news\r\n\r\nhello team\r\n');
  assert.equal(r.data?.code, 250);
  await sink.waitForMessages(1, 20_000);
  assert.deepEqual(sink.messages[0]?.rcptTo, ['carol@remote.example']);
  // The copy leaves from our address: its sender is rewritten into our domain (srs, on by default) so SPF passes.
  assert.match(sink.messages[0]?.mailFrom ?? '', /^SRS0=[^=]{4}=[A-Z2-7]{2}=elsewhere\.example=boss@localhost$/);
  const inbox = path.join(gw.dataDir, 'mail', 'localhost', 'postmaster', 'Maildir');
  const deadline = Date.now() + 10_000;
  const count = (): number => ['new', 'cur'].reduce((n, d) => n + readdirSync(path.join(inbox, d)).length, 0);
  while (count() < 1 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.equal(count(), 1);
  // The forwarded copy names the alias, so when the remote side sends it back (a forwarding loop) it is
  // refused for the alias instead of going round again: no new Maildir copy, no new forward.
  const forwarded = sink.messages[0]?.raw.toString() ?? '';
  assert.match(forwarded, /^Delivered-To: team@localhost\r\n/m);
  const back = await sendMessage(gw.smtpPort, 'boss@elsewhere.example', ['team@localhost'], forwarded);
  assert.equal(back.data?.code, 250);
  // The failure notice to boss@elsewhere.example (which has no MX here) fails too, and may be logged first.
  const failed = (): Record<string, unknown> | undefined =>
    gw.logs.find((l) => l.msg === 'message done' && JSON.stringify(l.recipients).includes('failed') && JSON.stringify(l.recipients).includes('team@localhost'));
  const until = Date.now() + 10_000;
  while (!failed() && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(failed()?.recipients, { 'team@localhost': 'failed' });
  assert.match(JSON.stringify(failed()?.failures), /554 5\.4\.6 team@localhost: mail forwarding loop/, 'the log says why');
  assert.equal(count(), 1, 'no second Maildir copy');
  assert.equal(sink.messages.length, 1, 'no second forward');
});

test('a message with smtp.max_hops Received fields is refused as a loop (RFC 5321 §6.3)', async (t) => {
  const gw = await startGateway(t, { smtp: { max_hops: 20 } });
  const received = (n: number): string => Array.from({ length: n }, (_, i) => `Received: from hop${i}.example by hop${i + 1}.example; Sun, 22 Nov 2026 00:00:00 +0000\r\n`).join('');
  const under = await sendMessage(gw.smtpPort, 'boss@elsewhere.example', ['postmaster@localhost'], `${received(19)}Subject: 19 hops\r\n\r\nbody\r\n`);
  assert.equal(under.data?.code, 250);
  const over = await sendMessage(gw.smtpPort, 'boss@elsewhere.example', ['postmaster@localhost'], `${received(20)}Subject: 20 hops\r\n\r\nbody\r\n`);
  assert.equal(over.data?.code, 554);
  assert.match(over.data?.text ?? '', /5\.4\.6 Too many hops \(20 Received/);
});

/** The queue's "message done" log line for a queue id, waited for (bounded). */
async function messageDone(gw: Awaited<ReturnType<typeof startGateway>>, id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 10_000;
  const find = (): Record<string, unknown> | undefined => gw.logs.find((l) => l.msg === 'message done' && l.id === id);
  while (!find() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  const done = find();
  assert.ok(done, `no "message done" for ${id}`);
  return done;
}

test('address-literal recipients (RFC 5321 §4.1.3) go to that address, IPv4 and IPv6', async (t) => {
  const sink6 = await startSink({ host: '::1' });
  t.after(() => sink6.close());
  const sink4 = await startSink({ port: sink6.port });
  t.after(() => sink4.close());
  const gw = await startGateway(t, { outbound: { port: sink6.port }, queue: { retry_initial: '200ms', scan_interval: '100ms' } }, { zones: ZONES });
  // a trusted client (127.0.0.1) may relay; the IPv6 literal in its full spelling (smtp-server keeps it in RFC 5952 form)
  const r = await sendMessage(gw.smtpPort, 'boss@localhost', ['bob@[127.0.0.1]', 'carol@[IPv6:0:0:0:0:0:0:0:1]'], 'Subject: literal\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await sink4.waitForMessages(1, 10_000);
  await sink6.waitForMessages(1, 10_000);
  assert.deepEqual(sink4.messages[0]?.rcptTo, ['bob@[127.0.0.1]']);
  assert.deepEqual(sink6.messages[0]?.rcptTo, ['carol@[IPv6:::1]']);
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
  assert.deepEqual((await messageDone(gw, id)).recipients, { 'bob@[127.0.0.1]': 'delivered', 'carol@[IPv6:::1]': 'delivered' });
});

test('outbound.source_address / source_address_v6: MX and routed connections leave from the configured address of their family', async (t) => {
  const sink6 = await startSink({ host: '::1' });
  t.after(() => sink6.close());
  const sink4 = await startSink({ port: sink6.port });
  t.after(() => sink4.close());
  const routed = await startSink();
  t.after(() => routed.close());
  // 127.0.0.2 is this host's too (all of 127/8 is loopback), but never the system's choice for 127.0.0.1
  const gw = await startGateway(
    t,
    { outbound: { port: sink6.port, source_address: '127.0.0.2', source_address_v6: '::1', routes: { 'routed.example': { host: '127.0.0.1', port: routed.port, tls: 'none' } } }, queue: { retry_initial: '200ms', scan_interval: '100ms' } },
    { zones: ZONES },
  );
  assert.ok(!gw.logs.some((l) => String(l.msg).startsWith('outbound source address not on any interface')), 'both addresses are this host\'s');
  const r = await sendMessage(gw.smtpPort, 'boss@localhost', ['bob@remote.example', 'carol@[IPv6:::1]', 'dave@routed.example'], 'Subject: source\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await sink4.waitForMessages(1, 10_000);
  await sink6.waitForMessages(1, 10_000);
  await routed.waitForMessages(1, 10_000);
  assert.equal(sink4.messages[0]?.remoteAddress, '127.0.0.2', 'the MX connection (IPv4) from source_address');
  assert.equal(sink6.messages[0]?.remoteAddress, '::1', 'the IPv6 connection from source_address_v6');
  assert.equal(routed.messages[0]?.remoteAddress, '127.0.0.2', 'a route (the relay path) from source_address too');
});

test('an outbound source address this host does not have: warned at start, mail deferred (EADDRNOTAVAIL), never lost', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, { outbound: { port: sink.port, source_address: '192.0.2.77', connect_timeout: '2s' }, queue: { retry_initial: '1h', scan_interval: '100ms' } }, { zones: ZONES });
  assert.ok(gw.logs.some((l) => l.msg === 'outbound source address not on any interface of this host: connections from it fail and mail waits in the queue until it is' && JSON.stringify(l.addresses) === '["192.0.2.77"]'));
  const r = await sendMessage(gw.smtpPort, 'boss@localhost', ['bob@remote.example'], 'Subject: no source\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
  const deadline = Date.now() + 10_000;
  const deferred = (): Record<string, unknown> | undefined => gw.logs.find((l) => l.msg === 'message deferred' && l.id === id);
  while (!deferred() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.match(String(deferred()?.error), /EADDRNOTAVAIL|address not available/i);
  assert.equal(sink.messages.length, 0);
});

test('an address literal naming this very server is a mail loop, however the address is spelt', async (t) => {
  const port = await freePort();
  const gw = await startGateway(t, { smtp: { listen: { host: '127.0.0.1', port } }, outbound: { port }, queue: { retry_initial: '200ms', scan_interval: '100ms' } });
  const { wire } = await SmtpWire.open(port);
  t.after(() => wire.close());
  for (const line of ['EHLO client.test.example', 'MAIL FROM:<>', 'RCPT TO:<loop@[IPv6:::ffff:127.0.0.1]>', 'DATA']) assert.ok((await wire.command(line)).code < 400, line);
  const data = await wire.command('Subject: loop\r\n\r\nhello\r\n.');
  assert.equal(data.code, 250, data.text);
  const id = /queued as (\S+)/.exec(data.text)?.[1] ?? '';
  const done = await messageDone(gw, id);
  assert.deepEqual(done.failures, { 'loop@[IPv6:::ffff:127.0.0.1]': '554 5.4.6 mail for [ipv6:::ffff:127.0.0.1] loops back to myself' });
});
