// spamgate and Dovecot's LDA delivering into one Maildir folder at once, each taking dovecot-uidlist.lock to number
// its messages: every message ends under one distinct UID, spamgate's messages under the UID its APPEND answered, and
// Dovecot (doveadm fetch) sees the same UID for each message as spamgate does. RFC 3501 §2.3.1.1. Runs where Dovecot
// is installed and the tests run as root (both sides then run as nobody on the same files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createMaildirStore } from '../../src/store/maildir-store.ts';
import { checkFolder, runTogether, startWriter } from '../helpers/maildir-writers.ts';

const LDA = '/usr/lib/dovecot/dovecot-lda';
const DOVEADM = '/usr/bin/doveadm';
const NOBODY = { uid: 65534, gid: 65534 };
const U = 'erin@example.org';
const skip = !existsSync(LDA) || !existsSync(DOVEADM) || process.getuid?.() !== 0 ? 'needs Dovecot (dovecot-lda, doveadm) and root' : false;

async function chownTree(path: string): Promise<void> {
  await chown(path, NOBODY.uid, NOBODY.gid);
  for (const d of await readdir(path, { withFileTypes: true })) {
    if (d.isDirectory()) await chownTree(join(path, d.name));
    else await chown(join(path, d.name), NOBODY.uid, NOBODY.gid);
  }
}

test('spamgate and Dovecot LDA delivering into one folder at once: one UID per message, the same on both sides', { skip, timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sg-dovecot-lda-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  const root = join(dir, 'mail');
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', Buffer.from('Subject: seed-0\r\n\r\nfirst\r\n'));
  await store.settle();
  const md = store.maildirOf(U);
  for (const d of ['index', 'home']) await mkdir(join(dir, d));
  const conf = join(dir, 'dovecot.conf');
  await writeFile(
    conf,
    [
      `base_dir = ${dir}/run`,
      `state_dir = ${dir}/state`,
      'log_path = /dev/stderr',
      'info_log_path = /dev/null',
      `first_valid_uid = ${NOBODY.uid}`,
      `mail_location = maildir:${md}:INDEX=${dir}/index`,
      'namespace inbox {\n  inbox = yes\n  separator = /\n}',
      `userdb {\n  driver = static\n  args = uid=${NOBODY.uid} gid=${NOBODY.gid} home=${dir}/home\n}`,
      '',
    ].join('\n'),
  );
  await chownTree(dir);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), USER: 'erin' };

  /** What Dovecot logged: a uid list it finds broken (UIDs not ascending, a torn header) shows there. */
  let dovecotLog = '';
  const writer = startWriter(root, U, 'INBOX', 'sg', 150, 'append', NOBODY);
  const dovecotDelivers = async (): Promise<void> => {
    await writer.ready;
    for (let i = 0; i < 50; i++) {
      const lda = spawn(LDA, ['-c', conf, '-f', 'a@example.org'], { ...NOBODY, env, stdio: ['pipe', 'ignore', 'pipe'] });
      lda.stderr.setEncoding('utf8').on('data', (d: string) => (dovecotLog += d));
      lda.stdin.end(`Subject: dv-${i}\r\nFrom: a@example.org\r\n\r\nbody of dv-${i}\r\n`);
      const [code] = (await once(lda, 'exit')) as [number | null];
      assert.equal(code, 0, `dovecot-lda exited with ${code}`);
    }
  };
  const [[ours]] = await Promise.all([runTogether([writer]), dovecotDelivers()]);
  assert.ok(ours);

  // Dovecot's view of the folder: UID and Subject of every message.
  const { stdout, stderr } = await promisify(execFile)(DOVEADM, ['-c', conf, '-f', 'flow', 'fetch', 'uid hdr.subject', 'mailbox', 'INBOX', 'all'], { ...NOBODY, env });
  assert.doesNotMatch(dovecotLog + stderr, /Error|Warning|Panic/, 'Dovecot found nothing to complain about');
  const dovecot: Record<string, number> = {};
  for (const line of stdout.split('\n')) {
    const m = /^uid=(\d+) hdr\.subject=(\S+)/.exec(line);
    if (m?.[1] && m[2]) dovecot[m[2]] = Number(m[1]);
  }
  assert.equal(Object.keys(dovecot).length, 201, 'Dovecot sees every message once');
  const answered = { 'seed-0': 1, ...ours };
  for (const [subject, uid] of Object.entries(answered)) assert.equal(dovecot[subject], uid, `Dovecot's UID of ${subject}`);
  await checkFolder(root, U, 'INBOX', dovecot);
});
