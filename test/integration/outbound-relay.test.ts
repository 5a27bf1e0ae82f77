// Outbound delivery through a relay host (outbound.relay) over real sockets: a sink that requires AUTH over
// STARTTLS with a certificate from a throwaway CA, or over implicit TLS; no MX or MTA-STS lookup for relayed
// mail; a refused login, a relay without STARTTLS and a certificate that does not verify all defer the
// message with nothing sent (no password in clear, no message), and a 5xx from the relay bounces;
// outbound.routes sends one domain to its own host, beside the relay or MX delivery.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkOptions, type SinkServer } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { makeTestCa, type TestCa } from '../helpers/test-ca.ts';

const RELAY = 'smtp.relay.example';
const USER = 'gateway@relay.example';
const PASSWORD = 'relay-secret-Zq9';
// remote.example has an MX (on loopback): relayed mail must neither look it up nor go there
const ZONES = {
  [RELAY]: [{ A: '127.0.0.1' }],
  'remote.example': [{ MX: [10, 'mx.remote.example'] as [number, string] }],
  'mx.remote.example': [{ A: '127.0.0.1' }],
};
const FAST_QUEUE = { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' };

function passwordFile(t: TestContext, password: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-relay-'));
  const file = path.join(dir, 'relay.password');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return file;
}

async function until<T>(what: string, find: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = find();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

interface Setup {
  gw: RunningGateway;
  sink: SinkServer;
  ca: TestCa;
  file: string;
}

/** A sink on loopback with a certificate for the relay's name from a test CA, and a gateway relaying to it. */
/** With `routes`, the sink that outbound.routes sends partner.example to (plain, on loopback). */
const routeSinks = new WeakMap<TestContext, SinkServer>();

async function setup(t: TestContext, o: { sink?: SinkOptions; relay?: Record<string, unknown>; password?: string; ca?: TestCa; routes?: boolean; queue?: Record<string, unknown> } = {}): Promise<Setup> {
  const ca = makeTestCa(t);
  const issuer = o.ca ?? ca;
  const sink = await startSink({ tls: issuer.issue([RELAY]), auth: { username: USER, password: PASSWORD }, ...o.sink });
  t.after(() => sink.close());
  const file = passwordFile(t, o.password ?? PASSWORD);
  const relay = { host: RELAY, port: sink.port, tls_ca: ca.caFile, auth: { username: USER, password_file: file }, ...o.relay };
  let routes: Record<string, unknown> | undefined;
  if (o.routes) {
    const partner = await startSink();
    t.after(() => partner.close());
    routeSinks.set(t, partner);
    routes = { 'partner.example': { host: '127.0.0.1', port: partner.port, tls: 'none' } };
  }
  const gw = await startGateway(t, { outbound: { relay, ...(routes ? { routes } : {}) }, queue: { ...FAST_QUEUE, ...o.queue } }, { zones: ZONES });
  return { gw, sink, ca, file };
}

const queueId = (text: string | undefined): string => /queued as (\S+)/.exec(text ?? '')?.[1] ?? '';

/** The first "message deferred" line of a queue id. */
const deferred = (gw: RunningGateway, id: string) => until(`deferral of ${id}`, () => gw.logs.find((l) => l.msg === 'message deferred' && l.id === id));

function noMxNoMtaSts(gw: RunningGateway): void {
  assert.equal(gw.dns.count('remote.example', 'MX'), 0, 'no MX lookup for relayed mail');
  assert.equal(gw.dns.count('_mta-sts.remote.example', 'TXT'), 0, 'no MTA-STS lookup for relayed mail');
}

test('relay over STARTTLS with AUTH PLAIN: remote mail goes to the relay, local mail stays, a 5xx from the relay bounces naming it', async (t) => {
  const { gw, sink } = await setup(t);
  sink.rule({ stage: 'rcpt', rcpt: 'nobody@remote.example', code: 550, text: '5.1.1 no such user here' });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example', 'nobody@remote.example', 'postmaster@localhost'], 'Subject: via the relay\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await sink.waitForMessages(1, 10_000);
  const got = sink.messages[0];
  assert.deepEqual(got?.rcptTo, ['bob@remote.example']);
  assert.equal(got?.mailFrom, 'postmaster@localhost');
  assert.equal(got?.secure, true, 'the message went over TLS');
  assert.equal(got?.user, USER, 'the relay saw the login');
  assert.deepEqual(sink.logins.map((l) => ({ method: l.method, username: l.username, password: l.password, secure: l.secure, ok: l.ok })), [{ method: 'PLAIN', username: USER, password: PASSWORD, secure: true, ok: true }]);
  const id = queueId(r.data?.text);
  const done = await until('message done', () => gw.logs.find((l) => l.msg === 'message done' && l.id === id));
  assert.deepEqual(done.recipients, { 'bob@remote.example': 'delivered', 'nobody@remote.example': 'failed', 'postmaster@localhost': 'delivered' });
  noMxNoMtaSts(gw);
  assert.ok(gw.dns.count(RELAY, 'A') >= 1, 'the relay host was looked up through the project resolver');
  // the bounce for nobody@ comes back to the local sender and names the relay as the reporting MTA
  const bounce = await until('the bounce', () => localMail(gw).find((m) => m.includes('Final-Recipient: rfc822; nobody@remote.example')));
  assert.match(bounce, /Remote-MTA: dns; smtp\.relay\.example/);
  assert.match(bounce, /Diagnostic-Code: smtp; 550 5\.1\.1 no such user here/);
  assert.ok(localMail(gw).some((m) => m.includes('Subject: via the relay')), 'the local recipient got its copy');
  assert.ok(gw.logs.some((l) => l.msg === 'relayed' && l.relay === `${RELAY}:${sink.port}`), 'the log names the relay as the next hop');
  assert.ok(!JSON.stringify(gw.logs).includes(PASSWORD), 'the password is never logged');
});

/** The messages in postmaster@localhost's Maildir (local deliveries and notices to the local sender); none before its first delivery makes it. */
function localMail(gw: RunningGateway): string[] {
  const inbox = path.join(gw.dataDir, 'mail', 'localhost', 'postmaster', 'Maildir');
  return ['new', 'cur'].flatMap((d) => (existsSync(path.join(inbox, d)) ? readdirSync(path.join(inbox, d)) : []).map((f) => readFileSync(path.join(inbox, d, f), 'latin1')));
}

test('a wrong password defers (535 in the log and the delay notice), nothing is sent; mended, the next retry delivers', async (t) => {
  // delay_warning 1ms: the notice goes out at the first deferral, before the password is mended
  const { gw, sink, file } = await setup(t, { password: 'not-the-password', queue: { delay_warning: '1ms' } });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: wrong password\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  const id = queueId(r.data?.text);
  const d = await deferred(gw, id);
  assert.match(String(d.error), /451 4\.7\.0 relay smtp\.relay\.example \[127\.0\.0\.1\]: authentication \(PLAIN\) refused: 535 5\.7\.8 Authentication credentials invalid/);
  assert.equal(sink.messages.length, 0, 'nothing sent');
  assert.ok(sink.logins.length >= 1 && sink.logins.every((l) => !l.ok && l.secure), 'the login went over TLS and was refused');
  assert.equal(gw.logs.find((l) => l.msg === 'message done' && l.id === id), undefined, 'not bounced');
  const notice = await until('the delay notice', () => localMail(gw).find((m) => m.includes('Action: delayed')));
  assert.match(notice, /Status: 4\.7\.0/);
  assert.match(notice, /Diagnostic-Code: X-Spamgate; 451 4\.7\.0 relay smtp\.relay\.example \[127\.0\.0\.1\]: authentication \(PLAIN\) refused: 535 5\.7\.8 Authentication credentials invalid/);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^spamgate_relay_connections_total\{result="auth_failed"\} [1-9]/m);
  assert.match(metrics, /^spamgate_relay_connections_total\{result="ok"\} 0$/m);
  const logText = JSON.stringify(gw.logs);
  assert.ok(!logText.includes('not-the-password') && !logText.includes(Buffer.from('not-the-password').toString('base64')), 'credentials never logged');
  // the password file is read for each new connection: the mended password is used at the next retry
  writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
  await sink.waitForMessages(1, 10_000);
  const done = await until('message done', () => gw.logs.find((l) => l.msg === 'message done' && l.id === id));
  assert.deepEqual(done.recipients, { 'bob@remote.example': 'delivered' });
  assert.ok(Number(done.attempts) >= 2);
  noMxNoMtaSts(gw);
});

test('a login refused for good is not tried again with the same password at each retry (the account is not hammered); a changed password is tried at once', async (t) => {
  const { gw, sink, file } = await setup(t, { password: 'not-the-password' });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: hammer\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  const id = queueId(r.data?.text);
  await deferred(gw, id);
  const logins = sink.logins.length;
  // retries every 200-400 ms: several more attempts, each deferred with the relay's refusal, no new login
  await until('three deferrals', () => (gw.logs.filter((l) => l.msg === 'message deferred' && l.id === id).length >= 3 ? true : undefined));
  const last = gw.logs.filter((l) => l.msg === 'message deferred' && l.id === id).at(-1);
  assert.match(String(last?.error), /authentication \(PLAIN\) refused: 535 5\.7\.8/);
  assert.equal(sink.logins.length, logins, 'the same refused password is not sent again');
  writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
  await sink.waitForMessages(1, 10_000);
});

test('a rotated relay password is used from the next message: connections logged in with the old one are not reused', async (t) => {
  const accepted = { username: USER, password: PASSWORD };
  const { gw, sink, file } = await setup(t, { sink: { auth: accepted } });
  const first = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: before the rotation\r\n\r\nhello\r\n');
  assert.equal(first.data?.code, 250);
  await sink.waitForMessages(1, 10_000);
  assert.deepEqual(sink.logins.map((l) => [l.password, l.ok]), [[PASSWORD, true]]);
  // the provider and the administrator rotate the password; the first connection is still open in the pool
  accepted.password = 'rotated-password';
  writeFileSync(file, 'rotated-password\n', { mode: 0o600 });
  const second = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['carol@remote.example'], 'Subject: after the rotation\r\n\r\nhello\r\n');
  assert.equal(second.data?.code, 250);
  await sink.waitForMessages(2, 10_000);
  assert.deepEqual(sink.logins.map((l) => [l.password, l.ok]), [[PASSWORD, true], ['rotated-password', true]], 'a new connection logged in with the new password');
  assert.deepEqual(sink.messages[1]?.rcptTo, ['carol@remote.example']);
});

test('a relay that offers no STARTTLS gets no password and no message: deferred', async (t) => {
  // the sink offers AUTH in clear and would take it: the client must not send it
  const { gw, sink } = await setup(t, { sink: { tls: undefined } });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: no tls\r\n\r\nhello\r\n');
  const d = await deferred(gw, queueId(r.data?.text));
  assert.match(String(d.error), /451 4\.7\.5 relay smtp\.relay\.example \[127\.0\.0\.1\]: STARTTLS required but not offered/);
  assert.deepEqual(sink.logins, [], 'no AUTH in clear');
  assert.equal(sink.messages.length, 0);
  noMxNoMtaSts(gw);
});

test('a relay certificate that does not verify (another CA): deferred, nothing sent', async (t) => {
  const other = makeTestCa(t);
  const { gw, sink } = await setup(t, { ca: other });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: bad cert\r\n\r\nhello\r\n');
  const d = await deferred(gw, queueId(r.data?.text));
  assert.match(String(d.error), /451 4\.7\.5 relay smtp\.relay\.example \[127\.0\.0\.1\]: certificate not valid for smtp\.relay\.example/);
  assert.deepEqual(sink.logins, []);
  assert.equal(sink.messages.length, 0);
});

test('implicit TLS (RFC 8314) on a second relay, AUTH LOGIN when PLAIN is not offered', async (t) => {
  const { gw, sink } = await setup(t, { sink: { implicitTls: true, auth: { username: USER, password: PASSWORD, methods: ['LOGIN'] } }, relay: { tls: 'implicit' } });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['carol@remote.example'], 'Subject: implicit\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  await sink.waitForMessages(1, 10_000);
  assert.equal(sink.messages[0]?.secure, true);
  assert.equal(sink.messages[0]?.user, USER);
  assert.deepEqual(sink.logins.map((l) => [l.method, l.ok, l.secure]), [['LOGIN', true, true]]);
  noMxNoMtaSts(gw);
});

test('implicit TLS to a relay whose certificate does not verify (another CA), or that speaks plain SMTP on the port: deferred, no password, nothing sent', async (t) => {
  const other = makeTestCa(t);
  const { gw, sink } = await setup(t, { ca: other, sink: { implicitTls: true }, relay: { tls: 'implicit' } });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: implicit bad cert\r\n\r\nhello\r\n');
  const d = await deferred(gw, queueId(r.data?.text));
  assert.match(String(d.error), /^451 4\.7\.5 relay smtp\.relay\.example \[127\.0\.0\.1\]: .*certificate/);
  assert.deepEqual(sink.logins, []);
  assert.equal(sink.messages.length, 0);

  // a relay answering in clear on the implicit-TLS port: the handshake fails, nothing goes in clear
  const plain = await setup(t, { sink: { tls: undefined }, relay: { tls: 'implicit' } });
  const r2 = await sendMessage(plain.gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: implicit to plain\r\n\r\nhello\r\n');
  const d2 = await deferred(plain.gw, queueId(r2.data?.text));
  assert.match(String(d2.error), /^4\d\d /);
  assert.deepEqual(plain.sink.logins, []);
  assert.equal(plain.sink.messages.length, 0);
});

test('auth with tls_verify: false is allowed (any certificate is taken) but warned about at start', async (t) => {
  const other = makeTestCa(t);
  const { gw, sink } = await setup(t, { ca: other, relay: { tls_verify: false, tls_ca: undefined } });
  assert.ok(gw.logs.some((l) => l.msg === 'outbound relay: tls_verify is off, so the relay password goes to whoever answers for the relay host' && l.level === 'warn'));
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: unverified\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  await sink.waitForMessages(1, 10_000);
  assert.equal(sink.messages[0]?.secure, true);
});

test('tls: none with auth: the password goes in clear only to a loopback address, whatever the name resolves to', async (t) => {
  // on loopback: taken in clear
  const local = await setup(t, { sink: { tls: undefined }, relay: { host: '127.0.0.1', tls: 'none', tls_ca: undefined } });
  const r = await sendMessage(local.gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: loopback\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  await local.sink.waitForMessages(1, 10_000);
  assert.deepEqual(local.sink.logins.map((l) => [l.method, l.ok, l.secure]), [['PLAIN', true, false]]);
});

test('tls: none with auth to "localhost" that resolves to a non-loopback address: no password sent, deferred', async (t) => {
  const external = Object.values(os.networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;
  if (!external) return t.skip('no non-loopback IPv4 address on this machine');
  const sink = await startSink({ host: external, auth: { username: USER, password: PASSWORD } });
  t.after(() => sink.close());
  const file = passwordFile(t, PASSWORD);
  const relay = { host: 'localhost', port: sink.port, tls: 'none', auth: { username: USER, password_file: file } };
  const gw = await startGateway(t, { outbound: { relay }, queue: FAST_QUEUE }, { zones: { ...ZONES, localhost: [{ A: external }] } });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example'], 'Subject: not loopback\r\n\r\nhello\r\n');
  const d = await deferred(gw, queueId(r.data?.text));
  assert.match(String(d.error), /451 4\.7\.0 relay localhost \[[\d.]+\]: the connection to [\d.]+:\d+ is not encrypted: the password is not sent in clear/);
  assert.deepEqual(sink.logins, []);
  assert.equal(sink.messages.length, 0);
});

test('outbound.routes: a domain to its own host (no MX lookup), the others through the relay', async (t) => {
  const { gw, sink } = await setup(t, { routes: true });
  const partner = routeSinks.get(t);
  assert.ok(partner);
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example', 'ann@partner.example'], 'Subject: routes\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  await sink.waitForMessages(1, 10_000);
  await partner.waitForMessages(1, 10_000);
  assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['bob@remote.example']]);
  assert.deepEqual(partner.messages.map((m) => m.rcptTo), [['ann@partner.example']]);
  assert.equal(gw.dns.count('partner.example', 'MX'), 0);
  noMxNoMtaSts(gw);
});

test('outbound.routes without a relay: the routed domain to its host, a .domain entry\'s subdomains to theirs, any other by MX', async (t) => {
  const mx = await startSink();
  t.after(() => mx.close());
  const partner = await startSink();
  t.after(() => partner.close());
  const branches = await startSink();
  t.after(() => branches.close());
  const routes = { 'partner.example': { host: '127.0.0.1', port: partner.port, tls: 'none' }, '.branch.example': { host: '127.0.0.1', port: branches.port, tls: 'none' } };
  const gw = await startGateway(t, { outbound: { port: mx.port, routes }, queue: FAST_QUEUE }, { zones: ZONES });
  const r = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['bob@remote.example', 'ann@partner.example', 'eve@paris.branch.example'], 'Subject: routes and mx\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  await mx.waitForMessages(1, 10_000);
  await partner.waitForMessages(1, 10_000);
  await branches.waitForMessages(1, 10_000);
  assert.deepEqual(mx.messages.map((m) => m.rcptTo), [['bob@remote.example']]);
  assert.deepEqual(partner.messages.map((m) => m.rcptTo), [['ann@partner.example']]);
  assert.deepEqual(branches.messages.map((m) => m.rcptTo), [['eve@paris.branch.example']]);
  assert.ok(gw.dns.count('remote.example', 'MX') >= 1, 'the other domain went by MX');
  assert.equal(gw.dns.count('partner.example', 'MX'), 0, 'the routed domain had no MX lookup');
  assert.equal(gw.dns.count('paris.branch.example', 'MX'), 0, 'nor the subdomain routed by .branch.example');
});
