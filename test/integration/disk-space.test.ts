// Never lose mail when the disk fills: the queue.min_free guard at MAIL (real statfs, reloadable), and a real
// spamgate process whose data directory is a tiny tmpfs (in a mount namespace of its own) filled with mail: the
// message that does not fit gets 452 4.3.1 (SMTP) or NO [OVERQUOTA] (IMAP APPEND) and leaves nothing behind, and
// what was acknowledged is kept and delivered.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { connect } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { hashPassword } from '../../src/mailhost/password.ts';
import { freePort } from '../helpers/free-port.ts';
import { startGateway } from '../helpers/gateway.ts';
import { startSink } from '../helpers/sink-server.ts';
import { SmtpWire, type Reply } from '../helpers/smtp-wire.ts';
import { Raw } from './imap-raw.ts';
import { ServeProcess } from '../helpers/serve-process.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');

/** The directory's entries once it is seen empty, or as they are after 5 s (files that stay are no passing writes). */
async function seenEmpty(dir: string): Promise<string[]> {
  const deadline = Date.now() + 5000;
  while (readdirSync(dir).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return readdirSync(dir);
}

async function metric(httpPort: number, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** One message on an open session (after EHLO); the reply to the end of the data, or the first refusal before it. */
async function transaction(wire: SmtpWire, subject: string, body: string): Promise<Reply> {
  const mail = await wire.command('MAIL FROM:<a@remote.example>');
  if (mail.code !== 250) return mail;
  const rcpt = await wire.command('RCPT TO:<user@relay.example>');
  if (rcpt.code !== 250) return rcpt;
  const data = await wire.command('DATA');
  if (data.code !== 354) return data;
  wire.write(`From: a@remote.example\r\nTo: user@relay.example\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@disk.test>\r\n\r\n${body}`);
  return wire.command('.', 30_000);
}

test('queue.min_free above the free space: every MAIL gets 452 4.3.1, the session goes on (not counted as the client\'s errors), and a reload that lowers it lets mail through', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-minfree-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'spamgate.yaml');
  // a petabyte: more than any disk this runs on has free
  const gw = await startGateway(t, { mode: 'front-of', local_domains: ['relay.example'], delivery: { upstream: { host: '127.0.0.1', port: sink.port } }, queue: { min_free: '1048576g' }, smtp: { max_bad_commands: 3 } }, { configFile });
  assert.ok(gw.httpPort);
  const free = await metric(gw.httpPort, 'spamgate_queue_free_bytes');
  assert.ok(free !== undefined && free > 0, `free bytes exported: ${free}`);
  assert.equal(await metric(gw.httpPort, 'spamgate_queue_min_free_bytes'), 1048576 * 1024 ** 3);
  // a load balancer sends the mail elsewhere: not ready, but alive
  const probe = async (p: string): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}${p}`);
    return { status: res.status, body: await res.json() };
  };
  assert.deepEqual(await probe('/readyz'), { status: 503, body: { ready: false, reasons: ['spool_space'] } });
  assert.equal((await probe('/healthz')).status, 200);

  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  // a client with several messages tries each: more refusals than max_bad_commands, and no 421 "Too many errors"
  for (const mail of ['MAIL FROM:<a@remote.example>', 'MAIL FROM:<a@remote.example> SIZE=100', 'MAIL FROM:<b@remote.example>', 'MAIL FROM:<c@remote.example>']) {
    const refused = await wire.command(mail);
    assert.equal(refused.code, 452, refused.text);
    assert.match(refused.text, /^4\.3\.1 Insufficient system storage/);
  }
  assert.equal((await wire.command('RCPT TO:<user@relay.example>')).code, 503, 'no transaction was opened');
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await wire.command('NOOP')).code, 250);
  assert.equal(await metric(gw.httpPort, 'spamgate_smtp_insufficient_storage_total{phase="mail"}'), 4);

  await writeFile(configFile, (await readFile(configFile, 'utf8')).replace('min_free: 1048576g', 'min_free: 1m'));
  assert.equal(gw.app.reload().ok, true);
  assert.deepEqual(await probe('/readyz'), { status: 200, body: { ready: true } });
  const accepted = await transaction(wire, 'after-reload', 'now there is room\r\n');
  assert.equal(accepted.code, 250, accepted.text);
  await sink.waitForMessages(1);
  assert.equal((await wire.command('QUIT')).code, 221);
});

/** Whether this machine lets us mount a tmpfs in a mount namespace of our own (root, or user namespaces allowed). */
function canMountTmpfs(dir: string): string | undefined {
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', `mount -t tmpfs -o size=64k none '${dir}'`], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `unshare not available: ${r.error.message}`;
  if (r.status !== 0) return `cannot mount a tmpfs in a mount namespace (unshare -rm): ${(r.stderr || r.stdout).trim()}`;
  return undefined;
}

/** A temporary directory with an empty data/ in it for a tmpfs, or why no tmpfs can be mounted here (the test skips). */
async function tmpfsPlace(t: TestContext, prefix: string): Promise<{ dir: string; dataDir: string } | string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir);
  return canMountTmpfs(dataDir) ?? { dir, dataDir };
}

class TinyDiskGateway {
  private readonly proc = new ServeProcess();
  constructor(
    private readonly dataDir: string,
    private readonly configFile: string,
  ) {}

  /** spamgate in a mount namespace whose data directory is a tmpfs of this size (the network namespace is the host's). */
  start(size: string): Promise<void> {
    const script = `mount -t tmpfs -o size=${size},mode=0700 none '${this.dataDir}' && exec '${process.execPath}' '${CLI}' serve --config '${this.configFile}'`;
    return this.proc.start('unshare', ['-rm', 'sh', '-c', script]);
  }

  /** A path inside the process's view of the file system (its mount namespace). */
  inside(p: string): string {
    return path.join(`/proc/${this.proc.child?.pid ?? 0}/root`, p);
  }

  get output(): string {
    return this.proc.output;
  }

  stop(): Promise<void> {
    return this.proc.kill();
  }
}

test('a full spool file system: the message that does not fit gets 452 4.3.1 and leaves nothing behind; every acknowledged message is delivered once space returns', async (t: TestContext) => {
  const place = await tmpfsPlace(t, 'spamgate-diskfull-');
  if (typeof place === 'string') return t.skip(place);
  const { dir, dataDir } = place;

  const sink = await startSink();
  t.after(() => sink.close());
  // the next hop defers everything: accepted mail stays in the spool and fills it
  sink.rule({ stage: 'data', code: 451, text: '4.3.0 not now' });
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const configFile = path.join(dir, 'spamgate.yaml');
  await writeFile(
    configFile,
    `mode: front-of
local_domains: [relay.example]
data_dir: ${dataDir}
delivery: { upstream: { host: 127.0.0.1, port: ${sink.port} } }
smtp: { listen: { port: ${smtpPort} }, hostname: mx.test.example }
submission: { enabled: false }
http: { listen: { port: ${httpPort} } }
pop3: { enabled: false }
imap: { enabled: false }
bayes: { enabled: false }
log_level: error
dns: { servers: ["127.0.0.1:9"], timeout: 100ms, retries: 0 }
# the MAIL guard off: this is about the spool write itself running out of space
queue: { min_free: 0, retry_initial: 200ms, retry_max: 400ms, scan_interval: 100ms }
`,
  );
  const gw = new TinyDiskGateway(dataDir, configFile);
  t.after(() => gw.stop());
  await gw.start('2m');
  const freeAtStart = await metric(httpPort, 'spamgate_queue_free_bytes');
  assert.ok(freeAtStart !== undefined && freeAtStart <= 2 * 1024 * 1024, `the spool is on the 2 MiB tmpfs: ${freeAtStart} bytes free`);

  // 300 KiB messages until one does not fit (a 2 MiB file system holds six at most)
  const body = (n: number): string => `${`message ${n} `.padEnd(78, 'x')}\r\n`.repeat(3900);
  const { wire } = await SmtpWire.open(smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  const acked: string[] = [];
  let refused: { subject: string; reply: Reply } | undefined;
  for (let n = 0; n < 20 && !refused; n++) {
    const reply = await transaction(wire, `full-${n}`, body(n));
    if (reply.code === 250) acked.push(`full-${n}`);
    else refused = { subject: `full-${n}`, reply };
  }
  assert.ok(refused, 'the file system filled up');
  assert.ok(acked.length >= 2, `some messages fit before: ${acked.length}`);
  t.diagnostic(`acknowledged ${acked.length}, then: ${refused.reply.code} ${refused.reply.text}`);
  assert.equal(refused.reply.code, 452, refused.reply.text);
  assert.match(refused.reply.text, /^4\.3\.1 Insufficient system storage/);
  // the session goes on
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await wire.command('NOOP')).code, 250);
  assert.equal(await metric(httpPort, 'spamgate_smtp_insufficient_storage_total{phase="data"}'), 1);
  assert.equal(await metric(httpPort, 'spamgate_smtp_transactions_total{listener="smtp",action="no_space"}'), 1);
  // nothing half-written is left in the spool (seen through the process's own mount namespace)
  const spool = gw.inside(path.join(dataDir, 'spool'));
  assert.ok(existsSync(spool), `the process's spool is visible at ${spool}`);
  // a deferred message's state is saved through tmp/ every few hundred ms (a file there for a moment); a partial
  // message would stay: tmp/ must be seen empty within the deadline
  assert.deepEqual(await seenEmpty(path.join(spool, 'tmp')), [], 'no partial spool file');
  assert.equal(readdirSync(path.join(spool, 'msg')).length, acked.length, 'one spool file per acknowledged message');

  // space returns as the next hop takes the queued mail: every acknowledged message arrives whole, once
  sink.clearRules();
  await sink.waitForMessages(acked.length, 60_000);
  const arrived = sink.messages.map((m) => m.raw.toString('latin1'));
  for (const [i, subject] of acked.entries()) {
    const copies = arrived.filter((m) => m.includes(`Subject: ${subject}\r\n`));
    assert.equal(copies.length, 1, `${subject} delivered once`);
    assert.ok(copies[0]?.endsWith(body(Number(subject.slice(5)))), `${subject} arrived whole (${i})`);
  }
  // the refused message goes through now that the spool has room again
  const deadline = Date.now() + 30_000;
  let retry = await transaction(wire, refused.subject, body(99));
  while (retry.code !== 250 && Date.now() < deadline) {
    // the spool files of delivered mail are removed just after the next hop's 250
    assert.equal((await wire.command('RSET')).code, 250);
    await new Promise((r) => setTimeout(r, 200));
    retry = await transaction(wire, refused.subject, body(99));
  }
  assert.equal(retry.code, 250, `${retry.text}\n${gw.output}`);
  await sink.waitForMessages(acked.length + 1, 60_000);
  assert.equal((await wire.command('QUIT')).code, 221);
});

test('full-stack, a full Maildir file system: IMAP APPEND gets NO [OVERQUOTA] Not enough disk space and leaves no partial file; a local delivery that does not fit is deferred, then delivered once space returns', async (t: TestContext) => {
  const place = await tmpfsPlace(t, 'spamgate-diskfull-imap-');
  if (typeof place === 'string') return t.skip(place);
  const { dir, dataDir } = place;
  const imapPort = await freePort();
  const smtpPort = await freePort();
  const configFile = path.join(dir, 'spamgate.yaml');
  const hash = await hashPassword('a-long-password', { N: 1024, r: 8, p: 1 });
  await writeFile(
    configFile,
    `mode: full-stack
local_domains: [localhost]
users: { "u@localhost": { password: "${hash}" } }
data_dir: ${dataDir}
smtp: { listen: { port: ${smtpPort} }, hostname: mx.test.example }
submission: { enabled: false }
http: { listen: { port: ${await freePort()} } }
pop3: { enabled: false }
imap: { listen: { port: ${imapPort} } }
bayes: { enabled: false }
log_level: error
dns: { servers: ["127.0.0.1:9"], timeout: 100ms, retries: 0 }
queue: { min_free: 0, retry_initial: 200ms, retry_max: 400ms, scan_interval: 100ms }
`,
  );
  const gw = new TinyDiskGateway(dataDir, configFile);
  t.after(() => gw.stop());
  await gw.start('2m');

  const sock = connect(imapPort, '127.0.0.1');
  await once(sock, 'connect');
  t.after(() => sock.destroy());
  const imap = Raw.wrap(sock);
  await imap.until((s) => s.includes('\r\n'));
  assert.match(await imap.cmd('L', 'LOGIN u@localhost a-long-password'), /^L OK/m);
  // 300 KiB messages until one does not fit
  const message = (n: number): string => `Subject: append-${n}\r\n\r\n${`line ${n} `.padEnd(78, 'y')}\r\n`.repeat(3900);
  let stored = 0;
  let refusal = '';
  for (let n = 0; n < 20 && !refusal; n++) {
    const body = message(n);
    imap.write(`A${n} APPEND INBOX {${Buffer.byteLength(body)}}\r\n`);
    await imap.until((s) => /\r\n\+ |^\+ |A\d+ (NO|BAD)/.test(s));
    const reply = await imap.send(`A${n}`, `${body}\r\n`);
    if (/^A\d+ OK/m.test(reply)) stored++;
    else refusal = /A\d+ (NO|BAD)[^\r]*/.exec(reply)?.[0] ?? reply;
  }
  t.diagnostic(`stored ${stored}, then: ${refusal}`);
  assert.ok(stored >= 2, `some messages fit before: ${stored}`);
  assert.match(refusal, /^A\d+ NO \[OVERQUOTA\] Not enough disk space$/);
  // the session goes on, and what was stored is there
  assert.match(await imap.cmd('S', 'SELECT INBOX'), new RegExp(`^\\* ${stored} EXISTS`, 'm'));
  const maildir = gw.inside(path.join(dataDir, 'mail', 'localhost', 'u', 'Maildir'));
  assert.ok(existsSync(maildir), `the user's Maildir is visible at ${maildir}`);
  assert.deepEqual(readdirSync(path.join(maildir, 'tmp')), [], 'no partial message file in tmp/');

  // Room for the index writes of STORE and EXPUNGE (with the disk quite full those get NO [OVERQUOTA] too), then
  // for the spool's copy of a message but not for its mailbox copy: that local delivery runs out of space and must
  // be deferred, never dropped.
  const freeBytes = async (): Promise<number> => {
    const st = await statfs(gw.inside(dataDir));
    return st.bavail * st.bsize;
  };
  for (let n = 1; n <= 2; n++) assert.match(await imap.cmd(`D${n}`, `STORE ${n} +FLAGS.SILENT (\\Deleted)`), new RegExp(`^D${n} OK`, 'm'));
  assert.match(await imap.cmd('D3', 'EXPUNGE'), /^D3 OK/m);
  let small = 0;
  for (let n = 0; n < 400 && (await freeBytes()) > 96 * 1024; n++, small++) {
    const body = `Subject: small-${n}\r\n\r\n${'z'.repeat(4000)}\r\n`;
    imap.write(`B${n} APPEND INBOX {${body.length}}\r\n`);
    await imap.until((s) => /\r\n\+ |^\+ |B\d+ (NO|BAD)/.test(s));
    assert.match(await imap.send(`B${n}`, `${body}\r\n`), /^B\d+ OK/m);
  }
  const expungeFirst = async (tag: string): Promise<void> => {
    assert.match(await imap.cmd(`${tag}1`, 'STORE 1 +FLAGS.SILENT (\\Deleted)'), new RegExp(`^${tag}1 OK`, 'm'));
    assert.match(await imap.cmd(`${tag}2`, 'EXPUNGE'), new RegExp(`^${tag}2 OK`, 'm'));
  };
  await expungeFirst('E');
  // more than half of what is free: the spool's copy fits, the mailbox copy beside it does not
  const mailBody = `${'local delivery after the disk filled '.padEnd(78, 'w')}\r\n`.repeat(Math.ceil((0.6 * (await freeBytes())) / 80));
  const { wire } = await SmtpWire.open(smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<u@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(`From: a@remote.example\r\nTo: u@localhost\r\nSubject: after-full\r\n\r\n${mailBody}`);
  const accepted = await wire.command('.', 30_000);
  assert.equal(accepted.code, 250, accepted.text);
  const spoolMsgs = gw.inside(path.join(dataDir, 'spool', 'msg'));
  const deadline = Date.now() + 30_000;
  while (!/local delivery failed[^\n]*ENOSPC/.test(gw.output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.diagnostic(`small messages ${small}, ${await freeBytes()} bytes free; deferred: ${/local delivery failed/.test(gw.output)}`);
  assert.match(gw.output, /local delivery failed[^\n]*ENOSPC/, 'the mailbox copy did not fit');
  assert.equal(readdirSync(spoolMsgs).length, 1, 'the message stays queued');
  // deferred as the disk being full (RFC 3463 §3.4), which the queue's state and `spamgate queue list` show
  const stateDir = gw.inside(path.join(dataDir, 'spool', 'state'));
  const lastError = (): string => readdirSync(stateDir).map((f) => readFileSync(path.join(stateDir, f), 'utf8')).join('');
  while (!lastError().includes('"lastError"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.match(lastError(), /"lastError":"452 4\.3\.1 insufficient system storage/);
  // the queue retries the delivery every few hundred ms, each try writing through tmp/ for a moment
  assert.deepEqual(await seenEmpty(path.join(maildir, 'tmp')), [], 'no partial message file in tmp/');

  // space returns: the next attempt delivers it, and the spool lets it go
  await expungeFirst('F');
  const inInbox = (): boolean =>
    ['new', 'cur'].some((sub) => readdirSync(path.join(maildir, sub)).some((f) => readFileSync(path.join(maildir, sub, f), 'latin1').includes('Subject: after-full\r\n')));
  while (!(inInbox() && readdirSync(spoolMsgs).length === 0) && Date.now() < deadline + 30_000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(inInbox(), `delivered to the INBOX once space returned\n${gw.output}`);
  assert.equal(readdirSync(spoolMsgs).length, 0, 'and removed from the spool');
});
