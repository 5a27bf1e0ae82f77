// The Sieve extensions end to end over real SMTP into the running gateway: reject sends the sender a
// non-delivery notice from <> carrying the reason (caught at the sender's MX, the sink), none for spam, the
// null sender or mailer-daemon; vacation replies once per sender within :days, not to list mail or the null
// sender, and stands in for the administrator's out-of-office reply; body matches a base64 and a
// quoted-printable part; relational :count and :value with i;ascii-numeric.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import type { SinkServer } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { messageDone } from '../helpers/await-log.ts';
import { ALICE, startSieveMailhost } from '../helpers/sieve-mailhost.ts';


interface Setup {
  gw: RunningGateway;
  sink: SinkServer;
  dir: string;
  setScript: (text: string) => Promise<void>;
  users: (argv: string[], stdin?: string) => Promise<{ code: number; out: string; err: string }>;
  /** Sends one message (header lines, then the body) to alice; resolves when the queue is done with it. */
  send: (from: string, head: string, body: string) => Promise<string>;
}

async function setup(t: TestContext, extra: Record<string, unknown> = {}): Promise<Setup> {
  const { gw, sink, dir, users } = await startSieveMailhost(t, 'spamgate-sieve-ext-', extra, ['--message-file', '--subject', '--until', '--days']);
  let seq = 0;
  return {
    gw,
    sink,
    dir,
    users,
    setScript: async (text) => {
      const file = path.join(dir, `script${++seq}.sieve`);
      writeFileSync(file, text);
      const r = await users(['sieve', ALICE, 'set', file]);
      assert.equal(r.code, 0, r.err);
    },
    send: async (from, head, body) => {
      const before = gw.logs.length;
      const r = await sendMessage(gw.smtpPort, from, [ALICE], `${head}Message-ID: <${++seq}.${Date.now()}@remote.example>\r\n\r\n${body}\r\n`);
      assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
      const queueId = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
      await messageDone(gw, before, queueId);
      return queueId;
    },
  };
}

const inbox = (s: Setup, folder = ''): string[] => maildirMessages(s.gw.dataDir, folder, 'alice', 'corp.example');
const logsOf = (s: Setup, id: string, msg: string): Array<Record<string, unknown>> => s.gw.logs.filter((l) => l.id === id && l.msg === msg);

test('reject: the sender gets a notice from <> with the reason, nothing is stored; no notice for spam, the null sender or mailer-daemon', async (t) => {
  const s = await setup(t);
  await s.setScript('require "reject";\nif header :contains "subject" "offer" { reject "Alice takes no offers by mail."; }\n');
  const spam = await s.send('carol@remote.example', `From: <carol@remote.example>\r\nTo: ${ALICE}\r\nSubject: offer\r\n`, 'JUNK-MARKER');
  const nul = await s.send('', `From: <daemon@remote.example>\r\nTo: ${ALICE}\r\nSubject: offer\r\n`, 'hello');
  const daemon = await s.send('MAILER-DAEMON@remote.example', `From: <MAILER-DAEMON@remote.example>\r\nTo: ${ALICE}\r\nSubject: offer\r\n`, 'hello');
  assert.equal(logsOf(s, spam, 'sieve reject: message dropped without a notice')[0]?.why, 'spam');
  assert.equal(logsOf(s, nul, 'sieve reject: message dropped without a notice')[0]?.why, 'null_sender');
  assert.equal(logsOf(s, daemon, 'sieve reject: message dropped without a notice')[0]?.why, 'system_sender');
  // counted once: for the spam, not for the null sender or mailer-daemon
  assert.match(await s.gw.app.registry.metrics(), /^spamgate_notices_suppressed_total\{notice="sieve_reject"\} 1$/m);
  await s.send('bob@remote.example', `From: <bob@remote.example>\r\nTo: ${ALICE}\r\nSubject: special offer\r\n`, 'buy now');
  await s.sink.waitForMessages(1, 20_000);
  assert.equal(s.sink.messages.length, 1, 'one notice: to bob only');
  const notice = s.sink.messages[0];
  assert.equal(notice?.mailFrom, '', 'from the null sender');
  assert.deepEqual(notice?.rcptTo, ['bob@remote.example']);
  const text = notice?.raw.toString('utf8') ?? '';
  assert.match(text, /^Content-Type: multipart\/report; report-type=delivery-status/m);
  assert.match(text, /^Status: 5\.7\.1\r$/m);
  assert.match(text, /Alice takes no offers by mail\./);
  assert.match(text, /^Subject: special offer\r$/m, 'the original headers come back');
  assert.equal(inbox(s).length, 0, 'nothing stored, not even the spam');
  assert.equal(inbox(s, '.Junk').length, 0);
});

test('reject by one member of an alias that also reached another: no failure notice for the alias, the other member has the message', async (t) => {
  const s = await setup(t, { aliases: { 'team@corp.example': [ALICE, 'bob@corp.example'] } });
  assert.equal((await s.users(['add', 'bob@corp.example', '--password-stdin'], 'bob-password\n')).code, 0);
  await s.setScript('require "reject";\nif header :contains "subject" "offer" { reject "Alice takes no offers by mail."; }\n');
  const before = s.gw.logs.length;
  const r = await sendMessage(s.gw.smtpPort, 'carol@remote.example', ['team@corp.example'], 'From: <carol@remote.example>\r\nTo: team@corp.example\r\nSubject: offer\r\nMessage-ID: <team.1@remote.example>\r\n\r\nfor the team\r\n');
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
  const done = await messageDone(s.gw, before, id);
  assert.equal(maildirMessages(s.gw.dataDir, '', 'bob', 'corp.example').length, 1, 'bob has it');
  assert.equal(inbox(s).length, 0, 'alice does not');
  assert.equal(logsOf(s, id, 'bounce queued').length, 0, 'no notice saying team@ failed: it was delivered to bob');
  assert.equal(done.failures, undefined);
});

test('vacation: one reply per sender within :days, from <> with the :subject; none to list mail or the null sender; it replaces the administrator reply', async (t) => {
  const s = await setup(t);
  const away = path.join(s.dir, 'away.txt');
  writeFileSync(away, 'ADMINISTRATOR TEXT\n');
  assert.equal((await s.users(['vacation', ALICE, '--message-file', away])).code, 0);
  await s.setScript('require ["vacation", "fileinto"];\nvacation :days 3 :subject "Out until June" :addresses ["alice.smith@corp.example"] :handle "june" "I am away; back in June.";\nif header :contains "subject" "file" { fileinto "Filed"; }\n');
  const head = (from: string, to: string, subject: string, extra = ''): string => `From: <${from}>\r\nTo: ${to}\r\nSubject: ${subject}\r\n${extra}`;
  const first = await s.send('bob@remote.example', head('bob@remote.example', ALICE, 'file this'), 'hello');
  const second = await s.send('bob@remote.example', head('bob@remote.example', ALICE, 'again'), 'hello');
  const list = await s.send('news@remote.example', head('news@remote.example', ALICE, 'newsletter', 'List-Id: <news.remote.example>\r\n'), 'hello');
  const nul = await s.send('', head('daemon@remote.example', ALICE, 'notice'), 'hello');
  // :addresses: mail to another of alice's addresses named in the script is answered too
  const other = await s.send('dave@remote.example', head('dave@remote.example', 'alice.smith@corp.example', 'hi'), 'hello');
  assert.ok(logsOf(s, first, 'vacation reply queued').length === 1);
  assert.equal(logsOf(s, second, 'vacation reply suppressed')[0]?.reason, 'already_replied');
  assert.equal(logsOf(s, list, 'vacation reply suppressed')[0]?.reason, 'mailing_list');
  assert.equal(logsOf(s, nul, 'vacation reply suppressed')[0]?.reason, 'null_sender');
  assert.ok(logsOf(s, other, 'vacation reply queued').length === 1);
  await s.sink.waitForMessages(2, 20_000);
  assert.deepEqual(s.sink.messages.map((m) => m.rcptTo.join(',')).sort(), ['bob@remote.example', 'dave@remote.example'], 'one reply each; the administrator reply is not sent beside it');
  for (const m of s.sink.messages) {
    const text = m.raw.toString('utf8');
    assert.equal(m.mailFrom, '');
    assert.match(text, /^Subject: Out until June\r$/m);
    assert.match(text, /^Auto-Submitted: auto-replied\r$/m);
    assert.match(text, /I am away; back in June\./);
    assert.doesNotMatch(text, /ADMINISTRATOR TEXT/);
  }
  assert.equal(inbox(s, '.Filed').length, 1, 'the script\'s other actions still happen');
  assert.equal(inbox(s).length, 4);
});

test('body: matches text in a base64 part and in a quoted-printable HTML part (decoded); an attachment is not text', async (t) => {
  const s = await setup(t);
  await s.setScript('require ["body", "fileinto"];\nif body :contains "invoice 4711" { fileinto "Invoices"; }\nelsif body :contains "Café special" { fileinto "Cafe"; }\nelsif body :contains "secret payload" { fileinto "Attachments"; }\n');
  const multipart = (parts: string[]): string => ['--b1', ...parts.flatMap((p) => [p, '--b1']).slice(0, -1), '--b1--', ''].join('\r\n');
  const mime = `From: <bob@remote.example>\r\nTo: ${ALICE}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n`;
  await s.send('bob@remote.example', `${mime}Subject: b64\r\n`, multipart([`Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from('Grüße, here is invoice 4711.\r\n', 'utf8').toString('base64')}`]));
  await s.send('bob@remote.example', `${mime}Subject: qp\r\n`, multipart(['Content-Type: text/plain\r\n\r\nsee below', 'Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Caf=E9 <b>spe=\r\ncial</b> today</p>']));
  await s.send('bob@remote.example', `${mime}Subject: attachment\r\n`, multipart(['Content-Type: text/plain\r\n\r\nsee attached', `Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from('secret payload').toString('base64')}`]));
  assert.deepEqual(inbox(s, '.Invoices').map((m) => /^Subject: (.*)$/m.exec(m)?.[1]?.trim()), ['b64']);
  assert.deepEqual(inbox(s, '.Cafe').map((m) => /^Subject: (.*)$/m.exec(m)?.[1]?.trim()), ['qp']);
  assert.equal(inbox(s, '.Attachments').length, 0);
  assert.deepEqual(inbox(s).map((m) => /^Subject: (.*)$/m.exec(m)?.[1]?.trim()), ['attachment']);
});

test('relational: :count of To and Cc addresses and :value of a header under i;ascii-numeric', async (t) => {
  const s = await setup(t);
  await s.setScript(
    'require ["relational", "comparator-i;ascii-numeric", "fileinto"];\nif address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" { fileinto "Crowd"; }\nelsif header :value "gt" :comparator "i;ascii-numeric" "x-priority" "3" { fileinto "Later"; }\n',
  );
  const head = (to: string, cc: string, priority: string, subject: string): string => `From: <bob@remote.example>\r\nTo: ${to}\r\n${cc ? `Cc: ${cc}\r\n` : ''}X-Priority: ${priority}\r\nSubject: ${subject}\r\n`;
  await s.send('bob@remote.example', head(`${ALICE}, carol@remote.example`, 'dave@remote.example', '1', 'three'), 'hello');
  await s.send('bob@remote.example', head(`${ALICE}, carol@remote.example`, '', '1', 'two'), 'hello');
  await s.send('bob@remote.example', head(ALICE, '', '10', 'ten'), 'hello');
  await s.send('bob@remote.example', head(ALICE, '', '2', 'nine'), 'hello');
  const subjects = (folder: string): Array<string | undefined> => inbox(s, folder).map((m) => /^Subject: (.*)$/m.exec(m)?.[1]?.trim()).sort();
  assert.deepEqual(subjects('.Crowd'), ['three']);
  assert.deepEqual(subjects('.Later'), ['ten'], '10 > 3 as numbers, not as strings');
  assert.deepEqual(subjects(''), ['nine', 'two']);
});
