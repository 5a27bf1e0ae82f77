// IMAP benchmark: SELECT, FETCH 1:* (UID FLAGS ENVELOPE), FETCH THREADID and UID SEARCH on a 10,000-message Maildir; Dovecot on the same Maildir when installed.
// IMAP_BENCH_MESSAGES=N for a quicker run; IMAP_BENCH_COLD=1 measures a first open without spamgate's folder snapshot.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImapServer } from '../../src/imap/server.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createMaildirStore } from '../../src/store/maildir-store.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { freePort } from '../helpers/free-port.ts';

const USER = 'bench@example.org';
const PASS = 'benchpass';
const COUNT = Number(process.env.IMAP_BENCH_MESSAGES ?? 10_000);
/** Characters of a reply the client keeps: far more than a tagged line. */
const TAIL = 4096;

/**
 * A minimal raw IMAP client: sends one command, resolves with bytes received until its tagged reply. It keeps only
 * the tail of the reply (the tagged line is last) and counts bytes, so its cost per chunk is constant: it shares the
 * event loop with spamgate's server, and a client that re-scanned everything received on every chunk (quadratic in
 * the reply size) would bill spamgate, and not Dovecot in its own process, for the client's work.
 */
class RawClient {
  private tail = '';
  private bytes = 0;
  private waiter: (() => void) | undefined;
  private n = 0;
  constructor(private readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.bytes += d.length;
      this.tail = d.length >= TAIL ? d.slice(-TAIL) : (this.tail + d).slice(-TAIL);
      this.waiter?.();
    });
  }
  static async open(port: number): Promise<RawClient> {
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
    const c = new RawClient(sock);
    await c.until(() => c.tail.includes('\r\n'));
    return c;
  }
  private until(done: () => boolean, timeoutMs = 120_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('imap bench: timed out')), timeoutMs);
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve();
      };
      this.waiter = check;
      check();
    });
  }
  async cmd(text: string): Promise<{ ms: number; bytes: number; tagged: string }> {
    const tag = `b${++this.n}`;
    this.tail = '';
    this.bytes = 0;
    const t0 = performance.now();
    this.sock.write(`${tag} ${text}\r\n`);
    const re = new RegExp(`(?:^|\\r\\n)${tag} (OK|NO|BAD)[^\\r]*\\r\\n$`);
    await this.until(() => re.test(this.tail));
    const ms = performance.now() - t0;
    const tagged = re.exec(this.tail)?.[0].trim() ?? '';
    if (!/ OK/.test(tagged)) throw new Error(`imap bench: ${text} → ${tagged}`);
    return { ms, bytes: this.bytes, tagged };
  }
  close(): void {
    this.sock.destroy();
  }
}

/** `threads`: also FETCH THREADID and SEARCH THREADID (RFC 8474), which spamgate offers (Dovecot may not). */
async function measure(label: string, port: number, threads = false): Promise<Record<string, number>> {
  const c = await RawClient.open(port);
  const out: Record<string, number> = {};
  try {
    await c.cmd(`LOGIN ${USER} ${PASS}`);
    out.select = (await c.cmd('SELECT INBOX')).ms;
    const cold = await c.cmd('FETCH 1:* (UID FLAGS ENVELOPE)');
    out.fetchCold = cold.ms;
    out.fetchWarm = (await c.cmd('FETCH 1:* (UID FLAGS ENVELOPE)')).ms;
    if (threads) {
      out.fetchThreadCold = (await c.cmd('FETCH 1:* (UID THREADID)')).ms;
      out.fetchThreadWarm = (await c.cmd('FETCH 1:* (UID THREADID)')).ms;
      out.uidSearchThread = (await c.cmd(`UID SEARCH THREADID T${'x'.repeat(23)}`)).ms;
    }
    out.uidSearchAll = (await c.cmd('UID SEARCH ALL')).ms;
    out.uidSearchFlags = (await c.cmd('UID SEARCH UNSEEN NOT DELETED SINCE 1-Jan-2000')).ms;
    out.uidSearchSubject = (await c.cmd('UID SEARCH SUBJECT "message 9999"')).ms;
    out.fetchBytes = cold.bytes;
    await c.cmd('LOGOUT').catch(() => undefined);
  } finally {
    c.close();
  }
  console.log(`imap ${label.padEnd(8)} ` + Object.entries(out).map(([k, v]) => `${k}=${k === 'fetchBytes' ? v : v.toFixed(1) + 'ms'}`).join(' '));
  return out;
}


async function startDovecot(dir: string, maildir: string): Promise<{ port: number; proc: ChildProcess } | undefined> {
  if (!existsSync('/usr/sbin/dovecot')) return undefined;
  const port = await freePort();
  const uid = 65534;
  const gid = 65534;
  for (const d of ['run', 'index', 'home', 'state']) await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, 'passwd'), `${USER}:{PLAIN}${PASS}::::::\n`, { mode: 0o644 });
  await chmod(dir, 0o755);
  for (const d of ['index', 'home']) await chownTree(join(dir, d), uid, gid);
  const conf = `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = ${uid}
mail_location = maildir:${maildir}:INDEX=${dir}/index
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${dir}/home
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
`;
  await writeFile(join(dir, 'dovecot.conf'), conf);
  const proc = spawn('/usr/sbin/dovecot', ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return { port, proc };
    await new Promise((r) => setTimeout(r, 100)); // bounded wait for the daemon to bind (100 × 100 ms)
  }
  proc.kill();
  return undefined;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  if (!(await stat(path)).isDirectory()) return;
  for (const e of await readdir(path)) await chownTree(join(path, e), uid, gid);
}

export async function run(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'sg-imap-bench-'));
  try {
    const store = createMaildirStore({ root, fsync: false });
    await store.ensureUser(USER);
    const t0 = performance.now();
    for (let i = 0; i < COUNT; i++) {
      const raw = `From: Sender ${i % 50} <sender${i % 50}@example.net>\r\nTo: bench@example.org\r\nCc: "Team, Ops" <ops@example.org>\r\nSubject: message ${i}\r\nDate: Mon, 7 Feb 2022 21:52:25 -0800\r\nMessage-ID: <m${i}@example.net>\r\n\r\n${'Body line of the benchmark message.\r\n'.repeat(20)}`;
      await store.append(USER, 'INBOX', Buffer.from(raw), i % 3 === 0 ? { flags: ['\\Seen'] } : undefined);
    }
    const appendMs = performance.now() - t0;
    await store.settle(); // the delivering store's background re-scan runs now, not during the measurements
    // IMAP_BENCH_COLD=1: no folder snapshot (spamgate.index), as on the first open of a Maildir another program filled.
    if (process.env.IMAP_BENCH_COLD) await rm(join(store.maildirOf(USER), 'spamgate.index'), { force: true });
    console.log(`imap append  ${COUNT} messages via store.append (fsync off): ${appendMs.toFixed(0)}ms (${((COUNT / appendMs) * 1000).toFixed(0)}/s)`);

    const served = createMaildirStore({ root, fsync: false });
    const server = createImapServer({
      store: served,
      authenticate: async (u, p) => (u === USER && p === PASS ? USER : undefined),
      hostname: 'bench', registry: createRegistry(false), log: silentLogger, clock: systemClock,
    });
    const addr = await server.listen(0, '127.0.0.1');
    const ours = await measure('spamgate', addr.port, true);
    await server.close();
    // Claimed messages move from new/ to cur/ while a folder is idle; finish that so Dovecot opens the same layout as before.
    await served.settle();

    const ddir = await mkdtemp(join(tmpdir(), 'sg-dovecot-'));
    const maildir = store.maildirOf(USER);
    try {
      await chownTree(root, 65534, 65534);
      const dove = await startDovecot(ddir, maildir);
      if (!dove) {
        console.log('imap dovecot not available; skipped the comparison');
        return;
      }
      try {
        const theirs = await measure('dovecot', dove.port);
        for (const k of ['select', 'fetchCold', 'fetchWarm', 'uidSearchAll', 'uidSearchFlags', 'uidSearchSubject'])
          console.log(`imap ratio   ${k.padEnd(16)} spamgate/dovecot = ${((ours[k] ?? 0) / Math.max(0.01, theirs[k] ?? 0)).toFixed(2)}x`);
      } finally {
        dove.proc.kill('SIGTERM');
        await new Promise((r) => dove.proc.once('exit', r));
      }
    } finally {
      if (!process.env.IMAP_BENCH_KEEP) await rm(ddir, { recursive: true, force: true });
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
