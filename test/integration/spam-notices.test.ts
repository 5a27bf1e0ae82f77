// Backscatter from local delivery, end to end over SMTP in full-stack mode: an alias one member of which is over
// quota sends the sender a member failure notice for mail judged ham, none for mail a test rule scores as spam
// (logged and counted instead); a whole recipient failing still bounces, spam or not (README "Backscatter").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { messageDone } from '../helpers/await-log.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { DNS_CHECKS } from '../helpers/quarantine-rules.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { hashPassword } from '../../src/mailhost/password.ts';

/** A Subject rule worth 7: past junk (6), short of reject (15). */
function spamRule(dir: string): string {
  writeFileSync(
    path.join(dir, 'zz-spam.yaml'),
    `content_rules:
  - { symbol: CT_TEST_SPAM, description: test marker for spam, weight: 7, type: header, header: Subject, regex: 'SPAM-ME' }
`,
  );
  return dir;
}

/** Over tiny@'s quota of 1024 octets, so that its copy fails for good (552 5.2.2). */
const message = (subject: string, n: number): string =>
  `From: bob@remote.example\r\nTo: team@localhost\r\nSubject: ${subject}\r\nDate: Mon, 7 Dec 2026 12:00:00 +0000\r\nMessage-ID: <n${n}@remote.example>\r\n\r\n${'x'.repeat(2000)}\r\n`;

async function failureNotices(gw: RunningGateway): Promise<number> {
  const line = (await gw.app.registry.metrics()).split('\n').find((l) => l.startsWith('spamgate_bounces_total{kind="failure"}'));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function suppressedNotices(gw: RunningGateway): Promise<number> {
  const line = (await gw.app.registry.metrics()).split('\n').find((l) => l.startsWith('spamgate_notices_suppressed_total{notice="alias_member"}'));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}

/** Sends one message from bob@remote.example, waits until the queue is done with it; its transaction's action. */
async function deliver(gw: RunningGateway, rcpt: string, subject: string, n: number): Promise<string> {
  const since = gw.logs.length;
  const r = await sendMessage(gw.smtpPort, 'bob@remote.example', [rcpt], message(subject, n));
  assert.equal(r.data?.code, 250, `${subject}: ${r.data?.code} ${r.data?.text}`);
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1];
  assert.ok(id, r.data?.text);
  await messageDone(gw, since, id);
  return String(gw.transactions().at(-1)?.action);
}

test('an alias member over quota: a notice to the sender for ham, none for spam; a whole failure bounces either way', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const password = await hashPassword(TEST_PASSWORD, { N: 1024, r: 8, p: 1 });
  const gw = await startGateway(t, {
    local_domains: ['localhost'],
    users: { 'postmaster@localhost': { password }, 'tiny@localhost': { password, quota: 1024 } },
    aliases: { 'team@localhost': ['postmaster@localhost', 'tiny@localhost'] },
    mailhost: { watch_files: false },
    queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
    rules_dirs: [SHIPPED_RULES_DIR, spamRule(dir)],
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
  // spam: postmaster@ has it (in Junk), tiny@ failed; the sender, most likely forged, hears nothing
  assert.equal(await deliver(gw, 'team@localhost', 'SPAM-ME now', 1), 'junk');
  assert.equal(await failureNotices(gw), 0, 'no notice queued for spam');
  assert.equal(await suppressedNotices(gw), 1);
  const quiet = gw.logs.find((l) => l.msg === 'notice suppressed: message judged spam');
  assert.deepEqual(quiet?.failed, ['tiny@localhost']);
  // the same message judged ham: the sender is told of tiny@
  assert.equal(await deliver(gw, 'team@localhost', 'hello', 2), 'accept');
  assert.equal(await failureNotices(gw), 1, 'a notice queued for ham');
  assert.equal(await suppressedNotices(gw), 1);
  // a whole recipient failing (tiny@ alone) is the queue's failure, told to the sender even for spam (RFC 5321 §6.1)
  assert.equal(await deliver(gw, 'tiny@localhost', 'SPAM-ME again', 3), 'junk');
  assert.equal(await failureNotices(gw), 2, 'a bounce for the whole failure');
});
