// ManageSieve (RFC 5804) over real sockets against a running spamgate: the capability greeting, AUTHENTICATE
// PLAIN (initial response and continuation; a wrong password; refused without TLS off loopback), PUTSCRIPT with
// {n+} and {n} literals, a bad script refused at line:col, LISTSCRIPTS/SETACTIVE and a message over SMTP filed by
// the active script, DELETESCRIPT of the active one refused, RENAMESCRIPT, HAVESPACE past the quotas, malformed
// commands answered with NO while the session goes on, STARTTLS with a test CA, the CLI's script in LISTSCRIPTS.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { usersCommand } from '../../src/commands/users.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createManageSieveServer } from '../../src/managesieve/server.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { createSieveStore } from '../../src/mailhost/sieve-store.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { systemClock } from '../../src/util/clock.ts';
import { createLogger } from '../../src/util/logger.ts';
import { runCommand } from '../helpers/command-io.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { makeTestCa } from '../helpers/test-ca.ts';
import { plain, SieveClient } from './managesieve-client.ts';

const USER = 'postmaster@localhost';
const DNS_CHECKS = ['fcrdns', 'helo', 'spf', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'];

async function gateway(t: TestContext, managesieve: Record<string, unknown> = {}): Promise<RunningGateway> {
  return startGateway(t, {
    managesieve: { enabled: true, listen: { host: '127.0.0.1', port: 0 }, ...managesieve },
    mailhost: { watch_files: false },
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
}

async function login(t: TestContext, gw: RunningGateway): Promise<SieveClient> {
  const { client } = await SieveClient.open(gw.managesievePort ?? 0, t);
  assert.match(await client.cmd(`AUTHENTICATE "PLAIN" "${plain(USER, TEST_PASSWORD)}"`), /^OK/);
  return client;
}

const literal = (text: string, sync = false): string => `{${Buffer.byteLength(text)}${sync ? '' : '+'}}\r\n${text}`;

test('greeting lists the capabilities; AUTHENTICATE PLAIN with continuation and with a wrong password; commands need a login', async (t) => {
  const gw = await gateway(t);
  const { client, greeting } = await SieveClient.open(gw.managesievePort ?? 0, t);
  assert.match(greeting, /^"IMPLEMENTATION" "spamgate"\r\n/);
  assert.match(greeting, /^"SASL" "PLAIN"\r\n/m, 'PLAIN is offered on loopback');
  assert.match(greeting, /^"SIEVE" "fileinto envelope copy imap4flags variables body relational comparator-i;ascii-numeric reject ereject vacation spamtest spamtestplus virustest subaddress mailbox date index vacation-seconds environment duplicate special-use"\r\n/m);
  assert.match(greeting, /^"VERSION" "1\.0"\r\n/m);
  assert.match(greeting, /^"UNAUTHENTICATE"\r\n/m, 'RFC 5804 §2.14.1: the command is supported, so advertised');
  assert.doesNotMatch(greeting, /STARTTLS/, 'no STARTTLS without a certificate');
  assert.match(greeting, /\r\nOK "spamgate ManageSieve ready"\r\n$/);
  assert.match(await client.cmd('LISTSCRIPTS'), /^NO "LISTSCRIPTS needs a login first"/);
  assert.match(await client.cmd(`AUTHENTICATE "PLAIN" "${plain(USER, 'wrong')}"`), /^NO "invalid user name or password"/);
  client.write('AUTHENTICATE "PLAIN"\r\n');
  assert.equal(await client.response(/""\r\n$/), '""\r\n', 'an empty challenge (RFC 5804 §2.1)');
  assert.match(await client.cmd(`"${plain(USER, TEST_PASSWORD)}"`), /^OK "logged in"/);
  assert.match(await client.cmd('LISTSCRIPTS'), /^OK\r\n$/);
  assert.match(await client.cmd('NOOP "abc"'), /^OK \(TAG "abc"\)/);
  // RFC 5804 §2.4: CAPABILITY answers the same lines, the newer extensions among them
  assert.match(await client.cmd('CAPABILITY'), /^"SIEVE" "[^"]* subaddress mailbox date index vacation-seconds environment duplicate special-use"\r\n[\s\S]*\r\nOK/m);
  assert.match(await client.cmd('UNAUTHENTICATE'), /^OK/);
  assert.match(await client.cmd('LISTSCRIPTS'), /^NO/);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^spamgate_managesieve_logins_total\{result="success"\} 1$/m);
  assert.match(metrics, /^spamgate_managesieve_logins_total\{result="failure"\} 1$/m);
  assert.match(metrics, /^spamgate_managesieve_sessions_total 1$/m);
  assert.match(await client.cmd('LOGOUT'), /^OK/);
});

test('CHECKSCRIPT: a script as Roundcube writes it with the newer extensions compiles; misuse is named at line:col', async (t) => {
  const gw = await gateway(t);
  const c = await login(t, gw);
  const script = [
    'require ["fileinto", "envelope", "subaddress", "mailbox", "date", "index", "relational", "vacation", "vacation-seconds", "environment", "duplicate", "special-use"];',
    '# rule:[plus]',
    'if envelope :detail "to" "news" { fileinto :create "News"; }',
    '# rule:[old]',
    'if date :value "lt" :originalzone "date" "date" "2020-01-01" { fileinto :specialuse "\\\\Archive" "Archive"; }',
    'if allof (currentdate :value "ge" "iso8601" "2026-01-01T00:00:00Z", environment "location" "MDA") { vacation :seconds 3600 "away"; }',
    'if duplicate :seconds 86400 { discard; }',
    'if header :index 1 :last :contains "received" "example" { keep; }',
  ].join('\n');
  assert.match(await c.cmd(`CHECKSCRIPT ${literal(script)}`), /^OK/);
  assert.match(await c.cmd(`CHECKSCRIPT ${literal('require "fileinto";\nfileinto :create "x";\n')}`), /^NO \{\d+\}\r\n2:10: ":create" needs require "mailbox"\r\n$/, 'a reason with quotes comes as a literal');
});

test('PUTSCRIPT ({n+} and {n}), a bad script at line:col, SETACTIVE, and a message over SMTP filed by the active script', async (t) => {
  const gw = await gateway(t);
  const c = await login(t, gw);
  const bad = 'require "fileinto";\nif header :contains "subject" "x" {\n  fileinto;\n}\n';
  const refused = await c.cmd(`PUTSCRIPT "bad" ${literal(bad)}`);
  assert.match(refused, /^NO "3:3: /, 'the problem at line:col (RFC 5804 §2.6)');
  assert.match(await c.cmd(`CHECKSCRIPT ${literal(bad)}`), /^NO "3:3: /);
  // every extension the SIEVE capability lists compiles (RFC 5804 §1.7)
  const extensions = 'require ["body", "relational", "comparator-i;ascii-numeric", "vacation", "ereject"];\nif body :count "gt" :comparator "i;ascii-numeric" "5" { ereject "too many parts"; }\nelse { vacation :days 3 "away"; }\n';
  assert.match(await c.cmd(`CHECKSCRIPT ${literal(extensions)}`), /^OK/);
  const good = 'require "fileinto";\nif header :contains "subject" "report" {\n  fileinto "Reports";\n}\n';
  assert.match(await c.cmd(`PUTSCRIPT "filing" ${literal(good)}`), /^OK/);
  // a synchronizing literal: the server invites the octets first
  c.write(`PUTSCRIPT "second" {5}\r\n`);
  assert.match(await c.response(/^\+ .*\r\n$/), /^\+ /);
  assert.match(await c.cmd('keep;'), /^OK/);
  assert.equal(await c.cmd('LISTSCRIPTS'), '"filing"\r\n"second"\r\nOK\r\n');
  assert.match(await c.cmd('SETACTIVE "missing"'), /^NO \(NONEXISTENT\)/);
  assert.match(await c.cmd('SETACTIVE "filing"'), /^OK/);
  assert.equal(await c.cmd('LISTSCRIPTS'), '"filing" ACTIVE\r\n"second"\r\nOK\r\n');
  assert.equal(await c.cmd('GETSCRIPT "filing"'), `{${good.length}}\r\n${good}\r\nOK\r\n`);
  for (const subject of ['daily report', 'lunch']) {
    const r = await sendMessage(gw.smtpPort, 'bob@remote.example', [USER], `From: <bob@remote.example>\r\nTo: ${USER}\r\nSubject: ${subject}\r\n\r\nhi\r\n`);
    assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  }
  for (let i = 0; i < 200 && maildirMessages(gw.dataDir).length + maildirMessages(gw.dataDir, '.Reports').length < 2; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(maildirMessages(gw.dataDir, '.Reports').length, 1, 'filed by the active script');
  assert.match(maildirMessages(gw.dataDir, '.Reports')[0] ?? '', /^Subject: daily report$/m);
  assert.equal(maildirMessages(gw.dataDir).length, 1);
  // RFC 5804 §2.10: the active script cannot be deleted; another can
  assert.match(await c.cmd('DELETESCRIPT "filing"'), /^NO \(ACTIVE\)/);
  assert.match(await c.cmd('DELETESCRIPT "second"'), /^OK/);
  assert.match(await c.cmd('DELETESCRIPT "second"'), /^NO \(NONEXISTENT\)/);
  // renaming the active script keeps it active
  assert.match(await c.cmd('RENAMESCRIPT "filing" "mine"'), /^OK/);
  assert.equal(await c.cmd('LISTSCRIPTS'), '"mine" ACTIVE\r\nOK\r\n');
  assert.match(await c.cmd(`PUTSCRIPT "other" ${literal('keep;')}`), /^OK/);
  assert.match(await c.cmd('RENAMESCRIPT "other" "mine"'), /^NO \(ALREADYEXISTS\)/);
  assert.match(await c.cmd('SETACTIVE ""'), /^OK/);
  assert.equal(await c.cmd('LISTSCRIPTS'), '"mine"\r\n"other"\r\nOK\r\n');
});

test('HAVESPACE and PUTSCRIPT past the quotas; malformed commands get NO and the session goes on', async (t) => {
  const gw = await gateway(t, { max_scripts: 2, max_script_size: 100 });
  const c = await login(t, gw);
  assert.match(await c.cmd('HAVESPACE "a" 100'), /^OK/);
  assert.match(await c.cmd('HAVESPACE "a" 101'), /^NO \(QUOTA\/MAXSIZE\)/);
  assert.match(await c.cmd(`PUTSCRIPT "big" ${literal(`# ${'x'.repeat(120)}\nkeep;`)}`), /^NO \(QUOTA\/MAXSIZE\)/);
  assert.match(await c.cmd(`PUTSCRIPT "a" ${literal('keep;')}`), /^OK/);
  assert.match(await c.cmd(`PUTSCRIPT "b" ${literal('keep;')}`), /^OK/);
  assert.match(await c.cmd('HAVESPACE "c" 10'), /^NO \(QUOTA\/MAXSCRIPTS\)/);
  assert.match(await c.cmd('HAVESPACE "a" 10'), /^OK/, 'replacing a script needs no new slot');
  assert.match(await c.cmd(`PUTSCRIPT "c" ${literal('keep;')}`), /^NO \(QUOTA\/MAXSCRIPTS\)/);
  for (const bad of ['PUTSCRIPT "unterminated', 'HAVESPACE a b', '{}', 'FROBNICATE', 'GETSCRIPT "../../etc"x', 'PUTSCRIPT "\u0001" "keep;"', `GETSCRIPT "${'n'.repeat(121)}"`]) {
    assert.match(await c.cmd(bad), /^NO /, bad);
  }
  assert.match(await c.cmd('GETSCRIPT "../../etc/passwd"'), /^NO \(NONEXISTENT\)/, 'a name is never a path');
  assert.equal(await c.cmd('LISTSCRIPTS'), '"a"\r\n"b"\r\nOK\r\n');
});

test('STARTTLS with the test CA: capabilities again after the handshake, PLAIN then offered', async (t) => {
  const ca = makeTestCa(t);
  const { cert, key } = ca.issue(['sieve.test.example']);
  const dir = path.dirname(ca.caFile);
  writeFileSync(path.join(dir, 'ms.pem'), cert);
  writeFileSync(path.join(dir, 'ms.key'), key);
  const gw = await gateway(t, { tls: { cert: path.join(dir, 'ms.pem'), key: path.join(dir, 'ms.key') } });
  const { client, greeting } = await SieveClient.open(gw.managesievePort ?? 0, t);
  assert.match(greeting, /^"STARTTLS"\r\n/m);
  assert.match(await client.cmd('STARTTLS'), /^OK/);
  const caps = await client.startTls(ca.ca, 'sieve.test.example');
  assert.match(caps, /^"IMPLEMENTATION" "spamgate"\r\n/, 'RFC 5804 §2.2: capabilities after the handshake');
  assert.doesNotMatch(caps, /STARTTLS/);
  assert.match(await client.cmd('STARTTLS'), /^NO/);
  assert.match(await client.cmd(`AUTHENTICATE "PLAIN" "${plain(USER, TEST_PASSWORD)}"`), /^OK/);
});

test('off the plaintext networks without TLS: no SASL mechanism offered and AUTHENTICATE refused (ENCRYPT-NEEDED)', async (t) => {
  const registry = createRegistry();
  let asked = false;
  const server = createManageSieveServer({
    store: createSieveStore('/nonexistent'),
    authenticate: async () => ((asked = true), 'someone@localhost'),
    limits: { plaintextNetworks: [] },
    registry,
    log: createLogger('error'),
    clock: systemClock,
  });
  await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const { client, greeting } = await SieveClient.open(server.address()?.port ?? 0, t);
  assert.match(greeting, /^"SASL" ""\r\n/m);
  assert.match(await client.cmd(`AUTHENTICATE "PLAIN" "${plain('someone@localhost', 'pw')}"`), /^NO \(ENCRYPT-NEEDED\)/);
  assert.equal(asked, false, 'the password was never checked');
});

test('NOOP tag (RFC 5804 §2.13) comes back as a ManageSieve string: a tab as is, CRLF in a literal, never JSON escapes', async (t) => {
  const server = createManageSieveServer({ store: createSieveStore('/nonexistent'), authenticate: async () => undefined, registry: createRegistry(), log: createLogger('error'), clock: systemClock });
  await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const { client } = await SieveClient.open(server.address()?.port ?? 0, t);
  assert.equal(await client.cmd('NOOP "a\tb"'), 'OK (TAG "a\tb") "done"\r\n');
  client.write('NOOP {4+}\r\nx\r\ny\r\n');
  assert.equal(await client.response(/"done"\r\n$/), 'OK (TAG {4}\r\nx\r\ny) "done"\r\n');
});

test('users sieve set stores "spamgate-cli" and activates it; ManageSieve sees it; remove deactivates', async (t) => {
  const gw = await gateway(t);
  const configFile = path.join(gw.dataDir, 'cli.yaml');
  writeFileSync(configFile, `local_domains: [localhost]\nusers:\n  ${USER}: { password: '${await hashPassword('x', { N: 1024, r: 8, p: 1 })}' }\n`);
  const file = path.join(gw.dataDir, 'f.sieve');
  writeFileSync(file, 'keep;\n');
  const run = (positional: string[]) => runCommand(usersCommand, { flags: new Map(), positional, configFile, dataDir: gw.dataDir }, '');
  assert.equal((await run(['sieve', USER, 'set', file])).code, 0);
  const c = await login(t, gw);
  assert.equal(await c.cmd('LISTSCRIPTS'), '"spamgate-cli" ACTIVE\r\nOK\r\n');
  assert.equal(readFileSync(path.join(gw.dataDir, 'mail/localhost/postmaster/sieve/active.sieve'), 'utf8'), 'keep;\n');
  assert.equal((await run(['sieve', USER, 'remove'])).code, 0);
  assert.equal(await c.cmd('LISTSCRIPTS'), '"spamgate-cli"\r\nOK\r\n');
  // a script written before named scripts (active.sieve alone) is adopted as spamgate-cli at login
  const sieveDir = path.join(gw.dataDir, 'mail/localhost/postmaster/sieve');
  rmSync(path.join(sieveDir, 'scripts'), { recursive: true });
  writeFileSync(path.join(sieveDir, 'active.sieve'), 'discard;\n');
  const again = await login(t, gw);
  assert.equal(await again.cmd('LISTSCRIPTS'), '"spamgate-cli" ACTIVE\r\nOK\r\n');
  assert.equal(await again.cmd('GETSCRIPT "spamgate-cli"'), '{9}\r\ndiscard;\n\r\nOK\r\n');
});

test('config: managesieve in front-of mode is refused naming the key', () => {
  assert.throws(() => loadConfig({ inline: { mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port: 25 } }, managesieve: { enabled: true } } }), /managesieve\.enabled/);
});

test('bounds: commands before login and the idle timeout end the session with BYE', async (t) => {
  const server = createManageSieveServer({
    store: createSieveStore('/nonexistent'),
    authenticate: async () => undefined,
    limits: { maxCommandsBeforeAuth: 3, idleTimeoutMs: 300 },
    registry: createRegistry(),
    log: createLogger('error'),
    clock: systemClock,
  });
  await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  const port = server.address()?.port ?? 0;
  const { client } = await SieveClient.open(port, t);
  for (let i = 0; i < 3; i++) assert.match(await client.cmd('NOOP'), /^OK/);
  assert.match(await client.cmd('NOOP'), /^BYE "too many commands before login"/);
  const idle = (await SieveClient.open(port, t)).client;
  assert.match(await idle.response(), /^BYE "idle for too long"/);
});
