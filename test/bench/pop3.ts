// Benchmark: local deliveries/s into Maildir, POP3 RETR of a 10,000-message mailbox (spamgate, and Dovecot if
// installed), and POP3 logins/s with the authentication cache on and off; each server runs in its own process,
// apart from the benchmark's client.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { createUserDirectory } from '../../src/mailhost/directory.ts';
import { createLocalDelivery } from '../../src/mailhost/local-delivery.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createMaildirStore } from '../../src/store/maildir-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { RawPop3 } from '../integration/pop3-client.ts';
import { spawnTsx, waitOutput } from './bench-processes.ts';

const USER = 'bench@example.com';
const PASSWORD = 'bench-password';
const MESSAGES = Number(process.env.POP3_BENCH_MESSAGES ?? 10_000);
/** Sequential logins measured with the authentication cache on and off. */
const LOGINS = 200;

function sampleMessage(i: number): Buffer {
  const body = Array.from({ length: 60 }, (_, l) => `Line ${l} of message ${i}: the quick brown fox jumps over the lazy dog.`).join('\r\n');
  return Buffer.from(`From: sender${i % 50}@example.org\r\nTo: ${USER}\r\nSubject: bench ${i}\r\nMessage-ID: <${i}@bench>\r\n\r\n${body}\r\n.dot line\r\n`);
}

/** Logs in and RETRs every message one at a time (no pipelining), as a fetching client does. */
/** Reads the greeting and logs in with USER and PASS. */
async function logIn(c: RawPop3): Promise<void> {
  await c.line();
  await c.cmd(`USER ${USER}`);
  const login = await c.cmd(`PASS ${PASSWORD}`);
  if (!login?.startsWith('+OK')) throw new Error(`login failed: ${login}`);
}

async function retrAll(port: number): Promise<{ count: number; bytes: number; seconds: number }> {
  const c = await RawPop3.connect(port);
  try {
    await logIn(c);
    const stat = (await c.cmd('STAT')) ?? '';
    const count = Number(stat.split(' ')[1]);
    const start = process.hrtime.bigint();
    let bytes = 0;
    for (let n = 1; n <= count; n++) {
      const status = await c.cmd(`RETR ${n}`);
      if (!status?.startsWith('+OK')) throw new Error(`RETR ${n}: ${status}`);
      bytes += (await c.multiline())?.length ?? 0;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await c.cmd('QUIT');
    return { count, bytes, seconds };
  } finally {
    c.destroy();
  }
}

/** Logins per second: `n` connections one after another, each USER, PASS (the user's real scrypt hash) and QUIT. */
async function logins(port: number, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const c = await RawPop3.connect(port);
    try {
      await logIn(c);
      await c.cmd('QUIT');
    } finally {
      c.destroy();
    }
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

function report(label: string, r: { count: number; bytes: number; seconds: number }): void {
  console.log(`${label}: ${r.count} messages, ${(r.bytes / 1048576).toFixed(1)} MB in ${r.seconds.toFixed(2)} s = ${(r.count / r.seconds).toFixed(0)} msg/s, ${(r.bytes / 1048576 / r.seconds).toFixed(1)} MB/s`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts Dovecot (POP3 only) on the same Maildir tree with a passwd-file; undefined if it is not installed. */
async function startDovecot(dir: string, mailRoot: string): Promise<{ port: number; child: ChildProcess } | undefined> {
  if (!existsSync('/usr/sbin/dovecot') || !existsSync('/usr/lib/dovecot/pop3')) return undefined;
  const port = await freePort();
  const conf = path.join(dir, 'dovecot.conf');
  chmodSync(dir, 0o755); // Dovecot's auth process runs as its own user and must reach the passwd-file.
  writeFileSync(path.join(dir, 'passwd'), `${USER}:{PLAIN}${PASSWORD}::::::\n`);
  writeFileSync(
    conf,
    [
      `base_dir = ${dir}/run`,
      `state_dir = ${dir}/state`,
      `log_path = ${dir}/dovecot.log`,
      'protocols = pop3',
      'listen = 127.0.0.1',
      'ssl = no',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain',
      'first_valid_uid = 0',
      `passdb {\n  driver = passwd-file\n  args = ${dir}/passwd\n}`,
      `userdb {\n  driver = static\n  args = uid=dovecot gid=dovecot home=${mailRoot}/%d/%n\n}`,
      `mail_location = maildir:${mailRoot}/%d/%n/Maildir`,
      `service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = ${port}\n  }\n}`,
      'service anvil {\n  chroot =\n}',
      'service pop3-login {\n  chroot =\n}',
      '',
    ].join('\n'),
  );
  // Dovecot refuses mail access as root: hand the Maildir tree to its user (spamgate reads it as root).
  await new Promise((resolve) => spawn('chown', ['-R', 'dovecot:dovecot', mailRoot], { stdio: 'ignore' }).once('exit', resolve));
  const child = spawn('/usr/sbin/dovecot', ['-F', '-c', conf], { stdio: 'ignore' });
  // Bounded wait for the listener (Dovecot gives no readiness event we can await).
  for (let i = 0; i < 100; i++) {
    const up = await RawPop3.connect(port).then(
      (c) => (c.destroy(), true),
      () => false,
    );
    if (up) return { port, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`dovecot did not start; see ${dir}/dovecot.log`);
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-pop3-bench-'));
  const dataDir = path.join(dir, 'data');
  const mailRoot = path.join(dir, 'mail');
  let dovecot: ChildProcess | undefined;
  try {
    const users = { [USER]: { password: await hashPassword(PASSWORD) } };
    const { config } = loadConfig({ inline: { local_domains: ['example.com'], users, mailhost: { watch_files: false } }, dataDir });
    const directory = createUserDirectory({ config, dataDir, log: silentLogger });
    const registry = createRegistry(false);

    // Local delivery with fsync (the durable path), then the bulk of the mailbox without it.
    const durable = createLocalDelivery({ store: createMaildirStore({ root: mailRoot, fsync: true }), directory, log: silentLogger, registry });
    const fast = createMaildirStore({ root: mailRoot, fsync: false });
    const quick = createLocalDelivery({ store: fast, directory, log: silentLogger, registry });
    const fsyncCount = Math.min(1000, MESSAGES);
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < fsyncCount; i++) await durable.deliverLocal({ mailFrom: 's@example.org', recipient: USER, mailbox: USER, raw: sampleMessage(i), junk: false });
    let s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`local delivery (fsync on, sequential): ${fsyncCount} in ${s.toFixed(2)} s = ${(fsyncCount / s).toFixed(0)} msg/s`);
    t0 = process.hrtime.bigint();
    for (let i = fsyncCount; i < MESSAGES; i++) await quick.deliverLocal({ mailFrom: 's@example.org', recipient: USER, mailbox: USER, raw: sampleMessage(i), junk: false });
    s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`local delivery (fsync off, sequential): ${MESSAGES - fsyncCount} in ${s.toFixed(2)} s = ${((MESSAGES - fsyncCount) / s).toFixed(0)} msg/s`);

    directory.close();
    // The server runs in its own process, as Dovecot does: the client here does not share its event loop.
    const server = spawnTsx(path.join(import.meta.dirname, 'pop3-server.ts'), [mailRoot, dataDir, USER, PASSWORD]);
    try {
      const port = Number((await waitOutput(server, /listening (\d+)/, 30_000))[1]);
      report('spamgate POP3 RETR all (run 1)', await retrAll(port));
      report('spamgate POP3 RETR all (run 2)', await retrAll(port));
      console.log(`spamgate POP3 logins (auth cache on, the default): ${(await logins(port, LOGINS)).toFixed(0)}/s`);
    } finally {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    // the reference in the same run: every login derives its scrypt key
    const uncached = spawnTsx(path.join(import.meta.dirname, 'pop3-server.ts'), [mailRoot, dataDir, USER, PASSWORD], { ...process.env, AUTH_CACHE_TTL: '0' });
    try {
      const port = Number((await waitOutput(uncached, /listening (\d+)/, 30_000))[1]);
      console.log(`spamgate POP3 logins (auth cache off, mailhost.auth_cache_ttl: 0): ${(await logins(port, LOGINS)).toFixed(0)}/s`);
    } finally {
      const exited = new Promise((r) => uncached.once('exit', r));
      uncached.kill('SIGTERM');
      await exited;
    }

    const dc = await startDovecot(dir, mailRoot);
    if (!dc) console.log('dovecot POP3: not installed (/usr/sbin/dovecot with dovecot-pop3d); skipped');
    else {
      dovecot = dc.child;
      const first = await retrAll(dc.port).catch((err: Error) => {
        throw new Error(`${err.message}\n${readFileSync(path.join(dir, 'dovecot.log'), 'utf8')}`);
      });
      report('dovecot POP3 RETR all (run 1, builds its index)', first);
      report('dovecot POP3 RETR all (run 2)', await retrAll(dc.port));
    }
  } finally {
    if (dovecot && dovecot.exitCode === null) {
      const exited = new Promise((r) => dovecot?.once('exit', r));
      dovecot.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
