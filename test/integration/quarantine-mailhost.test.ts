// The quarantine in full-stack mode, end to end: a message to a local user past the quarantine threshold (and
// past junk) is answered 250 and lands in no folder, neither INBOX nor Junk; one past junk only still goes to Junk;
// `spamgate quarantine release` (a real process, the instance running) delivers the kept message into the user's
// INBOX, not Junk (a release is the administrator's verdict), where IMAP (python's imaplib) reads it.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { runCli } from '../helpers/cli-process.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { runPython } from '../helpers/python.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { DNS_CHECKS, msg, quarantineRules } from '../helpers/quarantine-rules.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { usersCliFor } from '../helpers/users-cli.ts';

const ALICE = 'alice@corp.example';

async function mailhost(t: TestContext): Promise<RunningGateway> {
  const dir = tempDir(t, 'spamgate-quarantine-mailhost-');
  // a rule worth 7: past junk (6), short of quarantine (10)
  const rules = path.join(dir, 'rules');
  mkdirSync(rules);
  writeFileSync(path.join(rules, 'zz-junk.yaml'), `content_rules:\n  - { symbol: CT_TEST_JUNK, description: test marker for junk, weight: 7, type: body, regex: 'JUNK-SEVEN' }\n`);
  const configFile = path.join(dir, 'spamgate.yaml');
  const gw = await startGateway(
    t,
    {
      local_domains: ['localhost', 'corp.example'],
      mailhost: { watch_files: false },
      queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
      rules_dirs: [SHIPPED_RULES_DIR, quarantineRules(t), rules],
      bayes: { enabled: false },
      smtp: { trusted_networks: [] },
      checks: { disabled: DNS_CHECKS },
    },
    { configFile },
  );
  const users = usersCliFor(gw, configFile);
  const added = await users(['add', ALICE, '--password-stdin'], 'alice-password\n');
  assert.equal(added.code, 0, added.err);
  return gw;
}

const folder = (gw: RunningGateway, name = ''): string[] => maildirMessages(gw.dataDir, name, 'alice', 'corp.example');

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(ok(), what);
}

test('full-stack: quarantined mail reaches no folder; a release delivers it to INBOX, not Junk', async (t) => {
  const gw = await mailhost(t);
  const r = await sendMessage(gw.smtpPort, 'a@remote.example', [ALICE], msg('QUARANTINE-ME please', ALICE));
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
  // a message past junk (6) but short of quarantine (10) goes to Junk as before: it also shows the first went nowhere
  const junk = await sendMessage(gw.smtpPort, 'a@remote.example', [ALICE], msg('junk marker', ALICE).replace('body of', 'body of JUNK-SEVEN'));
  assert.equal(junk.data?.code, 250);
  await until('the junk message filed', () => folder(gw, '.Junk').length === 1);
  assert.equal(folder(gw).length, 0, 'nothing in INBOX');
  assert.doesNotMatch(folder(gw, '.Junk')[0] ?? '', /QUARANTINE-ME/);
  assert.deepEqual(gw.transactions().find((l) => l.action === 'quarantine')?.quarantined, [ALICE]);

  const listed = await runCli(['quarantine', 'list', '--data-dir', gw.dataDir], { timeoutMs: 60_000 });
  assert.match(listed.stdout, new RegExp(`^${id}\\t\\S+\\ta@remote\\.example\\t${ALICE.replace('.', '\\.')}\\t`, 'm'));
  const released = await runCli(['quarantine', 'release', id, '--data-dir', gw.dataDir], { timeoutMs: 60_000 });
  assert.equal(released.code, 0, released.stderr);
  assert.match(released.stdout, /done by running instance/);

  await until('the released message delivered', () => folder(gw).length === 1);
  const delivered = folder(gw)[0] ?? '';
  assert.match(delivered, /^Subject: QUARANTINE-ME please$/m);
  assert.match(delivered, /^X-Spamgate-Released: /m);
  assert.match(delivered, /^Delivered-To: alice@corp\.example$/m);
  assert.equal(folder(gw, '.Junk').length, 1, 'the release did not go to Junk');
  const py = await runPython<{ subjects: string[] }>(`
import imaplib, json
m = imaplib.IMAP4('127.0.0.1', ${gw.imapPort ?? 0})
m.login('${ALICE}', 'alice-password')
m.select('INBOX')
data = m.fetch('1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[1]
m.logout()
print(json.dumps({'subjects': [x[1].decode().strip() for x in data if isinstance(x, tuple)]}))
`);
  assert.deepEqual(py.subjects, ['Subject: QUARANTINE-ME please']);
  assert.doesNotMatch((await runCli(['quarantine', 'list', '--data-dir', gw.dataDir], { timeoutMs: 60_000 })).stdout, new RegExp(id), 'no longer listed');
});
