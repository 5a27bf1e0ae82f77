// Relay control, trust (PROXY/XCLIENT), rate limits, pre-greet and STARTTLS+AUTH over real sockets.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { hashPassword } from '../../src/mailhost/password.ts';
import { REFUSED_SESSION_LIMITS } from '../../src/smtp/listener.ts';
import { selfSignedCert } from '../helpers/self-signed.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { runPython } from '../helpers/python.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { startSink } from '../helpers/sink-server.ts';
import { writeControlRequest } from '../../src/queue/control.ts';
import { spoolPaths } from '../../src/queue/spool-format.ts';
import { spoolDir } from '../../src/queue/spool.ts';

const UNTRUSTED = { smtp: { trusted_networks: [] as string[] } };

async function rcptCode(port: number, rcpt: string, from = 'sender@remote.example'): Promise<{ code: number; text: string }> {
  const { wire } = await SmtpWire.open(port);
  try {
    await wire.command('EHLO client.test.example');
    const mail = await wire.command(`MAIL FROM:<${from}>`);
    if (mail.code !== 250) return mail;
    const r = await wire.command(`RCPT TO:<${rcpt}>`);
    return { code: r.code, text: r.text };
  } finally {
    wire.close();
  }
}

test('relay: local domains accepted from anyone, every routing trick refused with 554 5.7.1', async (t) => {
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['local.example', 'localhost'], aliases: { 'u@local.example': 'postmaster@localhost' } });
  assert.equal((await rcptCode(gw.smtpPort, 'u@local.example')).code, 250);
  assert.equal((await rcptCode(gw.smtpPort, 'U@LOCAL.EXAMPLE')).code, 250, 'upper case is still local');
  const dotted = await rcptCode(gw.smtpPort, 'u@local.example.');
  assert.ok(dotted.code === 250 || dotted.code === 501, `trailing dot: local or a syntax error, got ${dotted.code}`);
  assert.equal((await rcptCode(gw.smtpPort, '@relay.example:u@local.example')).code, 250, 'source route to a local mailbox is stripped (RFC 5321 App. C)');
  const tricks = [
    'victim@remote.example',
    'victim%remote.example@local.example',
    'remote.example!victim@local.example',
    '"victim@remote.example"@local.example',
    '"victim%remote.example"@local.example',
    'victim@remote.example@local.example',
    'victim@[192.0.2.1]',
    'victim@evillocal.example',
    'victim@local.example.remote.example',
    '@local.example:victim@remote.example',
    'victim@remote.example.',
  ];
  let refusedAsRelay = 0;
  for (const rcpt of tricks) {
    const r = await rcptCode(gw.smtpPort, rcpt);
    // Refused as relaying (554 5.7.1) or, where the address is not even valid syntax, with 501.
    if (r.code === 501) continue;
    assert.equal(r.code, 554, `${rcpt} must be refused, got ${r.code} ${r.text}`);
    assert.match(r.text, /^5\.7\.1 Relay access denied/, rcpt);
    refusedAsRelay++;
  }
  assert.ok(refusedAsRelay >= 8, `most tricks reach the relay check (${refusedAsRelay})`);
  const tx = await rcptCode(gw.smtpPort, 'postmaster@local.example', '');
  assert.equal(tx.code, 250, 'postmaster is always accepted (RFC 5321 §4.5.1)');
  assert.equal((await rcptCode(gw.smtpPort, 'Postmaster')).code, 250, 'bare <Postmaster> is accepted');
  assert.equal((await rcptCode(gw.smtpPort, 'nobody@local.example')).code, 550, 'unknown local user: 550 5.1.1 at RCPT');
});

/** Polls until cond holds: at most 200 rounds 50 ms apart. */
async function until(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

/** The messages in the user's Maildir, INBOX and Junk (the filter's verdict on these bare test messages aside). */
const delivered = (dataDir: string, user = 'postmaster', domain = 'localhost'): string[] => [...maildirMessages(dataDir, '', user, domain), ...maildirMessages(dataDir, '.Junk', user, domain)];

const RESTART_WARNING = 'settings changed that apply after a restart; the running instance keeps the old ones';

/** A spamgate.yaml path in a fresh temporary folder, removed after the test: the config file a reload reads. */
function tempConfigFile(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sg-domains-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'spamgate.yaml');
}

/** A session opened and a transaction begun to rcpt (EHLO, MAIL FROM, RCPT TO each 250), kept open across the reloads to come. */
async function openTransaction(t: TestContext, port: number, rcpt: string): Promise<SmtpWire> {
  const { wire } = await SmtpWire.open(port);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO across.test.example')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<sender@remote.example>')).code, 250);
  assert.equal((await wire.command(`RCPT TO:<${rcpt}>`)).code, 250);
  return wire;
}

/** Writes config to the gateway's file and reloads: the reload succeeds and logs no restart warning. */
function reloadWithoutRestartWarning(gw: RunningGateway, file: string, config: unknown): void {
  writeFileSync(file, stringifyYaml(config));
  const since = gw.logs.length;
  const r = gw.app.reload();
  assert.equal(r.ok, true, r.ok ? '' : r.error);
  // was (front-of): local_domains named among the keys that need a restart
  const warned = gw.logs.slice(since).find((l) => l.msg === RESTART_WARNING);
  assert.equal(warned, undefined, JSON.stringify(warned));
}

/** One message from sender@remote.example to rcpt, accepted at the end of DATA. */
async function sendAccepted(port: number, rcpt: string, raw: string): Promise<void> {
  const sent = await sendMessage(port, 'sender@remote.example', [rcpt], raw);
  assert.equal(sent.data?.code, 250, JSON.stringify(sent.replies));
}

/** The open session's next transaction takes rcpt (MAIL FROM and RCPT TO 250), then is reset. */
async function nextTransactionTakes(open: SmtpWire, rcpt: string, message?: string): Promise<void> {
  assert.equal((await open.command('MAIL FROM:<sender@remote.example>')).code, 250);
  const r = await open.command(`RCPT TO:<${rcpt}>`);
  assert.equal(r.code, 250, message ?? r.text);
  assert.equal((await open.command('RSET')).code, 250);
}

/** After a reload removed a domain: rcpt at it is refused as relaying from a new session, and openRcpt in the open session's next transaction. */
async function refusedAsAnotherDomain(port: number, rcpt: string, open: SmtpWire, openRcpt: string, message?: string): Promise<void> {
  const removed = await rcptCode(port, rcpt);
  assert.equal(removed.code, 554, `${removed.code} ${removed.text}`);
  assert.match(removed.text, /^5\.7\.1 Relay access denied/);
  assert.equal((await open.command('MAIL FROM:<sender@remote.example>')).code, 250);
  assert.equal((await open.command(`RCPT TO:<${openRcpt}>`)).code, 554, message);
}

test('full-stack: a domain a reload adds to local_domains, with its user, takes mail at once into the Maildir; removed, it is refused again; a session open across both reloads goes on', async (t) => {
  const file = tempConfigFile(t);
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['local.example', 'localhost'], aliases: { 'u@local.example': 'postmaster@localhost' } }, { configFile: file });
  const started = readFileSync(file, 'utf8');
  assert.equal((await rcptCode(gw.smtpPort, 'bob@example.net')).code, 554, 'not ours yet');
  // a session open before the reload, a transaction begun (judged by the snapshot of its MAIL FROM to its end)
  const open = await openTransaction(t, gw.smtpPort, 'u@local.example');

  const edited = parseYaml(started) as { local_domains: string[]; users: Record<string, unknown> };
  edited.local_domains = ['local.example', 'localhost', 'example.net'];
  edited.users['bob@example.net'] = { password: await hashPassword('bob-password', { N: 1024, r: 8, p: 1 }) };
  reloadWithoutRestartWarning(gw, file, edited);

  await sendAccepted(gw.smtpPort, 'bob@example.net', 'Subject: to the added domain\r\n\r\nhello bob\r\n');
  assert.ok(await until(() => delivered(gw.dataDir, 'bob', 'example.net').length === 1), 'delivered into bob@example.net\'s Maildir');
  assert.match(delivered(gw.dataDir, 'bob', 'example.net')[0] ?? '', /hello bob/);
  assert.equal((await rcptCode(gw.smtpPort, 'nobody@example.net')).code, 550, 'the added domain\'s unknown users are refused as any local domain\'s');

  // the session that was open goes on: its transaction ends, and its next one takes the added domain
  assert.equal((await open.command('DATA')).code, 354);
  const data = await open.command('Subject: across the reload\r\n\r\nhello\r\n.');
  assert.equal(data.code, 250, data.text);
  await nextTransactionTakes(open, 'bob@example.net');
  assert.ok(await until(() => delivered(gw.dataDir).some((m) => m.includes('across the reload'))), 'u@local.example\'s copy reached postmaster@localhost');

  // removed again (and its user): refused as another domain's, in the open session's next transaction too
  writeFileSync(file, started);
  const back = gw.app.reload();
  assert.equal(back.ok, true, back.ok ? '' : back.error);
  await refusedAsAnotherDomain(gw.smtpPort, 'bob@example.net', open, 'bob@example.net');
  assert.equal((await open.command('RCPT TO:<u@local.example>')).code, 250, 'the session still takes the domains kept');
  assert.equal((await open.command('QUIT')).code, 221);
  assert.equal(delivered(gw.dataDir, 'bob', 'example.net').length, 1, 'bob got the one message');
});

test('front-of: a domain a reload adds to local_domains is relayed at once; removed, it is refused again; a session open across the reload goes on', async (t) => {
  const sink = await startSink({ lmtp: false });
  t.after(() => sink.close());
  const file = tempConfigFile(t);
  const gw = await startGateway(t, { ...UNTRUSTED, mode: 'front-of', local_domains: ['relay.example'], delivery: { upstream: { host: '127.0.0.1', port: sink.port } } }, { configFile: file });
  const started = readFileSync(file, 'utf8');
  assert.equal((await rcptCode(gw.smtpPort, 'carol@example.net')).code, 554, 'not ours yet');
  const open = await openTransaction(t, gw.smtpPort, 'erin@relay.example');

  const edited = parseYaml(started) as { local_domains: string[] };
  edited.local_domains = ['relay.example', 'example.net'];
  reloadWithoutRestartWarning(gw, file, edited);
  await sendAccepted(gw.smtpPort, 'carol@example.net', 'Subject: relayed\r\n\r\nhello carol\r\n');
  await sink.waitForMessages(1);
  assert.deepEqual(sink.messages[0]?.rcptTo, ['carol@example.net']);
  // the session open across the reload: its transaction ends, its next one takes the added domain
  assert.equal((await open.command('DATA')).code, 354);
  assert.equal((await open.command('Subject: across\r\n\r\nhello\r\n.')).code, 250);
  await sink.waitForMessages(2);
  assert.deepEqual(sink.messages[1]?.rcptTo, ['erin@relay.example']);
  await nextTransactionTakes(open, 'carol@example.net', 'the open session takes the added domain');

  writeFileSync(file, started);
  assert.equal(gw.app.reload().ok, true);
  await refusedAsAnotherDomain(gw.smtpPort, 'carol@example.net', open, 'dave@example.net', 'nor from the open session');
  assert.equal((await open.command('QUIT')).code, 221);
});

/** Submits one message as postmaster@localhost (AUTH PLAIN on loopback): our own outgoing mail. */
async function submit(port: number, rcpt: string, subject: string): Promise<number> {
  const { wire } = await SmtpWire.open(port);
  try {
    await wire.command('EHLO client.test.example');
    assert.equal((await wire.command(`AUTH PLAIN ${Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64')}`)).code, 235);
    assert.equal((await wire.command('MAIL FROM:<postmaster@localhost>')).code, 250);
    assert.equal((await wire.command(`RCPT TO:<${rcpt}>`)).code, 250);
    assert.equal((await wire.command('DATA')).code, 354);
    return (await wire.command(`Subject: ${subject}\r\n\r\nhello\r\n.`, 10_000)).code;
  } finally {
    wire.close();
  }
}

test('front-of: the delivery router takes a domain a reload adds to local_domains as ours (our own mail to it keeps the X-Spamgate fields), and one removed as another\'s', async (t) => {
  const sink = await startSink({ lmtp: false });
  t.after(() => sink.close());
  const file = tempConfigFile(t);
  const gw = await startGateway(t, { ...UNTRUSTED, mode: 'front-of', local_domains: ['relay.example', 'localhost'], delivery: { upstream: { host: '127.0.0.1', port: sink.port } } }, { configFile: file });
  assert.ok(gw.submissionPort);
  const started = readFileSync(file, 'utf8');
  const spamgateFields = (i: number): boolean => /^X-Spamgate-/im.test(sink.messages[i]?.raw.toString('latin1') ?? '');
  assert.equal(await submit(gw.submissionPort, 'carol@example.net', 'before'), 250);
  await sink.waitForMessages(1);
  assert.equal(spamgateFields(0), false, 'another domain\'s copy has none');
  const edited = parseYaml(started) as { local_domains: string[] };
  edited.local_domains = ['relay.example', 'localhost', 'example.net'];
  writeFileSync(file, stringifyYaml(edited));
  assert.equal(gw.app.reload().ok, true);
  assert.equal(await submit(gw.submissionPort, 'carol@example.net', 'added'), 250);
  await sink.waitForMessages(2);
  assert.match(sink.messages[1]?.raw.toString('latin1') ?? '', /Subject: added/);
  assert.equal(spamgateFields(1), true, 'our own domain\'s copy keeps them (was: stripped until a restart)');
  writeFileSync(file, started);
  assert.equal(gw.app.reload().ok, true);
  assert.equal(await submit(gw.submissionPort, 'carol@example.net', 'removed'), 250);
  await sink.waitForMessages(3);
  assert.equal(spamgateFields(2), false, 'removed: another domain\'s again');
});

test('full-stack: a message queued for another domain before a reload adds it to local_domains is delivered to its mailbox at the next attempt', async (t) => {
  const file = tempConfigFile(t);
  // example.net's MX cannot be looked up yet: the message waits in the queue
  const gw = await startGateway(t, { ...UNTRUSTED }, { configFile: file, zones: { 'example.net': 'SERVFAIL' } });
  assert.ok(gw.submissionPort);
  assert.equal(await submit(gw.submissionPort, 'bob@example.net', 'queued before'), 250);
  assert.ok(await until(() => gw.logs.some((l) => l.msg === 'message deferred')), 'deferred: no MX yet');
  const edited = parseYaml(readFileSync(file, 'utf8')) as { local_domains: string[]; users: Record<string, unknown> };
  edited.local_domains = ['localhost', 'example.net'];
  edited.users['bob@example.net'] = { password: await hashPassword('bob-password', { N: 1024, r: 8, p: 1 }) };
  writeFileSync(file, stringifyYaml(edited));
  assert.equal(gw.app.reload().ok, true);
  await writeControlRequest(spoolPaths(spoolDir(gw.dataDir)), { op: 'flush' });
  // was: routed by the start's list, so by MX again (deferred until it gave up)
  assert.ok(await until(() => delivered(gw.dataDir, 'bob', 'example.net').length === 1), JSON.stringify(gw.logs.filter((l) => l.component === 'queue').slice(-4)));
  assert.match(delivered(gw.dataDir, 'bob', 'example.net')[0] ?? '', /Subject: queued before/);
});

test('full-stack: the config\'s aliases and users sections apply at a reload, as the users and aliases files do', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sg-aliases-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'spamgate.yaml');
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['local.example', 'localhost'], aliases: { 'old@local.example': 'postmaster@localhost' } }, { configFile: file });
  assert.equal((await rcptCode(gw.smtpPort, 'new@local.example')).code, 550);
  const edited = parseYaml(readFileSync(file, 'utf8')) as { aliases: Record<string, string>; users: Record<string, unknown> };
  edited.aliases = { 'new@local.example': 'postmaster@localhost' };
  edited.users['carol@local.example'] = { password: await hashPassword('carol-password', { N: 1024, r: 8, p: 1 }) };
  writeFileSync(file, stringifyYaml(edited));
  const since = gw.logs.length;
  assert.equal(gw.app.reload().ok, true);
  assert.equal((await rcptCode(gw.smtpPort, 'new@local.example')).code, 250, 'an alias added to the config');
  assert.equal((await rcptCode(gw.smtpPort, 'old@local.example')).code, 550, 'an alias removed from it');
  assert.equal((await rcptCode(gw.smtpPort, 'carol@local.example')).code, 250, 'a user added to it');
  const warned = gw.logs.slice(since).find((l) => l.msg === 'settings changed that apply after a restart; the running instance keeps the old ones');
  assert.equal(warned, undefined, JSON.stringify(warned));
});

test('full-stack: a reload whose users or aliases section the user directory refuses fails whole, and changes nothing', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sg-aliases-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'spamgate.yaml');
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['local.example', 'localhost'], aliases: { 'old@local.example': 'postmaster@localhost' } }, { configFile: file });
  const edited = parseYaml(readFileSync(file, 'utf8')) as { local_domains: string[]; aliases: Record<string, string>; users: Record<string, unknown> };
  // a domain is added, and a user at one that is not
  edited.local_domains = ['local.example', 'localhost', 'added.example'];
  edited.aliases = { 'new@local.example': 'postmaster@localhost', 'info@added.example': 'postmaster@localhost' };
  edited.users['dave@other.example'] = { password: await hashPassword('dave-password', { N: 1024, r: 8, p: 1 }) };
  writeFileSync(file, stringifyYaml(edited));
  const since = gw.logs.length;
  const r = gw.app.reload();
  // was ok: the rest of the config ran while the directory kept the old users and aliases
  assert.equal(r.ok, false, 'the reload is refused');
  assert.match(r.ok ? '' : r.error, /users\.dave@other\.example: domain other\.example is not in local_domains/);
  assert.equal((await rcptCode(gw.smtpPort, 'old@local.example')).code, 250, 'the running aliases stay');
  assert.equal((await rcptCode(gw.smtpPort, 'new@local.example')).code, 550);
  assert.equal((await rcptCode(gw.smtpPort, 'info@added.example')).code, 554, 'and the running domains');
  assert.equal(gw.logs.slice(since).find((l) => l.msg === 'configuration reloaded'), undefined, 'nothing of the new config runs');
});

test('full-stack: a reload that finds the users file broken (domains unchanged) applies the config\'s aliases and users sections, keeps the file\'s last good users, and the watcher re-reads the fixed file with the new sections', async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sg-ufile-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));
  const usersFile = path.join(dataDir, 'users.yaml');
  const hash = await hashPassword('file-password', { N: 1024, r: 8, p: 1 });
  writeFileSync(usersFile, stringifyYaml({ 'dave@local.example': { password: hash } }));
  const file = tempConfigFile(t);
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['local.example', 'localhost'], aliases: { 'old@local.example': 'postmaster@localhost' } }, { configFile: file, dataDir });
  assert.equal((await rcptCode(gw.smtpPort, 'dave@local.example')).code, 250, 'a user of the file');
  const edited = parseYaml(readFileSync(file, 'utf8')) as { aliases: Record<string, string> };
  edited.aliases = { 'new@local.example': 'postmaster@localhost' };
  writeFileSync(file, stringifyYaml(edited));
  writeFileSync(usersFile, 'dave@local.example: [unclosed\n');
  const since = gw.logs.length;
  assert.equal(gw.app.reload().ok, true, 'a broken users file refuses no reload that keeps the domains');
  assert.ok(gw.logs.slice(since).some((l) => l.level === 'warn' && /users or aliases file broken/.test(String(l.msg))), 'the broken file is warned about');
  // was 550: the config's new aliases section waited for the next SIGHUP
  assert.equal((await rcptCode(gw.smtpPort, 'new@local.example')).code, 250, 'the config\'s new alias applies');
  assert.equal((await rcptCode(gw.smtpPort, 'old@local.example')).code, 550, 'the alias it removed is gone');
  assert.equal((await rcptCode(gw.smtpPort, 'dave@local.example')).code, 250, 'the file\'s last good users stay');
  // fixed: the watcher re-reads it, with the sections of the reload
  const fixedSince = gw.logs.length;
  writeFileSync(usersFile, stringifyYaml({ 'dave@local.example': { password: hash }, 'erin@local.example': { password: hash } }));
  assert.ok(await until(() => gw.logs.slice(fixedSince).some((l) => l.msg === 'user directory loaded')), 'the watcher reloaded the fixed file');
  assert.equal((await rcptCode(gw.smtpPort, 'erin@local.example')).code, 250, 'a user the fixed file adds');
  assert.equal((await rcptCode(gw.smtpPort, 'new@local.example')).code, 250, 'the reload\'s alias stays after the watcher\'s reload');
  assert.equal((await rcptCode(gw.smtpPort, 'old@local.example')).code, 550, 'the old config\'s alias does not come back');
});

test('full-stack: a reload that removes a domain its users still use fails whole, and changes nothing', async (t) => {
  const file = tempConfigFile(t);
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['localhost', 'local.example'], aliases: { 'u@local.example': 'postmaster@localhost' } }, { configFile: file });
  const edited = parseYaml(readFileSync(file, 'utf8')) as { local_domains: string[] };
  edited.local_domains = ['localhost'];
  writeFileSync(file, stringifyYaml(edited));
  const r = gw.app.reload();
  assert.equal(r.ok, false, 'refused: its alias would be at no local domain');
  assert.match(r.ok ? '' : r.error, /aliases\.u@local\.example: domain local\.example is not in local_domains/);
  assert.equal((await rcptCode(gw.smtpPort, 'u@local.example')).code, 250, 'the domain and its alias stay');
});

test('full-stack: a transaction begun before a reload that removes a domain takes no unverified recipient at it (relay control of its MAIL FROM still counts the domain local)', async (t) => {
  const file = tempConfigFile(t);
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['localhost', 'gone.example'] }, { configFile: file });
  assert.equal((await rcptCode(gw.smtpPort, 'nobody@gone.example')).code, 550, 'an unknown user at a local domain');
  const { wire: open } = await SmtpWire.open(gw.smtpPort);
  t.after(() => open.close());
  assert.equal((await open.command('EHLO across.test.example')).code, 250);
  assert.equal((await open.command('MAIL FROM:<sender@remote.example>')).code, 250);
  const edited = parseYaml(readFileSync(file, 'utf8')) as { local_domains: string[] };
  edited.local_domains = ['localhost'];
  writeFileSync(file, stringifyYaml(edited));
  const r = gw.app.reload();
  assert.equal(r.ok, true, r.ok ? '' : r.error);
  // was 250: the transaction's relay control took it as local mail, the user directory no longer knew the domain
  // and let it through unverified, and the queue sent it on by MX (from an untrusted client)
  const rcpt = await open.command('RCPT TO:<nobody@gone.example>');
  assert.ok(rcpt.code >= 400, `${rcpt.code} ${rcpt.text}`);
  assert.equal((await open.command('QUIT')).code, 221);
});

test('a quoted local part that needs no quotes names the same mailbox: accepted and delivered, never bounced', async (t) => {
  const gw = await startGateway(t, UNTRUSTED);
  const r = await sendMessage(gw.smtpPort, 'someone@remote.example', ['"postmaster"@localhost', '"post\\master"@localhost'], 'Subject: quoted\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  const tx = gw.transactions().at(-1);
  assert.deepEqual(tx?.rcpts, ['postmaster@localhost'], 'kept once, without the quotes');
  let done: Record<string, unknown> | undefined;
  for (let i = 0; i < 100 && !done; i++) {
    await new Promise((res) => setTimeout(res, 50));
    done = gw.logs.find((l) => l.msg === 'message done');
  }
  assert.equal(done?.failures, undefined, JSON.stringify(done));
  // delivered once, to INBOX or Junk by its score
  const maildir = path.join(gw.dataDir, 'mail', 'localhost', 'postmaster', 'Maildir');
  const count = (d: string): number => (existsSync(path.join(maildir, d)) ? readdirSync(path.join(maildir, d)).length : 0);
  const delivered = count('new') + count(path.join('.Junk', 'new'));
  assert.equal(delivered, 1);
  // a quoted local part that does need its quotes is not a user here: refused at RCPT, not bounced later
  assert.equal((await rcptCode(gw.smtpPort, '"post master"@localhost')).code, 550);
});

test('a local domain written as A-labels in the config receives mail however the client writes it', async (t) => {
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['localhost', 'xn--bcher-kva.example'], aliases: { 'info@xn--bcher-kva.example': 'postmaster@localhost' } });
  assert.equal((await rcptCode(gw.smtpPort, 'info@xn--bcher-kva.example')).code, 250);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  try {
    await wire.command('EHLO client.test.example');
    assert.equal((await wire.command('MAIL FROM:<someone@remote.example> SMTPUTF8')).code, 250);
    assert.equal((await wire.command('RCPT TO:<info@bücher.example>')).code, 250);
    assert.equal((await wire.command('RCPT TO:<nobody@bücher.example>')).code, 550, 'an unknown user of it is refused at RCPT, not relayed');
  } finally {
    wire.close();
  }
});

test('XCLIENT ADDR hands the session to the forwarded client: the identity the proxy authenticated as does not carry over', async (t) => {
  const gw = await startGateway(t, { smtp: { trusted_networks: [], xclient_from: ['127.0.0.1/32'] } });
  const plain = Buffer.from(`\0postmaster@localhost\0${TEST_PASSWORD}`).toString('base64');
  for (const xclient of ['XCLIENT ADDR=203.0.113.9 NAME=[UNAVAILABLE]', 'XCLIENT LOGIN=']) {
    const { wire } = await SmtpWire.open(gw.smtpPort);
    try {
      await wire.command('EHLO proxy.test.example');
      assert.equal((await wire.command(`AUTH PLAIN ${plain}`)).code, 235);
      assert.equal((await wire.command(xclient)).code, 220, xclient);
      const ehlo = await wire.command('EHLO client.example');
      // The forwarded client is off loopback and without TLS: AUTH is neither offered nor taken (RFC 4954 §4).
      if (xclient.includes('ADDR')) {
        assert.ok(!ehlo.lines.some((l) => /^AUTH\b/.test(l.slice(4))), `no AUTH offered: ${ehlo.lines.join('|')}`);
        assert.ok((await wire.command(`AUTH PLAIN ${plain}`)).code >= 500);
      }
      assert.equal((await wire.command('MAIL FROM:<postmaster@localhost>')).code, 250);
      const rcpt = await wire.command('RCPT TO:<victim@remote.example>');
      assert.equal(rcpt.code, 554, `${xclient}: ${rcpt.code} ${rcpt.text}`);
    } finally {
      wire.close();
    }
  }
});

test('XCLIENT LOGIN from a trusted proxy (as nginx\'s mail proxy sends it): the session is that user\'s; a name that is no user is refused', async (t) => {
  const gw = await startGateway(t, { smtp: { trusted_networks: [], xclient_from: ['127.0.0.1/32'] } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  try {
    await wire.command('EHLO proxy.test.example');
    assert.equal((await wire.command('XCLIENT ADDR=203.0.113.9 LOGIN=Postmaster@localhost')).code, 220);
    await wire.command('EHLO client.example');
    // the user's own address relays (RFC 4954 §6: an authenticated client may submit to any domain); another's is refused
    assert.equal((await wire.command('MAIL FROM:<someone.else@remote.example>')).code, 553);
    assert.equal((await wire.command('MAIL FROM:<postmaster@localhost>')).code, 250);
    const rcpt = await wire.command('RCPT TO:<friend@remote.example>');
    assert.equal(rcpt.code, 250, `${rcpt.code} ${rcpt.text}`);
  } finally {
    wire.close();
  }
  const { wire: other } = await SmtpWire.open(gw.smtpPort);
  try {
    await other.command('EHLO proxy.test.example');
    const refused = await other.command('XCLIENT ADDR=203.0.113.9 LOGIN=nobody@localhost');
    assert.equal(refused.code, 550, refused.text);
    assert.match(refused.text, /5\.7\.8 XCLIENT LOGIN names no user of this host/);
  } finally {
    other.close();
  }
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^spamgate_smtp_auth_total\{result="xclient"\} 1$/m);
  assert.match(metrics, /^spamgate_smtp_auth_total\{result="xclient_unknown"\} 1$/m);
});

test('relay: trusted networks relay; the local-sender option applies to them', async (t) => {
  const gw = await startGateway(t, { smtp: { relay_requires_local_sender: true } });
  assert.equal((await rcptCode(gw.smtpPort, 'someone@remote.example', 'me@localhost')).code, 250);
  const foreign = await rcptCode(gw.smtpPort, 'someone@remote.example', 'me@elsewhere.example');
  assert.equal(foreign.code, 553);
  assert.match(foreign.text, /^5\.7\.1 /);
});

test('XCLIENT is honoured only from configured addresses', async (t) => {
  const open = await startGateway(t, { smtp: { trusted_networks: [], xclient_from: ['127.0.0.1/32'] } });
  const { wire } = await SmtpWire.open(open.smtpPort);
  t.after(() => wire.close());
  const ehlo = await wire.command('EHLO proxy.test.example');
  assert.ok(ehlo.lines.some((l) => l.includes('XCLIENT')));
  const x = await wire.command('XCLIENT ADDR=192.0.2.77 NAME=[UNAVAILABLE] HELO=mail.client.example');
  assert.equal(x.code, 220);
  await wire.command('EHLO mail.client.example');
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: x\r\n\r\nx\r\n.')).code, 250);
  const tx = open.transactions().at(-1);
  assert.equal(tx?.client_ip, '192.0.2.77');
  assert.equal(tx?.helo, 'mail.client.example');
  const closed = await startGateway(t, { smtp: { trusted_networks: [], xclient_from: ['192.0.2.0/24'] } });
  const other = await SmtpWire.open(closed.smtpPort);
  t.after(() => other.wire.close());
  const e2 = await other.wire.command('EHLO proxy.test.example');
  assert.ok(!e2.lines.some((l) => l.includes('XCLIENT')));
  const refused = await other.wire.command('XCLIENT ADDR=192.0.2.77');
  assert.ok(refused.code >= 500, `XCLIENT from an untrusted peer refused, got ${refused.code}`);
});

function proxyV2(src: string, dst: string, sport: number, dport: number): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const body = Buffer.alloc(12);
  src.split('.').forEach((o, i) => body.writeUInt8(Number(o), i));
  dst.split('.').forEach((o, i) => body.writeUInt8(Number(o), 4 + i));
  body.writeUInt16BE(sport, 8);
  body.writeUInt16BE(dport, 10);
  const head = Buffer.from([0x21, 0x11, 0x00, 12]);
  return Buffer.concat([sig, head, body]);
}

test('PROXY protocol v1 and v2 from trusted proxies give the real client address', async (t) => {
  const gw = await startGateway(t, { smtp: { trusted_networks: ['192.0.2.50/32'], proxy_protocol_from: ['127.0.0.1/32'] } });
  for (const header of [Buffer.from('PROXY TCP4 192.0.2.50 192.0.2.1 40000 25\r\n'), proxyV2('192.0.2.50', '192.0.2.1', 40001, 25)]) {
    const wire = await SmtpWire.connect(gw.smtpPort);
    wire.write(header);
    assert.equal((await wire.read()).code, 220);
    await wire.command('EHLO c.test.example');
    await wire.command('MAIL FROM:<a@localhost>');
    // The real client is a trusted network: relaying is allowed.
    assert.equal((await wire.command('RCPT TO:<x@remote.example>')).code, 250);
    wire.close();
  }
  // Without a header from a proxy-protocol peer the session is refused.
  const bare = await SmtpWire.connect(gw.smtpPort);
  bare.write('EHLO c.test.example\r\n');
  const r = await bare.read();
  assert.equal(r.code, 421);
  bare.close();
  // From a peer not in proxy_protocol_from, a PROXY line is just a bad command.
  const direct = await startGateway(t, UNTRUSTED);
  const d = await SmtpWire.open(direct.smtpPort);
  const p = await d.wire.command('PROXY TCP4 192.0.2.50 192.0.2.1 40000 25');
  assert.equal(p.code, 500);
  await d.wire.command('EHLO c.test.example');
  await d.wire.command('MAIL FROM:<a@localhost>');
  assert.equal((await d.wire.command('RCPT TO:<x@remote.example>')).code, 554, 'no trust gained');
  d.wire.close();
});

test('rate limits count an IPv6 client as its /64, however the address is written', async (t) => {
  const gw = await startGateway(t, {
    smtp: { trusted_networks: [], proxy_protocol_from: ['127.0.0.1/32'] },
    limits: { per_ip: { messages: { limit: 2, window: '1h' }, connections: { limit: 3, window: '1h' } } },
  });
  const mail = async (src: string): Promise<number> => {
    const wire = await SmtpWire.connect(gw.smtpPort);
    try {
      wire.write(`PROXY TCP6 ${src} 2001:db8:ffff::1 40000 25\r\n`);
      const greeting = await wire.read();
      if (greeting.code !== 220) return greeting.code;
      await wire.command('EHLO client.example');
      return (await wire.command('MAIL FROM:<someone@remote.example>')).code;
    } finally {
      wire.close();
    }
  };
  // two messages from one /64, then the third (another address of it, in another spelling) is over
  assert.deepEqual([await mail('2001:db8:1:1::1'), await mail('2001:db8:1:1::2'), await mail('2001:DB8:1:1:0:0:0:3')], [250, 250, 450]);
  assert.equal(await mail('2001:db8:1:2::1'), 250, 'another /64 has its own budget');
  // the connection budget (3) of the first /64 is spent too: 421 at the greeting
  assert.equal(await mail('2001:db8:1:1::99'), 421);
  // IPv4 hosts behind NAT64 (64:ff9b::/96) share one /64 but are separate clients: each has its own budget.
  assert.deepEqual([await mail('64:ff9b::192.0.2.1'), await mail('64:ff9b::c000:201'), await mail('64:ff9b::192.0.2.2')], [250, 250, 250]);
  assert.equal(await mail('64:ff9b::192.0.2.1'), 450, 'the first host, in either spelling, has spent its budget');
});

test('pre-greet: a client talking before the greeting is refused with 554', async (t) => {
  const gw = await startGateway(t, { smtp: { trusted_networks: [], greet_delay: '300ms' } });
  const early = await SmtpWire.connect(gw.smtpPort);
  early.write('EHLO eager.test.example\r\n');
  const r = await early.read();
  assert.equal(r.code, 554);
  assert.match(r.text, /5\.5\.1/);
  // RFC 5321 §3.1: after a 554 greeting the server waits for QUIT, answering other commands with 503
  assert.equal((await early.read()).code, 503, 'the EHLO sent too early');
  assert.equal((await early.command('MAIL FROM:<a@remote.example>')).code, 503);
  const bye = await early.command('QUIT');
  assert.equal(bye.code, 221);
  assert.ok(await early.closedByServer(), 'closed after QUIT');
  early.close();
  const started = Date.now();
  const { wire, greeting } = await SmtpWire.open(gw.smtpPort);
  assert.equal(greeting.code, 220);
  assert.ok(Date.now() - started >= 250, 'greeting waits for the configured delay');
  wire.close();
});

test('pre-greet: a refused client that never sends QUIT is still hung up on, after a bounded number of commands', async (t) => {
  const gw = await startGateway(t, { smtp: { trusted_networks: [], greet_delay: '300ms' } });
  const early = await SmtpWire.connect(gw.smtpPort);
  t.after(() => early.close());
  early.write('EHLO eager.test.example\r\n');
  assert.equal((await early.read()).code, 554);
  const codes: number[] = [];
  for (let i = 0; i < REFUSED_SESSION_LIMITS.commands && !(await early.closedByServer(0)); i++) {
    codes.push((await early.read()).code);
    early.write('NOOP\r\n');
  }
  assert.deepEqual(codes, new Array<number>(REFUSED_SESSION_LIMITS.commands).fill(503));
  assert.ok(await early.closedByServer(), 'closed without QUIT');
});

test('rate limits: messages per client address per window, and concurrent connections per address', async (t) => {
  const gw = await startGateway(t, { ...UNTRUSTED, limits: { per_ip: { messages: { limit: 2, window: '1h' } } }, smtp: { trusted_networks: [], max_connections_per_ip: 2 } });
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { wire } = await SmtpWire.open(gw.smtpPort);
    await wire.command('EHLO c.test.example');
    codes.push((await wire.command('MAIL FROM:<a@remote.example>')).code);
    wire.close();
  }
  assert.deepEqual(codes, [250, 250, 450]);
  const a = await SmtpWire.open(gw.smtpPort);
  const b = await SmtpWire.open(gw.smtpPort);
  const c = await SmtpWire.connect(gw.smtpPort);
  const third = await c.read();
  assert.equal(third.code, 421);
  assert.match(third.text, /4\.7\.0 Too many connections/);
  for (const w of [a.wire, b.wire, c]) w.close();
});

test('STARTTLS then AUTH; AUTH refused without TLS off loopback; submission requires AUTH and sender ownership', async (t) => {
  const tls = selfSignedCert(t);
  const hash = await hashPassword('s3cret-pass');
  const gw = await startGateway(t, {
    smtp: { trusted_networks: [], tls, xclient_from: [] },
    users: { 'alice@localhost': { password: hash } },
  });
  // Loopback: AUTH without TLS is allowed (house rule), via python smtplib on submission.
  const sub = await runPython<{ code: number; own: number; foreign: number | string }>(
    `
import smtplib, json, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.ehlo('c.test.example')
code = s.login('alice@localhost', 's3cret-pass')[0]
own = len(s.sendmail('alice@localhost', ['bob@remote.example'], 'Subject: out\\r\\n\\r\\nhi\\r\\n'))
try:
    s.sendmail('mallory@localhost', ['bob@remote.example'], 'Subject: forged\\r\\n\\r\\nhi\\r\\n'); foreign = 0
except smtplib.SMTPSenderRefused as e:
    foreign = e.smtp_code
s.quit()
print(json.dumps({'code': code, 'own': own, 'foreign': foreign}))
`,
    [String(gw.submissionPort)],
  );
  assert.deepEqual(sub, { code: 235, own: 0, foreign: 553 });
  const noauth = await SmtpWire.open(gw.submissionPort ?? 0);
  await noauth.wire.command('EHLO c.test.example');
  assert.equal((await noauth.wire.command('MAIL FROM:<alice@localhost>')).code, 530);
  noauth.wire.close();
  // STARTTLS on the MX port, then AUTH.
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  const ehlo = await wire.command('EHLO c.test.example');
  assert.ok(ehlo.lines.some((l) => l.endsWith('STARTTLS')));
  assert.equal((await wire.command('STARTTLS')).code, 220);
  await wire.upgrade();
  const ehlo2 = await wire.command('EHLO c.test.example');
  assert.ok(ehlo2.lines.some((l) => l.includes('AUTH PLAIN LOGIN')));
  const bad = await wire.command(`AUTH PLAIN ${Buffer.from('\0alice@localhost\0wrong').toString('base64')}`);
  assert.equal(bad.code, 535);
  const good = await wire.command(`AUTH PLAIN ${Buffer.from('\0alice@localhost\0s3cret-pass').toString('base64')}`);
  assert.equal(good.code, 235);
  await wire.command('MAIL FROM:<alice@localhost>');
  assert.equal((await wire.command('RCPT TO:<bob@remote.example>')).code, 250, 'authenticated clients relay');
  writeFileSync(path.join(gw.dataDir, 'marker'), 'x');
});

test('a session that used STARTTLS gives its connection slots back when it ends', async (t) => {
  const gw = await startGateway(t, { smtp: { tls: selfSignedCert(t), max_connections_per_ip: 2 } });
  /** A greeting, retried briefly: the server may see the last session's close a moment after the client does. */
  const open = async (): Promise<{ wire: SmtpWire; code: number }> => {
    for (let i = 0; ; i++) {
      const { wire, greeting } = await SmtpWire.open(gw.smtpPort);
      if (greeting.code === 220 || i === 40) return { wire, code: greeting.code };
      wire.close();
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  for (let i = 0; i < 5; i++) {
    const { wire, code } = await open();
    try {
      assert.equal(code, 220, `TLS session ${i + 1}`);
      await wire.command('EHLO c.test.example');
      assert.equal((await wire.command('STARTTLS')).code, 220);
      await wire.upgrade();
      assert.equal((await wire.command('EHLO c.test.example')).code, 250);
      assert.equal((await wire.command('QUIT')).code, 221);
      assert.ok(await wire.closedByServer());
    } finally {
      wire.close();
    }
  }
  const { wire, code } = await open();
  wire.close();
  assert.equal(code, 220, 'a plain session after five TLS ones');
});

test('AUTH is not offered to a non-loopback client without TLS', async (t) => {
  // Listen on a non-loopback-looking address is not possible here; present one with PROXY instead.
  const gw = await startGateway(t, { smtp: { trusted_networks: [], proxy_protocol_from: ['127.0.0.1/32'] } });
  const socket = net.connect(gw.smtpPort, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.destroy();
  const wire = await SmtpWire.connect(gw.smtpPort);
  wire.write('PROXY TCP4 198.51.100.9 192.0.2.1 40000 25\r\n');
  assert.equal((await wire.read()).code, 220);
  const ehlo = await wire.command('EHLO c.test.example');
  assert.ok(!ehlo.lines.some((l) => l.includes('AUTH')), ehlo.lines.join('|'));
  const r = await wire.command(`AUTH PLAIN ${Buffer.from('\0alice@localhost\0x').toString('base64')}`);
  assert.ok(r.code >= 500);
  wire.close();
});

test('submission off loopback without TLS: MAIL gets 530 5.7.0 Must issue a STARTTLS command first (RFC 3207 §4)', async (t) => {
  const gw = await startGateway(t, { smtp: { trusted_networks: [], proxy_protocol_from: ['127.0.0.1/32'], tls: selfSignedCert(t) } });
  const wire = await SmtpWire.connect(gw.submissionPort ?? 0);
  t.after(() => wire.close());
  wire.write('PROXY TCP4 198.51.100.9 192.0.2.1 40000 587\r\n');
  assert.equal((await wire.read()).code, 220);
  await wire.command('EHLO c.test.example');
  const before = await wire.command('MAIL FROM:<alice@localhost>');
  assert.equal(before.code, 530);
  assert.match(before.text, /5\.7\.0 Must issue a STARTTLS command first/);
  assert.equal((await wire.command('STARTTLS')).code, 220);
  await wire.upgrade();
  await wire.command('EHLO c.test.example');
  const after = await wire.command('MAIL FROM:<alice@localhost>');
  assert.equal(after.code, 530);
  assert.match(after.text, /5\.7\.0 .*authentication required/i, 'over TLS, AUTH is what is missing');
});

test('POP-before-SMTP and IMAP-before-SMTP: a mailbox login opens relaying from that address', async (t) => {
  for (const protocol of ['pop3', 'imap'] as const) {
    const gw = await startGateway(t, { smtp: { trusted_networks: [] }, pop3: { pop_before_smtp: { enabled: true, ttl: '10m' } } });
    assert.equal((await rcptCode(gw.smtpPort, 'friend@remote.example', 'postmaster@localhost')).code, 554, 'no relaying before the login');
    const script =
      protocol === 'pop3'
        ? `import poplib, sys\nm = poplib.POP3('127.0.0.1', int(sys.argv[1]))\nm.user('postmaster@localhost'); m.pass_(sys.argv[2]); m.quit()\nprint('{}')`
        : `import imaplib, sys\nm = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))\nm.login('postmaster@localhost', sys.argv[2]); m.logout()\nprint('{}')`;
    await runPython(script, [String(protocol === 'pop3' ? gw.pop3Port : gw.imapPort), TEST_PASSWORD]);
    assert.equal((await rcptCode(gw.smtpPort, 'friend@remote.example', 'postmaster@localhost')).code, 250, `relaying after a ${protocol} login`);
  }
});

test('a reload gives IMAP and POP3 a certificate renewed in place, as it does SMTP', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sg-renew-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const issue = (cn: string): void =>
    void execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  issue('first.test');
  const gw = await startGateway(t, { smtp: { tls: { cert, key } } });
  const presented = async (port: number, greetingEnd: RegExp, command: string, ready: RegExp): Promise<string> => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    const until = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 200 && !re.test(text); i++) await new Promise((r) => setTimeout(r, 10));
      if (!re.test(text)) throw new Error(`no ${re} in ${JSON.stringify(text)}`);
    };
    socket.on('data', (d: string) => (text += d));
    await until(greetingEnd);
    text = '';
    socket.write(`${command}\r\n`);
    await until(ready);
    socket.removeAllListeners('data');
    const secure = tls.connect({ socket, rejectUnauthorized: false });
    await once(secure, 'secureConnect');
    const cn = String(secure.getPeerCertificate().subject?.CN ?? '');
    secure.destroy();
    return cn;
  };
  const imap = (): Promise<string> => presented(gw.imapPort ?? 0, /^\* OK.*\r\n/, 'a STARTTLS', /a OK.*\r\n/);
  const pop3 = (): Promise<string> => presented(gw.pop3Port ?? 0, /^\+OK.*\r\n/, 'STLS', /\+OK.*\r\n/);
  assert.deepEqual([await imap(), await pop3()], ['first.test', 'first.test']);
  issue('second.test');
  assert.equal(gw.app.reload().ok, true);
  assert.deepEqual([await imap(), await pop3()], ['second.test', 'second.test']);
});

test('a recipient refused at RCPT is logged ("refused": session, client, command, address, symbol, reply): no transaction line is written for it', async (t) => {
  const gw = await startGateway(t, { ...UNTRUSTED, local_domains: ['local.example', 'localhost'] });
  const r = await rcptCode(gw.smtpPort, 'victim@remote.example');
  assert.equal(r.code, 554);
  assert.equal((await rcptCode(gw.smtpPort, 'nobody@local.example')).code, 550);
  const refused = gw.logs.filter((l) => l.msg === 'refused');
  assert.equal(refused.length, 2, JSON.stringify(gw.logs));
  assert.equal(refused[0]?.level, 'info');
  assert.equal(refused[0]?.listener, 'smtp');
  assert.equal(refused[0]?.client_ip, '127.0.0.1');
  assert.equal(refused[0]?.helo, 'client.test.example');
  assert.equal(refused[0]?.command, 'RCPT');
  assert.equal(refused[0]?.address, 'victim@remote.example');
  assert.equal(refused[0]?.symbol, 'RELAY_DENIED');
  assert.match(String(refused[0]?.reply), /^554 5\.7\.1 Relay access denied/);
  assert.equal(refused[1]?.address, 'nobody@local.example');
  assert.match(String(refused[1]?.reply), /^550 5\.1\.1 /);
  assert.equal(typeof refused[0]?.session, 'string');
});

test('a refusal before the session state caught up with XCLIENT is logged with the forwarded client, not the proxy', async (t) => {
  const gw = await startGateway(t, { smtp: { trusted_networks: [], xclient_from: ['127.0.0.1/32'] }, local_domains: ['local.example'] });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO proxy.test.example')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await wire.command('XCLIENT ADDR=192.0.2.9')).code, 220);
  assert.equal((await wire.command('HELO client.test.example')).code, 250);
  // parameters after HELO are refused first thing, before the handler brings the session's state up to date
  assert.equal((await wire.command('MAIL FROM:<a@remote.example> BODY=8BITMIME')).code, 555);
  const refused = gw.logs.filter((l) => l.msg === 'refused');
  assert.equal(refused.length, 1, JSON.stringify(gw.logs));
  assert.equal(refused[0]?.client_ip, '192.0.2.9');
  assert.equal(refused[0]?.helo, 'client.test.example');
});
