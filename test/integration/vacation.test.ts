// Out-of-office replies end to end over real sockets: a user's vacation set with `spamgate users vacation`, a
// remote sender's message answered once (from <>, RFC 3834 headers) at the sender's MX (the sink); no reply again
// within `days`, none to automatic, list, bulk, null-sender or Bcc'd mail, none after --off or past --until
// (clock moved on); the reply DKIM-signed with the user's domain key; CLI errors exit 2 with one line.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { runCli } from '../helpers/cli-process.ts';
import { keygen, verifierAt } from '../helpers/dkim-keys.ts';
import { tempDir as makeTempDir } from '../helpers/temp-dir.ts';
import { usersCliFor } from '../helpers/users-cli.ts';
import { awaitLog } from '../helpers/await-log.ts';

const DAY = 86_400_000;
const mx = (name: string) => ({ [name]: [{ MX: [10, `mx.${name}`] as [number, string] }], [`mx.${name}`]: [{ A: '127.0.0.1' }] });
const ZONES = { ...mx('remote.example'), ...mx('other.example') };
const ALICE = 'alice@corp.example';

const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-vacation-');

interface Setup {
  gw: RunningGateway;
  sink: SinkServer;
  dir: string;
  users: (argv: string[], stdin?: string) => Promise<{ code: number; out: string; err: string }>;
}

/** A gateway whose config is a file (so `spamgate users` can work on its data dir), alice added, all remote MX the sink. */
async function setup(t: TestContext, clock?: { now(): number }, config: Record<string, unknown> = {}): Promise<Setup> {
  const dir = tempDir(t);
  const sink = await startSink();
  t.after(() => sink.close());
  const configFile = path.join(dir, 'spamgate.yaml');
  const gw = await startGateway(t, { local_domains: ['localhost', 'corp.example'], outbound: { port: sink.port }, mailhost: { watch_files: false }, ...config }, { zones: ZONES, configFile, ...(clock ? { clock } : {}) });
  const users = usersCliFor(gw, configFile, ['--message-file', '--subject', '--until', '--days']);
  assert.equal((await users(['add', ALICE, '--password-stdin'], 'alice-password\n')).code, 0);
  return { gw, sink, dir, users };
}

async function setVacation(s: Setup, extra: string[] = [], text = 'I am away until Monday.\nÀ bientôt.\n'): Promise<void> {
  const file = path.join(s.dir, 'away.txt');
  writeFileSync(file, text);
  const r = await s.users(['vacation', ALICE, '--message-file', file, ...extra]);
  assert.equal(r.code, 0, r.err);
}

let seq = 0;
/** Sends one message to alice; resolves once the vacation logic has decided on it (reply queued or suppressed). */
async function send(gw: RunningGateway, from: string, headers: string, rcpts: string[] = [ALICE]): Promise<Record<string, unknown>> {
  const id = `<m${++seq}.${Date.now()}@remote.example>`;
  const before = gw.logs.length;
  const r = await sendMessage(gw.smtpPort, from, rcpts, `From: <${from || 'daemon@remote.example'}>\r\n${headers}Subject: Meeting\r\nMessage-ID: ${id}\r\n\r\nhello alice\r\n`);
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  const queueId = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1];
  assert.ok(queueId, r.data?.text);
  // the vacation decision is made during the local delivery, so before the queue says the message is done
  return awaitLog(gw, before, (l) => l.id === queueId && (l.msg === 'vacation reply queued' || l.msg === 'vacation reply suppressed' || l.msg === 'message done'), 'a vacation decision');
}

test('one reply from <> with the RFC 3834 headers reaches the sender; none again within days; none to automatic, list, bulk, null-sender or Bcc mail', async (t) => {
  // a DKIM key for the users' domain: the reply is signed like spamgate's notices
  const key = await keygen(tempDir(t), 'corp.example', 'vac');
  const s = await setup(t, undefined, { dkim: { sign: [{ domain: 'corp.example', selector: 'vac', key: key.file }] } });
  s.gw.dns.set(key.name, [{ TXT: key.record }]);
  await setVacation(s, ['--days', '3']);
  const first = await send(s.gw, 'bob@remote.example', `To: Alice <${ALICE}>\r\n`);
  assert.equal(first.msg, 'vacation reply queued');
  await s.sink.waitForMessages(1, 20_000);
  const reply = s.sink.messages[0];
  assert.ok(reply);
  assert.equal(reply.mailFrom, '', 'RFC 3834 §3.3: from the null reverse path');
  assert.deepEqual(reply.rcptTo, ['bob@remote.example']);
  const text = reply.raw.toString('utf8');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  assert.match(head, /^DKIM-Signature: .*\bd=corp\.example;/m, 'signed with the key of the user\'s domain');
  assert.deepEqual((await verifierAt(s.gw.dns.server)(reply.raw)).map((r) => `${r.result} ${r.domain}/${r.selector}`), ['pass corp.example/vac'], 'and it verifies');
  assert.match(head, /^From: <alice@corp\.example>$/m);
  assert.match(head, /^To: <bob@remote\.example>$/m);
  assert.match(head, /^Subject: Auto: Meeting$/m);
  assert.match(head, /^Auto-Submitted: auto-replied$/m);
  assert.match(head, /^In-Reply-To: <m\d+\.\d+@remote\.example>$/m);
  assert.match(head, /^References: <m\d+\.\d+@remote\.example>$/m);
  assert.match(head, /^Message-ID: <vacation\.[0-9a-f]+@corp\.example>$/m);
  assert.match(head, /^Date: /m);
  assert.match(head, /^Content-Type: text\/plain; charset=utf-8$/m);
  assert.match(text, /I am away until Monday\.\r\n=C3=80 bient=C3=B4t\./);

  // the same sender again within 3 days: no reply (RFC 3834 §2)
  assert.equal((await send(s.gw, 'BOB@remote.example', `To: ${ALICE}\r\n`)).reason, 'already_replied');
  const cases: Array<[string, string, string, string[]?]> = [
    ['carol@remote.example', `To: ${ALICE}\r\nAuto-Submitted: auto-generated\r\n`, 'auto_submitted'],
    ['carol@remote.example', `To: ${ALICE}\r\nList-Id: <news.remote.example>\r\n`, 'mailing_list'],
    ['carol@remote.example', `To: ${ALICE}\r\nPrecedence: bulk\r\n`, 'bulk_precedence'],
    ['', `To: ${ALICE}\r\n`, 'null_sender'],
    ['carol@remote.example', 'To: postmaster@localhost\r\n', 'not_in_to_cc', [ALICE, 'postmaster@localhost']],
    ['noreply@remote.example', `To: ${ALICE}\r\n`, 'system_sender'],
  ];
  for (const [from, headers, reason, rcpts] of cases) {
    assert.equal((await send(s.gw, from, headers, rcpts)).reason, reason, reason);
  }
  // Auto-Submitted: no is a person's message; Cc names her: answered
  assert.equal((await send(s.gw, 'dave@other.example', `To: someone@other.example\r\nCc: ${ALICE}\r\nAuto-Submitted: no\r\n`)).msg, 'vacation reply queued');
  await s.sink.waitForMessages(2, 20_000);
  assert.deepEqual(
    s.sink.messages.map((m) => m.rcptTo[0]),
    ['bob@remote.example', 'dave@other.example'],
    'only the two answerable messages got replies',
  );
  const metrics = await (await fetch(`http://127.0.0.1:${s.gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^spamgate_vacation_replies_total\{result="sent"\} 2$/m);
  assert.match(metrics, /^spamgate_vacation_replies_total\{result="already_replied"\} 1$/m);
  assert.match(metrics, /^spamgate_vacation_replies_total\{result="expired"\} 0$/m);
});

test('after --off no reply; past --until (clock moved on) no reply; a configured UTF-8 subject is RFC 2047-encoded', async (t) => {
  let offset = 0;
  const s = await setup(t, { now: () => Date.now() + offset });
  const tomorrow = new Date(Date.now() + DAY).toISOString().slice(0, 10);
  await setVacation(s, ['--until', tomorrow, '--subject', 'Abwesend – zurück am Montag']);
  assert.equal((await send(s.gw, 'bob@remote.example', `To: ${ALICE}\r\n`)).msg, 'vacation reply queued');
  await s.sink.waitForMessages(1, 20_000);
  const head = s.sink.messages[0]?.raw.toString('utf8') ?? '';
  assert.match(head, /^Subject: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=(?:\r\n =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=)*\r\n/m);
  const encoded = /^Subject: (.*(?:\r\n .*)*)\r\n/m.exec(head)?.[1] ?? '';
  const decoded = [...encoded.matchAll(/=\?UTF-8\?B\?([^?]+)\?=/g)].map((m) => Buffer.from(m[1] ?? '', 'base64').toString('utf8')).join('');
  assert.equal(decoded, 'Abwesend – zurück am Montag');

  offset = 3 * DAY; // past the end of --until
  assert.equal((await send(s.gw, 'carol@remote.example', `To: ${ALICE}\r\n`)).reason, 'expired');

  offset = 0;
  assert.equal((await s.users(['vacation', ALICE, '--off'])).code, 0);
  const afterOff = await send(s.gw, 'erin@remote.example', `To: ${ALICE}\r\n`);
  assert.equal(afterOff.msg, 'message done', 'delivered with no vacation decision at all once it is off');
  assert.equal(s.sink.messages.length, 1);
});

const cli = (args: readonly string[]) => runCli(args);

test('users vacation: a message file too big, a bad date, a past date exit 2 with one clear line', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'spamgate.yaml');
  writeFileSync(config, `data_dir: ${path.join(dir, 'data')}\nlocal_domains: [example.com]\n`);
  const big = path.join(dir, 'big.txt');
  writeFileSync(big, 'x'.repeat(16 * 1024 + 1));
  const ok = path.join(dir, 'ok.txt');
  writeFileSync(ok, 'away\n');
  const runs = await Promise.all([
    cli(['users', 'vacation', 'a@example.com', '--message-file', big, '--config', config]),
    cli(['users', 'vacation', 'a@example.com', '--message-file', ok, '--until', '2026-02-30', '--config', config]),
    cli(['users', 'vacation', 'a@example.com', '--message-file', ok, '--until', '2001-01-01', '--config', config]),
  ]);
  const expected = [/--message-file: .*big\.txt is larger than 16384 bytes/, /--until: expected a date YYYY-MM-DD, found "2026-02-30"/, /--until: 2001-01-01 is in the past/];
  runs.forEach((r, i) => {
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, expected[i] ?? /^$/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
