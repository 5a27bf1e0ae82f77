// An alias one member of which defers is retried; a real spamgate SIGKILLed between two attempts and started again
// must not give the members that already have the message a second copy (the spool's progress record of the
// message outlives the process), and the member that fails for good is named in one notice; a member that still
// defers at queue.max_age is named in that notice alone, not the whole alias.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { hashPassword } from '../../src/mailhost/password.ts';
import { readEnvelopeFile } from '../../src/queue/spool-format.ts';
import { freePort } from '../helpers/free-port.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { runProgram } from '../helpers/run-program.ts';
import { ServeProcess } from '../helpers/serve-process.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');

/** Polls until `done` holds (at most 20 s: two heavy test files may share two cores); false if it never did. */
async function until(done: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (!(await done())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** A real spamgate (full-stack) and the views of its data directory a test needs; `queueExtra`: more queue settings. */
async function setUp(t: TestContext, queueExtra = '') {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-alias-restart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  const smtpPort = await freePort();
  const hash = await hashPassword('a-long-password', { N: 1024, r: 8, p: 1 });
  const configFile = path.join(dir, 'spamgate.yaml');
  // b@ has room for one message of 4000 octets (it then defers: 452 4.2.2); tiny@ for none (552 5.2.3, for good).
  // The queue retries only when flushed (or at queue.max_age): the attempts are the ones the test makes.
  writeFileSync(
    configFile,
    `mode: full-stack
data_dir: ${dataDir}
local_domains: [localhost]
users:
  "postmaster@localhost": { password: "${hash}" }
  "a@localhost": { password: "${hash}" }
  "b@localhost": { password: "${hash}", quota: 7000 }
  "tiny@localhost": { password: "${hash}", quota: 1024 }
aliases:
  "team@localhost": ["a@localhost", "b@localhost", "tiny@localhost"]
smtp: { listen: { port: ${smtpPort} }, hostname: mx.test.example }
submission: { enabled: false }
http: { listen: { port: ${await freePort()} } }
pop3: { enabled: false }
imap: { enabled: false }
log_level: error
dns: { servers: ["127.0.0.1:9"], timeout: 100ms, retries: 0 }
queue: { retry_initial: 1h, retry_max: 1h, scan_interval: 100ms${queueExtra} }
`,
  );
  const serve = new ServeProcess();
  t.after(() => serve.kill());
  const start = (): Promise<void> => serve.start(process.execPath, [CLI, 'serve', '--config', configFile]);
  const spoolMsg = path.join(dataDir, 'spool', 'msg');
  // a message the running queue removes between the listing and the read is no longer queued (skipped, not an error)
  const queued = async (): Promise<Array<{ id: string; mailFrom: string; rcptTo: string[] }>> =>
    (
      await Promise.all(
        readdirSync(spoolMsg)
          .filter((n) => n.endsWith('.msg'))
          .map(async (n) => {
            try {
              return [{ id: n.slice(0, -4), ...(await readEnvelopeFile(path.join(spoolMsg, n))).envelope }];
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
              throw err;
            }
          }),
      )
    ).flat();
  const copies = (user: string, subject: string): number => maildirMessages(dataDir, '', user).filter((m) => m.includes(`Subject: ${subject}\r\n`)).length;
  const send = async (rcpt: string, subject: string): Promise<void> => {
    const body = `From: bob@remote.example\r\nTo: ${rcpt}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@alias.test>\r\n\r\n${'x'.repeat(4000)}\r\n`;
    const r = await sendMessage(smtpPort, 'bob@remote.example', [rcpt], body);
    assert.equal(r.data?.code, 250, `${subject} accepted`);
  };

  return { dataDir, configFile, serve, start, spoolMsg, queued, copies, send };
}

test('an alias retried after a SIGKILL and a restart: each member has the message once, the failed member is named in one notice', async (t) => {
  const { dataDir, configFile, serve, start, spoolMsg, queued, copies, send } = await setUp(t);
  await start();
  await send('b@localhost', 'filler');
  assert.ok(await until(() => copies('b', 'filler') === 1), 'the filler is in b@\'s mailbox');
  await send('team@localhost', 'alias-restart');
  // the first attempt: a@ has it, b@ deferred (the alias stays queued), tiny@ waits for the alias's end
  const stateDir = path.join(dataDir, 'spool', 'state');
  const attempted = async (): Promise<boolean> => {
    const alias = (await queued()).find((q) => q.rcptTo.includes('team@localhost'));
    if (!alias) return false;
    try {
      return (JSON.parse(readFileSync(path.join(stateDir, `${alias.id}.json`), 'utf8')) as { attempts: number }).attempts >= 1;
    } catch {
      return false;
    }
  };
  assert.ok(await until(attempted), `the alias was tried once and stays queued; output: ${serve.output}`);
  assert.equal(copies('a', 'alias-restart'), 1);
  assert.equal(copies('b', 'alias-restart'), 0);

  await serve.kill();
  // b@ makes room while spamgate is down
  const bNew = path.join(dataDir, 'mail', 'localhost', 'b', 'Maildir', 'new');
  for (const f of readdirSync(bNew)) if (readFileSync(path.join(bNew, f), 'latin1').includes('Subject: filler\r\n')) unlinkSync(path.join(bNew, f));
  await start();
  const flush = await runProgram(process.execPath, [CLI, 'queue', 'flush', '--config', configFile]);
  assert.equal(flush.status, 0, flush.stderr);
  assert.ok(await until(async () => !(await queued()).some((q) => q.rcptTo.includes('team@localhost'))), `the alias is done; output: ${serve.output}`);

  assert.equal(copies('a', 'alias-restart'), 1, 'a@ had the message before the restart: no second copy');
  assert.equal(copies('b', 'alias-restart'), 1, 'b@ got it at the retry, once');
  assert.equal(copies('tiny', 'alias-restart'), 0);
  // the notice to bob@remote.example stays queued (no DNS here): one, naming tiny@ alone
  const notices = (await queued()).filter((q) => q.mailFrom === '');
  assert.equal(notices.length, 1, 'one failure notice');
  const notice = readFileSync(path.join(spoolMsg, `${notices[0]?.id}.msg`), 'latin1');
  assert.match(notice, /Final-Recipient: rfc822; ?tiny@localhost/i);
  assert.doesNotMatch(notice, /Final-Recipient: rfc822; ?(a|b)@localhost/i);
});

test('an alias member that defers until queue.max_age: the notice names that member alone (from the alias), the other keeps its one copy', async (t) => {
  const { serve, start, spoolMsg, queued, copies, send } = await setUp(t, ', max_age: 3s');
  await start();
  await send('b@localhost', 'filler');
  assert.ok(await until(() => copies('b', 'filler') === 1), 'the filler is in b@\'s mailbox');
  await send('team@localhost', 'alias-expiry');
  // tried at once and then at max_age (whichever attempt a@ gets it in, b@ defers in each)
  assert.ok(await until(async () => !(await queued()).some((q) => q.rcptTo.includes('team@localhost'))), `the alias is done; output: ${serve.output}`);
  assert.equal(copies('a', 'alias-expiry'), 1);
  assert.equal(copies('b', 'alias-expiry'), 0);
  const notices = (await queued()).filter((q) => q.mailFrom === '');
  assert.equal(notices.length, 1, 'one failure notice');
  const notice = readFileSync(path.join(spoolMsg, `${notices[0]?.id}.msg`), 'latin1');
  // tiny@ failed for good, b@ expired: each by name, the alias as Original-Recipient; a@ and the alias not failed
  assert.match(notice, /Final-Recipient: rfc822; ?b@localhost\r\nAction: failed\r\nStatus: 4\.4\.7/i);
  assert.match(notice, /Final-Recipient: rfc822; ?tiny@localhost/i);
  assert.match(notice, /Original-Recipient: rfc822; ?team@localhost/i);
  assert.doesNotMatch(notice, /Final-Recipient: rfc822; ?(a|team)@localhost/i);
});
