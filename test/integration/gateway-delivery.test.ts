// Front-of mode end to end: queue and inline delivery to an upstream sink, retries, bounces,
// kill -9 after 250 (nothing lost), SIGTERM, SIGHUP reload and check-config, as real processes.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { run } from '../helpers/python.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';
import { freePort } from '../helpers/free-port.ts';
import { ServeProcess } from '../helpers/serve-process.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');
const MSG = 'From: a@remote.example\r\nTo: user@relay.example\r\nSubject: hello\r\n\r\nbody line\r\n';

function frontOf(upstreamPort: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode: 'front-of',
    local_domains: ['relay.example'],
    delivery: { upstream: { host: '127.0.0.1', port: upstreamPort }, ...(extra.delivery as object) },
    queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'delivery')),
  };
}

test('queue mode: accepted mail reaches the upstream with the result header', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port));
  const r = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example', 'other@relay.example'], MSG);
  assert.equal(r.data?.code, 250);
  await sink.waitForMessages(1);
  const got = sink.messages[0];
  assert.deepEqual(got?.rcptTo, ['user@relay.example', 'other@relay.example']);
  assert.equal(got?.mailFrom, 'a@remote.example');
  const text = got?.raw.toString('utf8') ?? '';
  assert.match(text, /^X-Spamgate-Result: accept; score=/);
  assert.ok(text.endsWith(MSG), 'original message follows the added headers unchanged');
});

test('upstream down then up: every queued message is delivered, none lost or doubled', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  await sink.down();
  const gw = await startGateway(t, frontOf(sink.port));
  for (let i = 0; i < 5; i++) {
    const r = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], MSG.replace('hello', `hello ${i}`));
    assert.equal(r.data?.code, 250, 'accepted into the spool while the upstream is down');
  }
  await sink.up();
  await sink.waitForMessages(5, 20_000);
  const subjects = sink.messages.map((m) => /Subject: (hello \d)/.exec(m.raw.toString())?.[1]).sort();
  assert.deepEqual(subjects, ['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4']);
});

test('a 5xx from the upstream bounces a DSN to the sender (never to the null sender)', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  sink.rule({ stage: 'rcpt', rcpt: 'gone@relay.example', code: 550, text: '5.1.1 no such user' });
  const gw = await startGateway(t, frontOf(sink.port));
  assert.equal((await sendMessage(gw.smtpPort, 'sender@relay.example', ['gone@relay.example', 'user@relay.example'], MSG)).data?.code, 250);
  assert.equal((await sendMessage(gw.smtpPort, '', ['gone@relay.example'], MSG)).data?.code, 250);
  await sink.waitForMessages(2, 20_000);
  const dsn = sink.messages.find((m) => m.mailFrom === '' && m.rcptTo.includes('sender@relay.example'));
  assert.ok(dsn, `a DSN to the sender: ${JSON.stringify(sink.messages.map((m) => [m.mailFrom, m.rcptTo]))}`);
  const text = dsn.raw.toString();
  assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/i);
  assert.match(text, /Final-Recipient: rfc822; ?gone@relay\.example/i);
  assert.match(text, /Status: 5\.1\.1/);
  // Give the null-sender message time to be tried; it must produce no bounce.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(sink.messages.filter((m) => m.mailFrom === '').length, 1, 'no bounce for the null sender');
});

test('inline mode: the client gets the upstream reply to DATA', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port, { delivery: { mode: 'inline' } }));
  const ok = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], MSG);
  assert.equal(ok.data?.code, 250);
  sink.rule({ stage: 'data', code: 554, text: '5.7.1 upstream says no', times: 1 });
  const refused = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], MSG);
  assert.equal(refused.data?.code, 554);
  assert.match(refused.data?.text ?? '', /upstream says no/);
  sink.rule({ stage: 'data', code: 451, text: '4.3.0 try later', times: 1 });
  assert.equal((await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], MSG)).data?.code, 451);
  // A reply that is not final (354 after the data) is a broken next hop: the client retries, never gets 250.
  sink.rule({ stage: 'data', code: 354, text: 'not a final reply', times: 1 });
  const odd = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], MSG);
  assert.equal(odd.data?.code, 451);
  assert.match(odd.data?.text ?? '', /^4\.5\.0 unexpected reply to the end of data: 354/);
  assert.equal(sink.messages.length, 1);
});


/** `spamgate serve` as a child process, waited for as every process test waits (up to 60 s on a loaded machine). */
async function startProcess(configFile: string): Promise<{ child: ChildProcess; output: () => string }> {
  const proc = new ServeProcess();
  await proc.start(process.execPath, [CLI, 'serve', '--config', configFile]);
  const child = proc.child;
  assert.ok(child);
  return { child, output: () => proc.output };
}

function writeConfig(dir: string, ports: { smtp: number; http: number; upstream: number }, extra = ''): string {
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(
    file,
    `mode: front-of
data_dir: ${path.join(dir, 'data')}
local_domains: [relay.example]
smtp: { listen: { port: ${ports.smtp} }, hostname: mx.test.example }
submission: { enabled: false }
http: { listen: { port: ${ports.http} } }
pop3: { enabled: false }
imap: { enabled: false }
dns: { servers: ["127.0.0.1:9"], timeout: 200ms, retries: 0 }
delivery: { upstream: { host: 127.0.0.1, port: ${ports.upstream} } }
queue: { retry_initial: 200ms, retry_max: 400ms, scan_interval: 100ms }
${extra}`,
  );
  return file;
}

test('kill -9 after 250 and before delivery: the message is delivered after restart', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  await sink.down();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-kill-'));
  const ports = { smtp: await freePort(), http: await freePort(), upstream: sink.port };
  const file = writeConfig(dir, ports);
  const first = await startProcess(file);
  t.after(() => first.child.kill('SIGKILL'));
  const r = await sendMessage(ports.smtp, 'a@remote.example', ['user@relay.example'], MSG.replace('hello', 'survivor'));
  assert.equal(r.data?.code, 250);
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  await sink.up();
  const second = await startProcess(file);
  t.after(() => second.child.kill('SIGKILL'));
  await sink.waitForMessages(1, 20_000);
  assert.match(sink.messages[0]?.raw.toString() ?? '', /Subject: survivor/);
  // SIGTERM: stop accepting, finish, exit 0.
  second.child.kill('SIGTERM');
  const [code] = await once(second.child, 'exit');
  assert.equal(code, 0, second.output());
});

test('SIGHUP reload: a bad config is refused and the running one kept; a good one applies', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-reload-'));
  const ports = { smtp: await freePort(), http: await freePort(), upstream: sink.port };
  const file = writeConfig(dir, ports);
  const proc = await startProcess(file);
  t.after(() => proc.child.kill('SIGKILL'));
  const send = async (): Promise<number | undefined> => (await sendMessage(ports.smtp, 'a@remote.example', ['user@relay.example'], MSG)).replies[2]?.code;
  assert.equal(await send(), 250);
  writeFileSync(file, 'smtp: { max_recipients: "many" }\n');
  proc.child.kill('SIGHUP');
  const deadline = Date.now() + 10_000;
  while (!/reload failed/.test(proc.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // one JSON log line (stderr is JSON lines, for a log shipper), not a plain-text copy beside it
  assert.match(proc.output(), /"msg":"reload failed, keeping the running configuration".*smtp\.max_recipients/);
  assert.doesNotMatch(proc.output(), /^reload failed/m);
  assert.equal(await send(), 250, 'still serving with the old snapshot');
  writeConfig(dir, ports);
  // The second reload through the CLI: 'spamgate reload' signals the pid in the data directory.
  const reload = await run(process.execPath, [CLI, 'reload', '--config', file]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /^reloaded \(pid \d+, reload 2 /);
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text();
  const until = Date.now() + 10_000;
  while (!/spamgate_config_reloads_total\{result="success"\} 1/.test(await metrics()) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  assert.match(await metrics(), /spamgate_config_reloads_total\{result="failure"\} 1/);
  assert.match(await metrics(), /spamgate_config_reloads_total\{result="success"\} 1/);
  assert.doesNotMatch(proc.output(), /redis settings changed/, 'the same redis settings: no warning');
  // a change to the redis section is applied (reload succeeds) but only takes effect after a restart: said so
  writeConfig(dir, ports, 'redis: { key_prefix: "other:" }\n');
  proc.child.kill('SIGHUP');
  const warned = Date.now() + 10_000;
  while (!/redis settings changed/.test(proc.output()) && Date.now() < warned) await new Promise((r) => setTimeout(r, 50));
  assert.match(proc.output(), /redis settings changed: they apply after a restart/);
  assert.doesNotMatch(proc.output(), /dns settings changed/);
  // so does a change to the dns section (the resolver and its cache are made once)
  writeFileSync(file, readFileSync(file, 'utf8').replace('retries: 0', 'retries: 1'));
  proc.child.kill('SIGHUP');
  const dnsWarned = Date.now() + 10_000;
  while (!/dns settings changed/.test(proc.output()) && Date.now() < dnsWarned) await new Promise((r) => setTimeout(r, 50));
  assert.match(proc.output(), /dns settings changed: they apply after a restart/);
  assert.doesNotMatch(proc.output(), /settings changed that apply after a restart/);
  // and a listener setting: the warning names the key
  writeFileSync(file, readFileSync(file, 'utf8').replace('hostname: mx.test.example', 'hostname: mx.test.example, banner: other'));
  proc.child.kill('SIGHUP');
  const keysWarned = Date.now() + 10_000;
  while (!/settings changed that apply after a restart/.test(proc.output()) && Date.now() < keysWarned) await new Promise((r) => setTimeout(r, 50));
  assert.match(proc.output(), /settings changed that apply after a restart.*"keys":\["smtp\.banner"\]/);
  assert.equal(await send(), 250);
});

test('SIGHUP while serve is starting does not end it: the reload is applied once it listens', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-early-hup-'));
  const ports = { smtp: await freePort(), http: await freePort(), upstream: sink.port };
  const file = writeConfig(dir, ports);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let hupSent = false;
  const onData = (d: Buffer): void => {
    out += d.toString();
    // logged while the app is being built, before any listener is up (a reload hook run at that moment)
    if (!hupSent && /"bayes store opened"/.test(out) && !/listening/.test(out)) {
      hupSent = true;
      child.kill('SIGHUP');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const deadline = Date.now() + 20_000;
  while (!/"configuration reloaded"/.test(out) && child.exitCode === null && child.signalCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(hupSent, out);
  assert.equal(child.signalCode, null, `serve was ended by the signal: ${out}`);
  assert.match(out, /http\s+listening/);
  assert.match(out, /"configuration reloaded"/);
  assert.equal((await sendMessage(ports.smtp, 'a@remote.example', ['user@relay.example'], MSG)).replies[2]?.code, 250);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, out);
});

test('serve waits to open the Bayes store while a train learns into it (its saves would overwrite that), then starts', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-learn-lock-'));
  const ports = { smtp: await freePort(), http: await freePort(), upstream: sink.port };
  const file = writeConfig(dir, ports);
  // stands in for a `spamgate train` at work: its pid is in the store's lock
  const train = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => train.kill('SIGKILL'));
  const lock = path.join(dir, 'data', 'bayes', 'learn.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  writeFileSync(lock, `${train.pid}\n`);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const until = async (re: RegExp): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (!re.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, re);
  };
  await until(/waiting for another process to finish learning into the Bayes store/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.doesNotMatch(out, /listening/, 'not started while the train holds the store');
  train.kill('SIGKILL');
  await until(/http\s+listening/);
  assert.equal(readFileSync(lock, 'utf8').split('\n')[0], String(child.pid), 'serve holds the store while it runs');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, out);
  assert.equal(existsSync(lock), false, 'released at exit');
});

test('SIGTERM ends at once a session whose client reset its transaction (RSET), not at the drain deadline', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-rset-'));
  const ports = { smtp: await freePort(), http: await freePort(), upstream: sink.port };
  const proc = await startProcess(writeConfig(dir, ports));
  t.after(() => proc.child.kill('SIGKILL'));
  const { wire } = await SmtpWire.open(ports.smtp);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RSET')).code, 250);
  const sent = Date.now();
  proc.child.kill('SIGTERM');
  const bye = await wire.read(9_000);
  assert.equal(bye.code, 421);
  // The drain deadline is 10 s; a session still taken for one in a transaction would hear 421 only then.
  assert.ok(Date.now() - sent < 5_000, `421 after ${Date.now() - sent} ms`);
  const [code] = await once(proc.child, 'exit');
  assert.equal(code, 0, proc.output());
});

test('check-config and usage errors exit 2 with a one-line reason', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-cc-'));
  const good = path.join(dir, 'good.yaml');
  writeFileSync(good, 'local_domains: [example.org]\n');
  const ok = await run(process.execPath, [CLI, 'check-config', '--config', good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: /);
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'smtp:\n  max_recipients: -1\n  nosuch: true\n');
  const r = await run(process.execPath, [CLI, 'check-config', '--config', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml:2: smtp\.max_recipients: /);
  assert.match(r.stderr, /bad\.yaml:3: smtp\.nosuch: unknown key/);
  const usage = await run(process.execPath, [CLI, 'serve', '--nope']);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr.trim().split('\n').length, 1);
  const help = await run(process.execPath, [CLI, 'queue', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: spamgate queue/);
});

test('headers on the way to the upstream: a forged Authentication-Results in our name is gone, and a HELO client is stamped "with SMTP"', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port));
  const { wire } = await SmtpWire.open(gw.smtpPort);
  try {
    assert.equal((await wire.command('HELO client.example')).code, 250);
    assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
    assert.equal((await wire.command('RCPT TO:<user@relay.example>')).code, 250);
    assert.equal((await wire.command('DATA')).code, 354);
    const forged = 'Authentication-Results: MX.TEST.EXAMPLE; dkim=pass header.d=paypal.com\r\nAuthentication-Results: other.example; spf=none\r\n';
    assert.equal((await wire.command(`${forged}${MSG}.`)).code, 250);
  } finally {
    wire.close();
  }
  await sink.waitForMessages(1);
  const text = sink.messages[0]?.raw.toString('latin1') ?? '';
  assert.doesNotMatch(text, /dkim=pass header\.d=paypal\.com/);
  assert.match(text, /Authentication-Results: other\.example; spf=none/, 'another host\'s results stay');
  assert.match(text, /by mx\.test\.example \(spamgate\) with SMTP id /);
});
