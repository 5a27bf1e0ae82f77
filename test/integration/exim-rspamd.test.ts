// spamgate's rspamd listener asked by a real Exim (Debian's exim4-daemon-heavy 4.96, unpacked beside the system
// Postfix, not installed: the packages conflict) with `spam = nobody:true/defer_ok` and `spamd_address = …
// variant=rspamd`: an SMTP session tested with `exim -bh` (its own config by -C, spool and log in a temp dir)
// gets its DATA refused on spamgate's reject and accepted on a ham, with $spam_score and $spam_action from
// spamgate's answer and the envelope in spamgate's transaction log; with spamgate down, defer_ok lets mail in.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { freePort } from '../helpers/free-port.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { milterTestRules, scanTestConfig } from '../helpers/milter-gateway.ts';
import { runProgram, type ProgramRun } from '../helpers/run-program.ts';

/** .ci/run unpacks exim4-daemon-heavy here (dpkg -x) and adds its Debian-exim user. */
const EXIM = process.env.SPAMGATE_TEST_EXIM ?? '/opt/spamgate-test/exim4/usr/sbin/exim4';
const hasEximUser = existsSync('/etc/passwd') && /^Debian-exim:/m.test(readFileSync('/etc/passwd', 'utf8'));
const skip = !existsSync(EXIM) ? `Exim is not unpacked at ${EXIM} (.ci/run: apt-get download exim4-daemon-heavy, dpkg -x)` : !hasEximUser ? 'the Debian-exim user Exim is built for does not exist' : false;

/** Exim's config: the spam condition against spamgate, its verdict logged, a refusal on spamgate's reject. */
function eximConfig(dir: string, port: number): string {
  for (const sub of ['spool', 'log']) {
    mkdirSync(path.join(dir, sub));
    // Exim run by root with a config of its own gives up root for its Debian-exim user
    chmodSync(path.join(dir, sub), 0o777);
  }
  const file = path.join(dir, 'exim.conf');
  // run by another user, it stays that user: its spool files are to be its own (Exim chowns them to exim_user)
  const uid = process.getuid?.() ?? 0;
  const owner = uid === 0 ? '' : `exim_user = ${uid}\nexim_group = ${process.getgid?.() ?? uid}\n`;
  writeFileSync(
    file,
    `${owner}keep_environment =
primary_hostname = mx.example.test
spool_directory = ${dir}/spool
log_file_path = ${dir}/log/%slog
spamd_address = 127.0.0.1 ${port} variant=rspamd
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data

begin acl
acl_rcpt:
  accept
acl_data:
  warn spam = nobody:true/defer_ok
       log_message = SPAMGATE score=$spam_score action=$spam_action
  deny condition = \${if eq{$spam_action}{reject}}
       message = refused as spam (score $spam_score)
  accept
`,
  );
  return file;
}

/** One SMTP session through `exim -bh` from 127.0.0.1 (its name from /etc/hosts: no DNS is asked). */
function session(config: string, body: string): Promise<ProgramRun> {
  const input = `HELO mail.sender.example\r\nMAIL FROM:<news@sender.example>\r\nRCPT TO:<user@example.test>\r\nDATA\r\nFrom: news@sender.example\r\nTo: user@example.test\r\nSubject: monthly news\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <m1@sender.example>\r\n\r\n${body}\r\n.\r\nQUIT\r\n`;
  return runProgram(EXIM, ['-C', config, '-bh', '127.0.0.1'], { stdin: input, timeoutMs: 60_000 });
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-exim-'));
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(t: TestContext): Promise<RunningGateway & { scanHttpPort: number }> {
  const gw = await startGateway(t, {
    ...scanTestConfig(milterTestRules(t)),
    spamd: { enabled: true, listen: '127.0.0.1:0', http_listen: '127.0.0.1:0' },
  });
  assert.ok(gw.scanHttpPort, 'the rspamd http listener listens');
  return gw as RunningGateway & { scanHttpPort: number };
}

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

test('Exim spam = … variant=rspamd: spamgate\'s reject refuses the DATA, a ham is accepted, $spam_score and $spam_action', { skip }, async (t) => {
  const gw = await start(t);
  const config = eximConfig(tempDir(t), gw.scanHttpPort);

  const spam = await session(config, `Hello, REJECT-MARKER here.`);
  assert.equal(spam.status, 0, spam.stderr);
  assert.match(spam.stdout, /^550 refused as spam \(score 2\d\.\d\)\r?$/m, spam.stdout);
  assert.match(spam.stdout + spam.stderr, /SPAMGATE score=2\d\.\d action=reject/);

  const gtube = await session(config, GTUBE);
  assert.match(gtube.stdout, /^550 refused as spam \(score 10\d\d\.\d\)\r?$/m, gtube.stdout);

  const ham = await session(config, 'Hello, see you on Monday.');
  assert.match(ham.stdout, /^250 OK id=\S+\r?$/m, ham.stdout);
  assert.doesNotMatch(ham.stdout, /^550 /m);
  assert.match(ham.stdout + ham.stderr, /SPAMGATE score=\d+\.\d action=no action/);

  // the envelope Exim sent: the client, its HELO, the sender and the recipient
  const tx = gw.transactions().filter((l) => l.listener === 'spamd');
  assert.equal(tx.length, 3);
  assert.deepEqual([tx[0]?.client_ip, tx[0]?.from, tx[0]?.rcpts, tx[0]?.action], ['127.0.0.1', 'news@sender.example', ['user@example.test'], 'reject']);
  assert.match(String(tx[0]?.reply), /^rspamd-http check: spam /);
});

test('Exim spam = …/defer_ok with spamgate down: the message is accepted, not deferred', { skip }, async (t) => {
  const config = eximConfig(tempDir(t), await freePort());
  const r = await session(config, 'Hello, REJECT-MARKER here.');
  assert.match(r.stdout, /^250 OK id=\S+\r?$/m, r.stdout);
});
