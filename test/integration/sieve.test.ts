// Users' Sieve filters end to end over real sockets: a script set with `spamgate users sieve` files mail into a
// folder it makes (seen in the Maildir and over IMAP), with flags; redirect reaches the remote MX (the sink) with
// the hop marked; the filter's Junk routing stays the implicit keep and a script can read the verdict header;
// out-of-office replies go on; a script that fails at run time (too many redirects, a folder name taken from
// the message that is not valid), one that does not compile and a folder that cannot be made all deliver to
// INBOX, logged and counted; the CLI refuses a bad script with line:col and exit 1.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli } from '../helpers/cli-process.ts';
import type { RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { runPython } from '../helpers/python.ts';
import type { SinkServer } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { tempDir as makeTempDir } from '../helpers/temp-dir.ts';
import { messageDone } from '../helpers/await-log.ts';
import { ALICE, startSieveMailhost } from '../helpers/sieve-mailhost.ts';


const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-sieve-');

interface Setup {
  gw: RunningGateway;
  sink: SinkServer;
  dir: string;
  configFile: string;
  /** `spamgate users sieve alice@corp.example set` with this script. */
  setScript: (text: string) => Promise<{ code: number; out: string; err: string }>;
  users: (argv: string[], stdin?: string) => Promise<{ code: number; out: string; err: string }>;
  /** Sends one message to alice; resolves when the queue is done with it. */
  send: (subject: string, body?: string, from?: string) => Promise<void>;
  metrics: () => Promise<string>;
}

async function setup(t: TestContext, config: Record<string, unknown> = {}): Promise<Setup> {
  const { gw, sink, dir, configFile, users } = await startSieveMailhost(t, 'spamgate-sieve-', config);
  let seq = 0;
  return {
    gw,
    sink,
    dir,
    configFile,
    users,
    setScript: async (text) => {
      const file = path.join(dir, `script${++seq}.sieve`);
      writeFileSync(file, text);
      return users(['sieve', ALICE, 'set', file]);
    },
    send: async (subject, body = 'hello alice', from = 'bob@remote.example') => {
      const before = gw.logs.length;
      const r = await sendMessage(gw.smtpPort, from, [ALICE], `From: <${from}>\r\nTo: ${ALICE}\r\nSubject: ${subject}\r\nMessage-ID: <${++seq}.${Date.now()}@remote.example>\r\n\r\n${body}\r\n`);
      assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
      await messageDone(gw, before, /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '?');
    },
    metrics: async () => (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text(),
  };
}

const inbox = (s: Setup, folder = ''): string[] => maildirMessages(s.gw.dataDir, folder, 'alice', 'corp.example');

test('fileinto a folder the script names: made if missing, subscribed, flags set; other mail kept in INBOX', async (t) => {
  const s = await setup(t);
  const set = await s.setScript('require ["fileinto", "imap4flags"];\nif header :contains "subject" "report" {\n  fileinto :flags "\\\\Flagged" "Reports/Daily";\n  stop;\n}\n');
  assert.equal(set.code, 0, set.err);
  await s.send('Daily REPORT 42');
  await s.send('lunch?');
  const filed = inbox(s, '.Reports.Daily');
  assert.equal(filed.length, 1);
  assert.match(filed[0] ?? '', /^Subject: Daily REPORT 42$/m);
  assert.match(filed[0] ?? '', /^Delivered-To: alice@corp\.example$/m, 'the trace headers of local delivery are on every copy');
  assert.equal(inbox(s).length, 1);
  assert.match(inbox(s)[0] ?? '', /^Subject: lunch\?$/m);
  // over IMAP: the folder is listed as subscribed and the message carries the flag
  const py = await runPython<{ lsub: string[]; flags: string[] }>(`
import imaplib, json
m = imaplib.IMAP4('127.0.0.1', ${s.gw.imapPort ?? 0})
m.login('${ALICE}', 'alice-password')
lsub = [x.decode() for x in m.lsub('""', 'Reports/*')[1] if x]
m.select('"Reports/Daily"')
flags = [x.decode() for x in m.fetch('1', '(FLAGS)')[1] if isinstance(x, bytes)]
m.logout()
print(json.dumps({'lsub': lsub, 'flags': flags}))
`);
  assert.match(py.lsub.join('\n'), /Reports\/Daily/, 'subscribed');
  assert.match(py.flags.join('\n'), /\\Flagged/);
  const metrics = await s.metrics();
  assert.match(metrics, /^spamgate_sieve_actions_total\{action="fileinto"\} 1$/m);
  assert.match(metrics, /^spamgate_sieve_actions_total\{action="implicit_keep"\} 1$/m);
  assert.match(metrics, /^spamgate_local_deliveries_total\{result="delivered_folder"\} 1$/m);
});

test('redirect: the message reaches the remote address through the queue, envelope sender SRS-rewritten, Delivered-To marking the hop; no copy kept', async (t) => {
  const s = await setup(t);
  assert.equal((await s.setScript('if address :domain :is "from" "remote.example" { redirect "carol@remote.example"; }\n')).code, 0);
  await s.send('forward me');
  await s.sink.waitForMessages(1, 20_000);
  const out = s.sink.messages[0];
  assert.deepEqual(out?.rcptTo, ['carol@remote.example']);
  assert.match(out?.mailFrom ?? '', /^SRS0=[^=]+=[^=]+=remote\.example=bob@localhost$/i, 'sender rewritten as for alias forwards');
  const text = out?.raw.toString('utf8') ?? '';
  assert.match(text, /^Delivered-To: alice@corp\.example\r$/m);
  assert.match(text, /^Subject: forward me\r$/m);
  assert.equal(inbox(s).length, 0, 'redirect cancels the implicit keep');
  assert.match(await s.metrics(), /^spamgate_sieve_actions_total\{action="redirect"\} 1$/m);
});

test('spam verdicts: a script that only keeps leaves junk in Junk; the verdict header can be tested; an explicit fileinto wins; keep and fileinto of the same folder are one copy', async (t) => {
  const s = await setup(t);
  assert.equal((await s.setScript('require "fileinto";\nif header :matches "X-Spamgate-Result" "junk;*" {\n  if header :contains "subject" "review" { fileinto "INBOX"; stop; }\n  if header :contains "subject" "quarantine" { fileinto "Quarantine"; }\n}\nif header :contains "subject" "twice" { fileinto "INBOX"; keep; }\n')).code, 0);
  await s.send('plain junk', 'JUNK-MARKER');
  await s.send('junk for review', 'JUNK-MARKER');
  await s.send('junk to quarantine', 'JUNK-MARKER');
  await s.send('clean quarantine', 'nothing');
  await s.send('clean twice', 'nothing');
  assert.deepEqual(inbox(s, '.Junk').map((m) => /^Subject: (.*)$/m.exec(m)?.[1]?.trim()), ['***SPAM*** plain junk']);
  assert.deepEqual(inbox(s, '.Quarantine').map((m) => /^Subject: (.*)$/m.exec(m)?.[1]?.trim()), ['***SPAM*** junk to quarantine']);
  assert.deepEqual(inbox(s).map((m) => /^Subject: (.*)$/m.exec(m)?.[1]?.trim()).sort(), ['***SPAM*** junk for review', 'clean quarantine', 'clean twice'], 'fileinto "INBOX" beside keep is one copy (RFC 5228 §2.10.3)');
});

test('out-of-office replies go on: for a copy filed into a folder, not for a discarded or only redirected message', async (t) => {
  const s = await setup(t);
  const away = path.join(s.dir, 'away.txt');
  writeFileSync(away, 'Away.\n');
  assert.equal((await s.users(['vacation', ALICE, '--message-file', away])).code, 0);
  const script = 'require "fileinto";\nif header :contains "subject" "filed" { fileinto "Filed"; }\nelsif header :contains "subject" "drop" { discard; }\nelsif header :contains "subject" "away" { redirect "dave@remote.example"; }\n';
  assert.equal((await s.setScript(script)).code, 0);
  await s.send('filed', 'hello', 'bob@remote.example');
  await s.send('drop', 'hello', 'carol@remote.example');
  await s.send('away', 'hello', 'erin@remote.example');
  // the reply is decided during delivery, before the queue logs the message done (send waited for that)
  assert.deepEqual(s.gw.logs.filter((l) => l.msg === 'vacation reply queued').map((l) => l.to), ['bob@remote.example']);
  await s.sink.waitForMessages(2, 20_000);
  assert.deepEqual(s.sink.messages.map((m) => m.rcptTo.join(',')).sort(), ['bob@remote.example', 'dave@remote.example'], 'the reply to bob and the redirect to dave; no reply to carol or erin');
  assert.equal(inbox(s, '.Filed').length, 1);
  assert.equal(inbox(s).length, 0);
});

test('a script that fails at run time, one that does not compile and a folder that cannot be made: the message is kept in INBOX, logged and counted', async (t) => {
  const s = await setup(t, { mailhost: { watch_files: false, max_mailboxes: 10 } });
  // five redirects: past the bound of four at run time (RFC 5228 §2.10.6: kept, no action taken)
  const five = Array.from({ length: 5 }, (_, i) => `redirect "r${i}@remote.example";`).join('\n');
  assert.equal((await s.setScript(five)).code, 0);
  await s.send('runtime');
  assert.equal(inbox(s).length, 1);
  assert.equal(s.sink.messages.length, 0, 'no redirect of a failed script goes out');
  assert.ok(s.gw.logs.some((l) => l.msg === 'sieve script failed; message kept' && l.kind === 'runtime' && /more than 4 redirects/.test(String(l.reason))));

  // fileinto a name known only at run time (variables), not a valid mailbox name
  assert.equal((await s.setScript('require ["fileinto", "variables"];\nif header :matches "subject" "file under *" { fileinto "${1}"; }\n')).code, 0);
  await s.send('file under ../etc');
  assert.equal(inbox(s).length, 2);
  assert.ok(s.gw.logs.some((l) => l.msg === 'sieve script failed; message kept' && l.kind === 'runtime' && /line 2: fileinto: invalid mailbox name "\.\.\/etc"/.test(String(l.reason))));

  // written by hand past `set`: does not compile at delivery
  writeFileSync(path.join(s.gw.dataDir, 'mail', 'corp.example', 'alice', 'sieve', 'active.sieve'), 'fileinto "x";\n');
  await s.send('compile');
  assert.equal(inbox(s).length, 3);
  assert.ok(s.gw.logs.some((l) => l.msg === 'sieve script failed; message kept' && l.kind === 'compile' && /1:1: fileinto needs require "fileinto"/.test(String(l.reason))));

  // max_mailboxes 10: INBOX and 4 default folders, 5 made here, the sixth cannot be
  const six = 'require "fileinto";\n' + Array.from({ length: 6 }, (_, i) => `fileinto "F${i}";`).join('\n');
  assert.equal((await s.setScript(six)).code, 0);
  await s.send('limit');
  assert.equal(inbox(s).length, 4, 'kept in INBOX as well, for the folder that could not be made');
  assert.equal(inbox(s, '.F4').length, 1);
  assert.equal(inbox(s, '.F5').length, 0);
  assert.ok(s.gw.logs.some((l) => l.msg === 'sieve action failed; message kept' && /fileinto "F5"/.test(String(l.reason))));
  const metrics = await s.metrics();
  for (const [kind, n] of [['runtime', 2], ['compile', 1], ['action', 1]] as const) assert.match(metrics, new RegExp(`^spamgate_sieve_errors_total\\{kind="${kind}"\\} ${n}$`, 'm'));
});

test('users sieve: set refuses a bad script with FILE:line:col and exit 1; check prints the same; show and remove', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'spamgate.yaml');
  writeFileSync(config, `data_dir: ${path.join(dir, 'data')}\nlocal_domains: [example.com]\n`);
  const bad = path.join(dir, 'bad.sieve');
  writeFileSync(bad, 'require ["fileinto", "nosuch"];\nif header :is "subject" "x" {\n  fileinto "A"\n}\n');
  assert.equal((await runCli(['users', 'add', 'a@example.com', '--password-stdin', '--config', config], { stdin: 'a-password\n' })).code, 0);
  // independent runs side by side (each is a process start)
  const [check, refused, unknownExt, badName] = await Promise.all([
    runCli(['users', 'sieve', 'check', bad, '--config', config]),
    runCli(['users', 'sieve', 'a@example.com', 'set', bad, '--config', config]),
    runCli(['users', 'sieve', 'check', '-', '--config', config], { stdin: 'require ["fileinto", "nosuch"];\n' }),
    runCli(['users', 'sieve', '../a@example.com', 'show', '--config', config]),
  ]);
  assert.equal(check.code, 1);
  assert.equal(check.stderr, `${bad}:4:1: expected ";" or "{" after command "fileinto", found "}"\n`);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /:4:1: expected ";"/);
  assert.equal(unknownExt.code, 1);
  assert.equal(unknownExt.stderr, '-:1:9: unsupported extension "nosuch" (supported: fileinto, envelope, copy, imap4flags, variables, body, relational, comparator-i;ascii-numeric, reject, ereject, vacation, spamtest, spamtestplus, virustest, subaddress, mailbox, date, index, vacation-seconds, environment, duplicate, special-use)\n');
  assert.equal(badName.code, 2);
  assert.match(badName.stderr, /invalid user name/);
  assert.equal((await runCli(['users', 'sieve', 'a@example.com', 'show', '--config', config])).code, 1, 'nothing was set');
  const set = await runCli(['users', 'sieve', 'a@example.com', 'set', '-', '--config', config], { stdin: 'require "fileinto";\nfileinto "A";\n' });
  assert.equal(set.code, 0, set.stderr);
  const shown = await runCli(['users', 'sieve', 'a@example.com', 'show', '--config', config]);
  assert.equal(shown.stdout, 'require "fileinto";\nfileinto "A";\n');
  assert.equal((await runCli(['users', 'sieve', 'a@example.com', 'remove', '--config', config])).code, 0);
  assert.equal((await runCli(['users', 'sieve', 'a@example.com', 'remove', '--config', config])).code, 1);
});
