// Virus scanning end to end over SMTP with a real clamd (test/helpers/clamd.ts, its own signature database): a
// virus attachment refused 554 with its name before any 250 (front-of: nothing reaches the upstream; full-stack:
// nothing in the mailbox; an authenticated submission too), clean mail delivered; clamd down: 451, then accepted
// once it is back (on_error tempfail) or accepted with AV_ERROR (on_error accept); a message over max_size accepted
// unscanned (AV_SKIPPED_SIZE); a clamd that never answers or answers nonsense (the one fake: a socket server) → 451
// within the timeout, one clamd connection at a time with max_concurrent 1; clamd's own size limit; scan_outbound
// false; VIRUS_FOUND weighing quarantine → kept in the quarantine; the start-up PING warning; a reload of the settings (a failed one too);
// `spamgate explain` naming the virus; the metrics.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { awaitLog, messageDone } from '../helpers/await-log.ts';
import { startClamd, startHungClamd, TEST_VIRUS, TEST_VIRUS_NAME } from '../helpers/clamd.ts';
import { runCli } from '../helpers/cli-process.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { DNS_CHECKS } from '../helpers/quarantine-rules.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

type Json = Record<string, unknown>;

/** A message with TEST_VIRUS as a base64 attachment (clamd decodes the MIME and finds it by its MD5). */
function infected(subject = 'your invoice', to = 'user@relay.example', filler = ''): string {
  const b64 = TEST_VIRUS.toString('base64').replace(/.{76}/g, '$&\r\n');
  return [
    `From: a@remote.example`,
    `To: ${to}`,
    `Subject: ${subject}`,
    `Message-ID: <${Math.random().toString(36).slice(2)}@remote.example>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    'please see the attachment',
    ...(filler ? [filler] : []),
    '--b1',
    'Content-Type: application/octet-stream; name="invoice.bin"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="invoice.bin"',
    '',
    b64,
    '--b1--',
    '',
  ].join('\r\n');
}

const clean = (subject = 'hello', to = 'user@relay.example'): string =>
  `From: a@remote.example\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@remote.example>\r\n\r\nnothing attached\r\n`;

async function frontOf(t: TestContext, sink: SinkServer, antivirus: Json, extra: Json = {}): Promise<RunningGateway> {
  return startGateway(t, {
    mode: 'front-of',
    local_domains: ['relay.example'],
    delivery: { upstream: { host: '127.0.0.1', port: sink.port } },
    queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
    antivirus: { enabled: true, ...antivirus },
    ...extra,
  });
}

async function startedSink(t: TestContext): Promise<SinkServer> {
  const sink = await startSink();
  t.after(() => sink.close());
  return sink;
}

async function metric(gw: RunningGateway, line: string): Promise<number | undefined> {
  const text = await gw.app.registry.metrics();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.split(' ')[1]);
}

const resultHeader = (raw: Buffer | string): string => {
  const text = typeof raw === 'string' ? raw : raw.toString('latin1');
  return /^X-Spamgate-Result: ((?:.*\r\n[ \t].*)*.*)$/m.exec(text)?.[1]?.replace(/\r\n[ \t]/g, ' ') ?? '';
};

test('front-of (clamd over TCP): a virus attachment is refused 554 naming it, a clean message is delivered', async (t) => {
  const clamd = await startClamd(t, { tcp: true });
  const sink = await startedSink(t);
  const gw = await frontOf(t, sink, { clamd: clamd.tcp });
  const bad = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], infected());
  assert.equal(bad.data?.code, 554, bad.data?.text);
  assert.match(bad.data?.lines.join('\n') ?? '', /5\.7\.1 Virus found: Spamgate\.Test\.Signature\.UNOFFICIAL/);
  const good = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], clean('clean one'));
  assert.equal(good.data?.code, 250, good.data?.text);
  await sink.waitForMessages(1);
  // give the queue a moment to show that nothing else comes
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sink.messages.length, 1);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /Subject: clean one/);
  const refused = gw.transactions().find((l) => String(l.reply).startsWith('554'));
  assert.equal(refused?.decided_by, 'VIRUS_FOUND');
  assert.deepEqual((refused?.symbols as Array<{ s: string; o: string[] }>).find((s) => s.s === 'VIRUS_FOUND')?.o, [TEST_VIRUS_NAME]);
  assert.equal(await metric(gw, 'spamgate_antivirus_scans_total{result="virus"}'), 1);
  assert.equal(await metric(gw, 'spamgate_antivirus_scans_total{result="clean"}'), 1);
  assert.equal(await metric(gw, 'spamgate_antivirus_scan_duration_seconds_count'), 2);
  assert.equal(await metric(gw, 'spamgate_smtp_rejects_total{phase="data",family="VIRUS",symbol="VIRUS_FOUND"}'), 1);
});

test('full-stack (clamd on a unix socket): virus refused and not in the mailbox, clean delivered; an authenticated submission with a virus refused', async (t) => {
  const clamd = await startClamd(t);
  const gw = await startGateway(t, { bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: DNS_CHECKS }, antivirus: { enabled: true, clamd: clamd.unix } });
  const bad = await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost'], infected('in', 'postmaster@localhost'));
  assert.equal(bad.data?.code, 554, bad.data?.text);
  assert.match(bad.data?.text ?? '', /Virus found: Spamgate\.Test\.Signature\.UNOFFICIAL/);
  const good = await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost'], clean('clean in', 'postmaster@localhost'));
  assert.equal(good.data?.code, 250, good.data?.text);
  await messageDone(gw, 0, /queued as (\S+)/.exec(good.data?.text ?? '')?.[1] ?? '?');
  const inbox = maildirMessages(gw.dataDir);
  assert.equal(inbox.length, 1, 'only the clean message');
  assert.match(inbox[0] ?? '', /Subject: clean in/);

  // submission: AUTH, then a virus to a remote address, refused before any 250
  const port = gw.submissionPort;
  assert.ok(port);
  const { wire } = await SmtpWire.open(port);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command(`AUTH PLAIN ${Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64')}`)).code, 235);
  assert.equal((await wire.command('MAIL FROM:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<friend@remote.example>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(infected('out', 'friend@remote.example').replace('From: a@remote.example', 'From: postmaster@localhost'));
  const out = await wire.command('.', 15_000);
  assert.equal(out.code, 554, out.text);
  assert.match(out.text, /Virus found: Spamgate\.Test\.Signature\.UNOFFICIAL/);
  assert.deepEqual(readdirSync(path.join(gw.dataDir, 'spool', 'msg')).length, 0, 'nothing spooled for delivery');
});

test('clamd down: 451 4.7.1 (never accepted unscanned), accepted once it is back; on_error accept: accepted with AV_ERROR', async (t) => {
  const clamd = await startClamd(t);
  const sink = await startedSink(t);
  const gw = await frontOf(t, sink, { clamd: clamd.unix, timeout: '3s' });
  await clamd.stop();
  const body = clean('while clamd is down');
  const down = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], body);
  assert.equal(down.data?.code, 451, down.data?.text);
  assert.match(down.data?.lines.join('\n') ?? '', /4\.7\.1 Virus scanner unavailable/);
  assert.ok(gw.logs.some((l) => l.msg === 'virus scan failed, message deferred' && String(l.clamd).startsWith('unix:')));
  assert.equal(await metric(gw, 'spamgate_antivirus_scans_total{result="error"}'), 1);
  await clamd.start();
  const back = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], body);
  assert.equal(back.data?.code, 250, back.data?.text);
  await sink.waitForMessages(1);
  assert.doesNotMatch(resultHeader(sink.messages[0]?.raw ?? ''), /AV_/);

  const sink2 = await startedSink(t);
  const lenient = await frontOf(t, sink2, { clamd: clamd.unix, on_error: 'accept' });
  await clamd.stop();
  const since = lenient.logs.length;
  const accepted = await sendMessage(lenient.smtpPort, 'a@remote.example', ['user@relay.example'], clean('accepted unscanned'));
  assert.equal(accepted.data?.code, 250, accepted.data?.text);
  await sink2.waitForMessages(1);
  assert.match(resultHeader(sink2.messages[0]?.raw ?? ''), /AV_ERROR\(0\)\[ENOENT while connecting \(unix:/);
  assert.ok(lenient.logs.slice(since).some((l) => l.level === 'warn' && l.msg === 'virus scan failed, message accepted unscanned (antivirus.on_error accept)'));
});

test('a message over antivirus.max_size is accepted unscanned with AV_SKIPPED_SIZE', async (t) => {
  const clamd = await startClamd(t);
  const sink = await startedSink(t);
  const gw = await frontOf(t, sink, { clamd: clamd.unix, max_size: '1k' });
  const r = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], infected('too big to scan', 'user@relay.example', 'padding '.repeat(400)));
  assert.equal(r.data?.code, 250, r.data?.text);
  await sink.waitForMessages(1);
  assert.match(resultHeader(sink.messages[0]?.raw ?? ''), /AV_SKIPPED_SIZE\(0\)\[size=\d+,max=1024\]/);
  assert.equal(await metric(gw, 'spamgate_antivirus_scans_total{result="skipped"}'), 1);
  assert.equal(await metric(gw, 'spamgate_antivirus_scans_total{result="virus"}'), 0);
});

test("a message over clamd's StreamMaxLength (antivirus.max_size set above it): clamd's size limit ERROR is a failed scan, 451", async (t) => {
  const clamd = await startClamd(t, { streamMaxLength: '100K' });
  const sink = await startedSink(t);
  const gw = await frontOf(t, sink, { clamd: clamd.unix, max_size: '1m' });
  const r = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], infected('big', 'user@relay.example', 'padding line\r\n'.repeat(20_000)));
  assert.equal(r.data?.code, 451, r.data?.text);
  // clamd's reply, or (when it closed before the reply was read) the closed connection; deferred either way
  assert.match(JSON.stringify(gw.transactions().at(-1)?.symbols), /AV_UNAVAILABLE.*(INSTREAM size limit exceeded|over its StreamMaxLength)/);
  // clamd is fine after it: a small virus is still found
  const small = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], infected());
  assert.equal(small.data?.code, 554, small.data?.text);
});

test('antivirus.scan_outbound false: an authenticated submission is not scanned; inbound mail still is', async (t) => {
  const clamd = await startClamd(t);
  const gw = await startGateway(t, { bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: DNS_CHECKS }, antivirus: { enabled: true, clamd: clamd.unix, scan_outbound: false } });
  const { wire } = await SmtpWire.open(gw.submissionPort ?? 0);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command(`AUTH PLAIN ${Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64')}`)).code, 235);
  await wire.command('MAIL FROM:<postmaster@localhost>');
  await wire.command('RCPT TO:<friend@remote.example>');
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(infected('out', 'friend@remote.example'));
  assert.equal((await wire.command('.', 15_000)).code, 250);
  const inbound = await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost'], infected('in', 'postmaster@localhost'));
  assert.equal(inbound.data?.code, 554, inbound.data?.text);
});

test('a clamd that never answers, or answers nonsense: 451 within antivirus.timeout', async (t) => {
  // the one fake: a hung or garbled clamd cannot be made of the real one
  const hung = await startHungClamd(t);
  const { scans } = hung;
  const garbled = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end('stream: what?\0'));
  });
  await new Promise<void>((r) => garbled.listen(0, '127.0.0.1', r));
  t.after(() => garbled.close());
  const sink = await startedSink(t);
  const gw = await frontOf(t, sink, { clamd: hung.address, timeout: '1s' });
  const started = Date.now();
  const r = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], clean('to a hung clamd'));
  const took = Date.now() - started;
  assert.equal(r.data?.code, 451, r.data?.text);
  // answered by the scan's own timeout: 451 with its reason (the check's budget, 2 s later, would give CHECK_TIMEOUT
  // and a 250); the upper bound only catches a hang, it is no speed measurement
  assert.ok(took >= 1000 && took < 10_000, `answered after ${took} ms`);
  const tx = gw.transactions().at(-1);
  assert.match(JSON.stringify(tx?.symbols), /AV_UNAVAILABLE.*timed out while reading/);

  // max_concurrent 1: of three messages at once, one scan holds the hung connection, the others wait for the slot
  // (within their own timeout: each is answered 451 about 1 s after it came, never later). The first gateway's
  // abandoned connection is closed on this side a moment after its 451: counted from there
  for (const until = Date.now() + 5000; scans.open > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
  assert.equal(scans.open, 0, 'the timed-out scan closed its connection to clamd');
  scans.most = 0;
  const one = await frontOf(t, sink, { clamd: hung.address, timeout: '1s', max_concurrent: 1 });
  const t0 = Date.now();
  const all = await Promise.all(['first', 'second', 'third'].map((s) => sendMessage(one.smtpPort, 'a@remote.example', ['user@relay.example'], clean(s))));
  assert.deepEqual(all.map((b) => b.data?.code), [451, 451, 451]);
  const unavailable = one.transactions().filter((tx) => JSON.stringify(tx.symbols).includes('AV_UNAVAILABLE'));
  assert.equal(unavailable.length, 3, 'each deferred by its own scan timeout, none by the check budget');
  assert.ok(Date.now() - t0 < 10_000, `all answered, none hung (${Date.now() - t0} ms)`);
  assert.equal(await hung.mostAtOnce(), 1, 'one connection to clamd at a time');

  const gw2 = await frontOf(t, sink, { clamd: `127.0.0.1:${(garbled.address() as net.AddressInfo).port}`, timeout: '1s' });
  const g = await sendMessage(gw2.smtpPort, 'a@remote.example', ['user@relay.example'], clean('to a garbled clamd'));
  assert.equal(g.data?.code, 451, g.data?.text);
  assert.match(JSON.stringify(gw2.transactions().at(-1)?.symbols), /unexpected reply/);
  assert.equal(sink.messages.length, 0);
});

test('VIRUS_FOUND weighing quarantine: the infected message is kept in the quarantine, its header naming the virus', async (t) => {
  const clamd = await startClamd(t);
  const sink = await startedSink(t);
  const rules = mkdtempSync(path.join(os.tmpdir(), 'spamgate-rules-'));
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  writeFileSync(path.join(rules, 'local.yaml'), 'symbols:\n  VIRUS_FOUND: { weight: quarantine, description: "Virus found by clamd (kept in the quarantine)" }\n');
  const gw = await frontOf(t, sink, { clamd: clamd.unix }, { rules_dirs: [SHIPPED_RULES_DIR, rules] });
  const r = await sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], infected('quarantine me'));
  assert.equal(r.data?.code, 250, r.data?.text);
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
  const file = path.join(gw.dataDir, 'quarantine', `${id}.msg`);
  assert.ok(existsSync(file), 'in the quarantine before the 250');
  const stored = readFileSync(file, 'latin1');
  assert.match(resultHeader(stored), new RegExp(`^quarantine; .*VIRUS_FOUND\\(quarantine\\)\\[${TEST_VIRUS_NAME.replace(/\./g, '\\.')}\\]`));
  assert.equal(gw.transactions().at(-1)?.decided_by, 'VIRUS_FOUND');
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(sink.messages.length, 0, 'nothing reached the upstream');
});

test('start-up: a clamd that does not answer PING is a warning naming its address; spamgate serves anyway', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-noclamd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sink = await startedSink(t);
  const address = `unix:${path.join(dir, 'nothing.sock')}`;
  const gw = await frontOf(t, sink, { clamd: address });
  const warning = await awaitLog(gw, 0, (l) => l.level === 'warn' && typeof l.msg === 'string' && l.msg.includes('does not answer PING'), 'the PING warning');
  assert.equal(warning.clamd, address);
  assert.match(String(warning.msg), new RegExp(`clamd at ${address.replace(/[./]/g, '\\$&')} does not answer PING`));
  const { greeting, wire } = await SmtpWire.open(gw.smtpPort);
  wire.close();
  assert.equal(greeting.code, 220);
});

test('spamgate explain shows VIRUS_FOUND with the virus name when antivirus is enabled', async (t) => {
  const clamd = await startClamd(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-explain-av-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'spamgate.yaml'), `bayes: { enabled: false }\nantivirus: { enabled: true, clamd: "${clamd.unix}" }\n`);
  writeFileSync(path.join(dir, 'infected.eml'), infected());
  const r = await runCli(['explain', path.join(dir, 'infected.eml'), '--config', path.join(dir, 'spamgate.yaml'), '--data-dir', dir], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /action reject .*decided by VIRUS_FOUND/);
  assert.match(r.stdout, /VIRUS_FOUND \(weight reject\) \[Spamgate\.Test\.Signature\.UNOFFICIAL\]/);
});

test('reload: antivirus settings apply to the next transaction (on_error, clamd, enabled); the scanner and its slots are kept while they stay the same', async (t) => {
  const clamd = await startClamd(t);
  // a hung clamd: reads, never answers; counts the INSTREAM connections open at once
  const hung = await startHungClamd(t);
  const hungAt = hung.address;
  const sink = await startedSink(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-avreload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'spamgate.yaml');
  const gw = await startGateway(
    t,
    {
      mode: 'front-of',
      local_domains: ['relay.example'],
      delivery: { upstream: { host: '127.0.0.1', port: sink.port } },
      bayes: { enabled: false },
      smtp: { trusted_networks: [] },
      checks: { disabled: DNS_CHECKS },
      antivirus: { enabled: true, clamd: hungAt, timeout: '1500ms', max_concurrent: 1 },
    },
    { configFile },
  );
  const edit = (antivirus: Json): void => {
    const config = parseYaml(readFileSync(configFile, 'utf8')) as Json;
    config.antivirus = { ...(config.antivirus as Json), ...antivirus };
    writeFileSync(configFile, stringifyYaml(config));
    const r = gw.app.reload();
    assert.equal(r.ok, true, r.ok ? '' : r.error);
  };
  const send = (subject: string, body = clean(subject)) => sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], body);

  // a scan holds the one slot when on_error changes; the message after the reload waits for that same slot
  const first = send('before the reload');
  await hung.scanning();
  edit({ on_error: 'accept' });
  const second = send('after the reload');
  assert.equal((await first).data?.code, 451, 'on_error tempfail when it began');
  const after = await second;
  assert.equal(after.data?.code, 250, after.data?.text);
  assert.equal(await hung.mostAtOnce(), 1, 'one clamd connection at a time across the reload: the same scanner and slots');
  await sink.waitForMessages(1);
  assert.match(resultHeader(sink.messages[0]?.raw ?? ''), /AV_ERROR\(0\)\[(timed out while|no scanner slot free)/);

  // pointed at the real clamd: the virus is refused
  edit({ clamd: clamd.unix, on_error: 'tempfail' });
  assert.equal((await send('virus', infected())).data?.code, 554);
  // off: the virus is not scanned (and so accepted)
  edit({ enabled: false });
  const off = await send('virus unscanned', infected('virus unscanned'));
  assert.equal(off.data?.code, 250, off.data?.text);
  // a failed reload keeps antivirus off
  writeFileSync(configFile, `${readFileSync(configFile, 'utf8')}\nantivirus_typo: 1\n`);
  assert.equal(gw.app.reload().ok, false);
  assert.equal((await send('still unscanned', infected('still unscanned'))).data?.code, 250);
});

test('a reload that fails after changing the antivirus settings leaves the running scanner and its slots to the next one', async (t) => {
  // a hung clamd: reads, never answers; counts the INSTREAM connections open at once
  const hung = await startHungClamd(t);
  const sink = await startedSink(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-avreload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'spamgate.yaml');
  const antivirus = { enabled: true, clamd: hung.address, timeout: '1500ms', max_concurrent: 1 };
  const gw = await startGateway(
    t,
    { mode: 'front-of', local_domains: ['relay.example'], delivery: { upstream: { host: '127.0.0.1', port: sink.port } }, bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: DNS_CHECKS }, antivirus },
    { configFile },
  );
  const running = readFileSync(configFile, 'utf8');
  const send = (subject: string) => sendMessage(gw.smtpPort, 'a@remote.example', ['user@relay.example'], clean(subject));
  const first = send('holds the slot');
  await hung.scanning();
  // more slots, but rules without the antivirus symbols: the reload fails once the checks are built
  const empty = mkdtempSync(path.join(dir, 'rules-'));
  const broken = parseYaml(running) as Json;
  broken.antivirus = { ...antivirus, max_concurrent: 4 };
  broken.rules_dirs = [empty];
  writeFileSync(configFile, stringifyYaml(broken));
  assert.equal(gw.app.reload().ok, false);
  // back to the running settings: the same slots, so the next message waits for the one the first holds
  writeFileSync(configFile, running);
  assert.equal(gw.app.reload().ok, true);
  const second = send('waits for the slot');
  assert.equal((await first).data?.code, 451);
  assert.equal((await second).data?.code, 451);
  assert.equal(await hung.mostAtOnce(), 1, 'one clamd connection at a time');
});
