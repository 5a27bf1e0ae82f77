// The content filter end to end over SMTP: reject, junk-routing and subject tagging by score,
// and Junk-folder learning through IMAP changing what `spamgate classify` says.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { startGateway, TEST_PASSWORD } from '../helpers/gateway.ts';
import { run, runPython } from '../helpers/python.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');

function testRules(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-rules-'));
  writeFileSync(
    path.join(dir, 'zz-test.yaml'),
    `content_rules:
  - { symbol: CT_TEST_REJECT, description: test marker for reject, weight: 20, type: body, regex: 'REJECT-MARKER' }
  - { symbol: CT_TEST_JUNK, description: test marker for junk, weight: 7, type: body, regex: 'JUNK-MARKER' }
  - { symbol: CT_TEST_TAG, description: test marker for subject rewrite, weight: 5.2, type: body, regex: 'TAG-MARKER' }
`,
  );
  return dir;
}

function message(marker: string, subject = 'test message'): string {
  return `From: sender@remote.example\r\nTo: postmaster@localhost\r\nSubject: ${subject}\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@remote.example>\r\n\r\nHello, ${marker} here.\r\n`;
}

function maildirFiles(dataDir: string, folder: '' | '.Junk'): string[] {
  const base = path.join(dataDir, 'mail', 'localhost', 'postmaster', 'Maildir', folder);
  const out: string[] = [];
  for (const sub of ['new', 'cur']) {
    try {
      for (const f of readdirSync(path.join(base, sub))) out.push(readFileSync(path.join(base, sub, f), 'utf8'));
    } catch {
      // folder not created yet
    }
  }
  return out;
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('score decides: reject after DATA, junk into the Junk folder, subject rewrite, clean to INBOX', async (t) => {
  // Not a trusted network: trusted clients skip the filtering checks.
  // The DNS checks are off so that only the content rules score.
  const dnsChecks = ['fcrdns', 'helo', 'spf', 'spf_helo', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'];
  const gw = await startGateway(t, { rules_dirs: [SHIPPED_RULES_DIR, testRules()], bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: dnsChecks } });
  const send = (marker: string, subject?: string) => sendMessage(gw.smtpPort, 'sender@remote.example', ['postmaster@localhost'], message(marker, subject));
  const rejected = await send('REJECT-MARKER');
  assert.equal(rejected.data?.code, 554);
  assert.match(rejected.data?.text ?? '', /^5\.7\.1 /);
  assert.equal((await send('JUNK-MARKER', 'junk one')).data?.code, 250);
  assert.equal((await send('TAG-MARKER', 'tag one')).data?.code, 250);
  assert.equal((await send('nothing', 'clean one')).data?.code, 250);
  await waitFor(() => maildirFiles(gw.dataDir, '').length >= 2 && maildirFiles(gw.dataDir, '.Junk').length >= 1);
  const junk = maildirFiles(gw.dataDir, '.Junk');
  assert.equal(junk.length, 1);
  assert.match(junk[0] ?? '', /^Return-Path: <sender@remote\.example>/);
  assert.match(junk[0] ?? '', /X-Spamgate-Result: junk; score=7; id=\w+;\s+CT_TEST_JUNK\(7\)/);
  const inbox = maildirFiles(gw.dataDir, '');
  assert.ok(inbox.some((m) => /Subject: \*\*\*SPAM\*\*\* tag one/.test(m) && /X-Spamgate-Result: rewrite_subject;/.test(m)));
  assert.ok(inbox.some((m) => /Subject: clean one/.test(m) && /X-Spamgate-Result: accept;/.test(m)));
  const tx = gw.transactions();
  const rejectLine = tx.find((l) => l.action === 'reject');
  assert.ok(rejectLine, 'the refused transaction is logged');
  assert.equal(rejectLine.decided_by, 'reject >= 15');
});

test('moving a message into Junk with imaplib trains it as spam: classify says so afterwards', async (t) => {
  const gw = await startGateway(t, { bayes: { save_delay: 0, autolearn: { enabled: false } } });
  // Words the shipped model has never seen: the verdict starts near the middle and moves with learning.
  const spammy = message('zorblaxian quintessorium flimmerbast cravolith zentaquor plumbifex orvandel skrimshallow', 'Zorblaxian quintessorium');
  assert.equal((await sendMessage(gw.smtpPort, 'sender@remote.example', ['postmaster@localhost'], spammy)).data?.code, 250);
  await waitFor(() => maildirFiles(gw.dataDir, '').length === 1);
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'spamgate-msg-')), 'msg.eml');
  writeFileSync(file, spammy);
  const classify = async (): Promise<number> => {
    const r = await run(process.execPath, [CLI, 'classify', '--json', '--data-dir', gw.dataDir, file]);
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout.trim().split('\n')[0] ?? '{}') as { probability?: number; spam_probability?: number };
    return parsed.probability ?? parsed.spam_probability ?? NaN;
  };
  const before = await classify();
  assert.ok(Number.isFinite(before), 'classify prints a probability');
  const moved = await runPython<{ moved: string }>(
    `
import imaplib, json, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login('postmaster@localhost', sys.argv[2])
m.select('INBOX')
typ, data = m.uid('SEARCH', None, 'ALL')
uid = data[0].split()[0].decode()
typ, _ = m.uid('MOVE', uid, 'Junk')
m.logout()
print(json.dumps({'moved': typ}))
`,
    [String(gw.imapPort), TEST_PASSWORD],
  );
  assert.equal(moved.moved, 'OK');
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  const deadline = Date.now() + 15_000;
  while (!/spamgate_bayes_learned_total\{class="spam",source="junk_folder"\} 1/.test(await metrics())) {
    if (Date.now() > deadline) throw new Error('the Junk move was not learned');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The store is saved (save_delay 0); a separate process sees the new counts.
  let after = await classify();
  for (let i = 0; i < 10 && after <= before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await classify();
  }
  assert.ok(after > before, `spam probability rose after the Junk move: ${before} -> ${after}`);
});
