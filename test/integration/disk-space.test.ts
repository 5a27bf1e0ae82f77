// Never lose mail when the disk fills: the queue.min_free guard at MAIL (real statfs, reloadable), and a real
// spamgate process whose data directory is a tiny tmpfs (in a mount namespace of its own) filled with mail: the
// message that does not fit gets 452 4.3.1 and leaves nothing behind, and what was acknowledged is delivered.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { freePort } from '../helpers/free-port.ts';
import { startGateway } from '../helpers/gateway.ts';
import { startSink } from '../helpers/sink-server.ts';
import { SmtpWire, type Reply } from '../helpers/smtp-wire.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');

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

test('queue.min_free above the free space: every MAIL gets 452 4.3.1, the session goes on, and a reload that lowers it lets mail through', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-minfree-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'spamgate.yaml');
  // a petabyte: more than any disk this runs on has free
  const gw = await startGateway(t, { mode: 'front-of', local_domains: ['relay.example'], delivery: { upstream: { host: '127.0.0.1', port: sink.port } }, queue: { min_free: '1048576g' } }, { configFile });
  assert.ok(gw.httpPort);
  const free = await metric(gw.httpPort, 'spamgate_queue_free_bytes');
  assert.ok(free !== undefined && free > 0, `free bytes exported: ${free}`);
  assert.equal(await metric(gw.httpPort, 'spamgate_queue_min_free_bytes'), 1048576 * 1024 ** 3);

  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  for (const mail of ['MAIL FROM:<a@remote.example>', 'MAIL FROM:<a@remote.example> SIZE=100']) {
    const refused = await wire.command(mail);
    assert.equal(refused.code, 452, refused.text);
    assert.match(refused.text, /^4\.3\.1 Insufficient system storage/);
  }
  assert.equal((await wire.command('RCPT TO:<user@relay.example>')).code, 503, 'no transaction was opened');
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await wire.command('NOOP')).code, 250);
  assert.equal(await metric(gw.httpPort, 'spamgate_smtp_insufficient_storage_total{phase="mail"}'), 2);

  await writeFile(configFile, (await readFile(configFile, 'utf8')).replace('min_free: 1048576g', 'min_free: 1m'));
  assert.equal(gw.app.reload().ok, true);
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

class TinyDiskGateway {
  private out = '';
  child: ChildProcess | undefined;
  constructor(
    private readonly dataDir: string,
    private readonly configFile: string,
  ) {}

  /** spamgate in a mount namespace whose data directory is a tmpfs of this size (the network namespace is the host's). */
  async start(size: string): Promise<void> {
    const script = `mount -t tmpfs -o size=${size},mode=0700 none '${this.dataDir}' && exec '${process.execPath}' '${CLI}' serve --config '${this.configFile}'`;
    const child = spawn('unshare', ['-rm', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.out += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!/http\s+listening/.test(this.out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`spamgate did not start: ${this.out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** A path inside the process's view of the file system (its mount namespace). */
  inside(p: string): string {
    return path.join(`/proc/${this.child?.pid ?? 0}/root`, p);
  }

  get output(): string {
    return this.out;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}

test('a full spool file system: the message that does not fit gets 452 4.3.1 and leaves nothing behind; every acknowledged message is delivered once space returns', async (t: TestContext) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-diskfull-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  await mkdir(dataDir);
  const why = canMountTmpfs(dataDir);
  if (why) return t.skip(why);

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
  // nothing half-written is left in the spool (seen through the process's own mount namespace)
  const spool = gw.inside(path.join(dataDir, 'spool'));
  assert.ok(existsSync(spool), `the process's spool is visible at ${spool}`);
  assert.deepEqual(readdirSync(path.join(spool, 'tmp')), [], 'no partial spool file');
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
