// The content filter end to end over SMTP: reject, junk-routing, subject rewriting and header tagging by
// score, a per-domain override, Junk-folder learning through IMAP changing what `spamgate classify` says,
// and a rules file edited under a running gateway reloading without dropping the open session.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { startGateway, TEST_PASSWORD } from '../helpers/gateway.ts';
import { imapMoveFirst, run } from '../helpers/python.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

/** The DNS checks, off where a test wants the score of its own rules alone (test senders' domains do not resolve). */
const DNS_CHECKS = ['fcrdns', 'helo', 'spf', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'];

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

const maildirFiles = (dataDir: string, folder: '' | '.Junk', user = 'postmaster'): string[] => maildirMessages(dataDir, folder, user);

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
  const gw = await startGateway(t, { rules_dirs: [SHIPPED_RULES_DIR, testRules()], bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: DNS_CHECKS } });
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
  assert.equal(await imapMoveFirst(gw.imapPort ?? 0, 'postmaster@localhost', TEST_PASSWORD, 'INBOX', 'Junk'), 'OK');
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

test('add_header tags without touching the subject; a per-domain override turns a reject into junk', async (t) => {
  const rules = testRules();
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  writeFileSync(path.join(rules, 'zz-tag.yaml'), "overrides:\n  localhost: { reject: 100 }\ncontent_rules:\n  - { symbol: CT_TEST_HDR, description: test marker for add_header, weight: 3.5, type: body, regex: 'HDR-MARKER' }\n");
  const gw = await startGateway(t, { rules_dirs: [SHIPPED_RULES_DIR, rules], bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: DNS_CHECKS } });
  const send = (marker: string, subject: string) => sendMessage(gw.smtpPort, 'sender@remote.example', ['postmaster@localhost'], message(marker, subject));
  assert.equal((await send('HDR-MARKER', 'header only')).data?.code, 250);
  const overridden = await send('REJECT-MARKER', 'over the default reject');
  assert.equal(overridden.data?.code, 250, 'the domain override raises reject to 100: junk decides');
  await waitFor(() => maildirFiles(gw.dataDir, '').length >= 1 && maildirFiles(gw.dataDir, '.Junk').length >= 1);
  const inbox = maildirFiles(gw.dataDir, '');
  assert.ok(inbox.some((m) => /Subject: header only\r?\n/.test(m) && /X-Spamgate-Result: add_header; score=3\.5; id=\w+;\s+CT_TEST_HDR\(3\.5\)/.test(m)), inbox.join('\n---\n'));
  const junk = maildirFiles(gw.dataDir, '.Junk');
  assert.match(junk[0] ?? '', /X-Spamgate-Result: junk; score=20;/);
  assert.match(junk[0] ?? '', /Subject: \*\*\*SPAM\*\*\* over the default reject/);
  assert.equal(gw.transactions().find((l) => l.action === 'junk')?.decided_by, 'junk >= 6');
});

test('recipients with different thresholds share one copy tagged with the strictest verdict; each recipient keeps its own folder', async (t) => {
  const rules = testRules();
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  // carol takes everything untagged; postmaster has the defaults (JUNK-MARKER scores 7: junk)
  writeFileSync(path.join(rules, 'zz-carol.yaml'), 'overrides:\n  carol@localhost: { junk: 100, rewrite_subject: 100, add_header: 100 }\n');
  const gw = await startGateway(t, {
    rules_dirs: [SHIPPED_RULES_DIR, rules],
    users: { 'carol@localhost': { password: await hashPassword('carol-password', { N: 1024, r: 8, p: 1 }) } },
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
  // carol first: the tagging must not depend on which recipient came first
  const r = await sendMessage(gw.smtpPort, 'sender@remote.example', ['carol@localhost', 'postmaster@localhost'], message('JUNK-MARKER', 'shared copy'));
  assert.equal(r.data?.code, 250);
  const carolInbox = (): string[] => maildirFiles(gw.dataDir, '', 'carol');
  await waitFor(() => carolInbox().length >= 1 && maildirFiles(gw.dataDir, '.Junk').length >= 1);
  assert.match(carolInbox()[0] ?? '', /X-Spamgate-Result: junk; score=7;/, 'carol gets it in her INBOX, tagged as the strictest recipient judged it');
  assert.equal(maildirFiles(gw.dataDir, '.Junk', 'carol').length, 0);
  assert.match(maildirFiles(gw.dataDir, '.Junk')[0] ?? '', /Subject: \*\*\*SPAM\*\*\* shared copy/);
  assert.equal(gw.transactions().at(-1)?.action, 'junk');
});

test("an address override counts for the user's sub-addresses (full-stack): alice+tag@ is refused by alice@'s low reject, bob@ is not; with both, alice's copy goes to her Junk", async (t) => {
  const rules = testRules();
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  // TAG-MARKER scores 5.2: rewrite_subject by the defaults, reject for alice
  writeFileSync(path.join(rules, 'zz-alice.yaml'), 'overrides:\n  alice@localhost: { reject: 5 }\n');
  const hash = await hashPassword('pw-pw-pw-pw', { N: 1024, r: 8, p: 1 });
  const gw = await startGateway(t, {
    rules_dirs: [SHIPPED_RULES_DIR, rules],
    users: { 'alice@localhost': { password: hash }, 'bob@localhost': { password: hash } },
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
  const send = (rcpts: string[], subject: string) => sendMessage(gw.smtpPort, 'sender@remote.example', rcpts, message('TAG-MARKER', subject));
  const tagged = await send(['alice+news@localhost'], 'to alice tagged');
  assert.equal(tagged.data?.code, 554, "alice@'s reject threshold judged alice+news@");
  assert.equal((await send(['Alice+Other@localhost'], 'to alice tagged, any case')).data?.code, 554);
  assert.equal((await send(['alice@localhost'], 'to alice')).data?.code, 554);
  assert.equal((await send(['bob@localhost'], 'to bob')).data?.code, 250);
  assert.equal((await send(['bob+news@localhost'], 'to bob tagged')).data?.code, 250);
  assert.deepEqual(gw.transactions().map((l) => l.decided_by), ['reject >= 5', 'reject >= 5', 'reject >= 5', 'rewrite_subject >= 5', 'rewrite_subject >= 5']);
  // one message to both: not refused (bob takes it); alice's copy, which her thresholds refuse, goes to her Junk
  assert.equal((await send(['alice+news@localhost', 'bob@localhost'], 'to both')).data?.code, 250);
  await waitFor(() => maildirFiles(gw.dataDir, '.Junk', 'alice').length >= 1 && maildirFiles(gw.dataDir, '', 'bob').length >= 3);
  assert.equal(maildirFiles(gw.dataDir, '', 'alice').length, 0);
  assert.match(maildirFiles(gw.dataDir, '.Junk', 'alice')[0] ?? '', /Subject: \*\*\*SPAM\*\*\* to both/);
  assert.equal(maildirFiles(gw.dataDir, '.Junk', 'bob').length, 0);
});

test("full-stack: an address that is a user or an alias of its own is no sub-address for overrides either (mary-ann@ is not mary@'s, as the mail host does not cut it)", async (t) => {
  const rules = testRules();
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  writeFileSync(path.join(rules, 'zz-mary.yaml'), 'overrides:\n  mary@localhost: { reject: 5 }\n');
  const hash = await hashPassword('pw-pw-pw-pw', { N: 1024, r: 8, p: 1 });
  const gw = await startGateway(t, {
    rules_dirs: [SHIPPED_RULES_DIR, rules],
    mailhost: { subaddress_delimiter: '-' },
    users: { 'mary@localhost': { password: hash }, 'mary-ann@localhost': { password: hash }, 'bob@localhost': { password: hash } },
    aliases: { 'mary-list@localhost': 'bob@localhost' },
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
  const send = (rcpt: string) => sendMessage(gw.smtpPort, 'sender@remote.example', [rcpt], message('TAG-MARKER', `to ${rcpt}`));
  assert.equal((await send('mary-news@localhost')).data?.code, 554, "a sub-address of mary's: her override");
  assert.equal((await send('mary-ann@localhost')).data?.code, 250, 'another user: the defaults, not mary@\'s override');
  assert.equal((await send('Mary-Ann@localhost')).data?.code, 250, 'in any case');
  assert.equal((await send('mary-list@localhost')).data?.code, 250, "an alias to bob: not mary@'s override");
  await waitFor(() => maildirFiles(gw.dataDir, '', 'mary-ann').length >= 2 && maildirFiles(gw.dataDir, '', 'bob').length >= 1);
});

test("front-of mode: mailhost.subaddress_delimiter cuts sub-addresses for overrides too ('-' here: alice-tag@ is alice@, alice+tag@ is not)", async (t) => {
  const rules = testRules();
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  writeFileSync(path.join(rules, 'zz-alice.yaml'), 'overrides:\n  alice@example.org: { reject: 5 }\n');
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, {
    mode: 'front-of',
    local_domains: ['example.org'],
    delivery: { mode: 'inline', upstream: { host: sink.host, port: sink.port } },
    mailhost: { subaddress_delimiter: '-' },
    rules_dirs: [SHIPPED_RULES_DIR, rules],
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
  const send = (rcpt: string) => sendMessage(gw.smtpPort, 'sender@remote.example', [rcpt], message('TAG-MARKER', `to ${rcpt}`));
  assert.equal((await send('alice-lists@example.org')).data?.code, 554);
  assert.equal((await send('alice+lists@example.org')).data?.code, 250, "'+' is no delimiter here: an address of its own, the defaults");
  assert.equal((await send('bob@example.org')).data?.code, 250);
  await sink.waitForMessages(2);
  assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['alice+lists@example.org'], ['bob@example.org']]);
});

test('editing a rules file reloads the running gateway: the open session goes on under the new rule, a broken edit keeps it', async (t) => {
  const rules = mkdtempSync(path.join(os.tmpdir(), 'spamgate-live-rules-'));
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  const file = path.join(rules, 'live.yaml');
  const rule = (weight: number | string, regex = 'LIVE-MARKER'): string => `content_rules:\n  - { symbol: CT_TEST_LIVE, description: live edited rule, weight: ${weight}, type: body, regex: '${regex}' }\n`;
  writeFileSync(file, rule(1));
  const gw = await startGateway(t, { rules_dirs: [SHIPPED_RULES_DIR, rules], bayes: { enabled: false }, smtp: { trusted_networks: [] }, checks: { disabled: DNS_CHECKS } });
  const reloads = (msg: string): number => gw.logs.filter((l) => l.msg === msg).length;
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<sender@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);

  // mid-transaction the rule becomes a reject and a new rule appears: the session stays up; the transaction
  // in flight is judged by the rules it started under (the new rule does not even run), the next one on the
  // same connection by the new ones
  const added = `  - { symbol: CT_TEST_ADDED, description: rule added live, weight: 0.5, type: body, regex: 'LIVE-MARKER' }\n`;
  writeFileSync(file, rule(20) + added);
  await waitFor(() => reloads('configuration reloaded') === 1);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(message('LIVE-MARKER', 'live one'));
  assert.equal((await wire.command('.', 10_000)).code, 250);
  assert.equal((await wire.command('MAIL FROM:<sender@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(message('LIVE-MARKER', 'live two'));
  assert.equal((await wire.command('.', 10_000)).code, 554);
  assert.deepEqual(gw.transactions().map((l) => l.score), [1, 20.5]);
  const symbols = gw.transactions().map((l) => JSON.stringify(l.symbols));
  assert.doesNotMatch(symbols[0] ?? '', /CT_TEST_ADDED/, 'the transaction in flight ran the checks it started with');
  assert.match(symbols[1] ?? '', /CT_TEST_ADDED/);

  // a broken edit (bad regex) is refused with file and line; the running rules stay in force
  writeFileSync(file, rule(0, '(unclosed'));
  await waitFor(() => reloads('reload failed, keeping the running configuration') === 1);
  const failure = gw.logs.find((l) => l.msg === 'reload failed, keeping the running configuration');
  assert.match(String(failure?.error), new RegExp(`live\\.yaml:2: content_rules\\[0\\]\\.regex: invalid regular expression`));
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<sender@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(message('LIVE-MARKER', 'live three'));
  assert.equal((await wire.command('.', 10_000)).code, 554, 'still the weight-20 rule');
  assert.equal((await wire.command('QUIT')).code, 221);
  assert.equal(reloads('configuration reloaded'), 1, 'one reload per edit');
});

test('a message autolearned as spam and then moved out of Junk over IMAP is relearned as ham, not counted twice', async (t) => {
  const rules = testRules();
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  writeFileSync(path.join(rules, 'zz-auto.yaml'), "content_rules:\n  - { symbol: CT_TEST_AUTO, description: test marker past the autolearn score, weight: 13, type: body, regex: 'AUTO-MARKER' }\n");
  // Bayes stays silent (minimum out of reach) so only the rules decide; autolearn at 12 and above.
  const gw = await startGateway(t, {
    rules_dirs: [SHIPPED_RULES_DIR, rules],
    bayes: { min_spam: 1_000_000, save_delay: 0, autolearn: { enabled: true, spam_score: 12 } },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
  assert.equal((await sendMessage(gw.smtpPort, 'sender@remote.example', ['postmaster@localhost'], message('AUTO-MARKER', 'autolearn me'))).data?.code, 250);
  await waitFor(() => maildirFiles(gw.dataDir, '.Junk').length === 1);
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  const deadline = Date.now() + 10_000;
  while (!/spamgate_bayes_learned_total\{class="spam",source="autolearn"\} 1/.test(await metrics())) {
    if (Date.now() > deadline) throw new Error('not autolearned');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await imapMoveFirst(gw.imapPort ?? 0, 'postmaster@localhost', TEST_PASSWORD, 'Junk', 'INBOX'), 'OK');
  await waitFor(() => gw.logs.some((l) => l.msg === 'imap junk learning'));
  const learned = gw.logs.find((l) => l.msg === 'imap junk learning');
  assert.deepEqual([learned?.class, learned?.outcome], ['ham', 'relearned'], 'the delivered copy (trace fields on top) is the autolearned message');
});

test('autolearn leaves out the score of a meta rule that refers to a Bayes symbol, as it does Bayes own', async (t) => {
  const rules = testRules();
  t.after(() => rmSync(rules, { recursive: true, force: true }));
  writeFileSync(
    path.join(rules, 'zz-auto.yaml'),
    [
      'content_rules:',
      "  - { symbol: CT_TEST_MARK, description: test marker below the autolearn score, weight: 0.5, type: body, regex: 'META-MARKER' }",
      "  - { symbol: CT_TEST_ON_BAYES, description: meta over a Bayes symbol, weight: 13, type: meta, expr: 'CT_TEST_MARK && !BAYES_HAM' }",
      "  - { symbol: CT_TEST_AUTO, description: test marker past the autolearn score, weight: 13, type: body, regex: 'AUTO-MARKER' }",
      '',
    ].join('\n'),
  );
  const gw = await startGateway(t, {
    rules_dirs: [SHIPPED_RULES_DIR, rules],
    bayes: { min_spam: 1_000_000, save_delay: 0, autolearn: { enabled: true, spam_score: 12 } },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  });
  // Decisions are made in the order messages are scored: once the second is learned, the first was decided.
  assert.equal((await sendMessage(gw.smtpPort, 'sender@remote.example', ['postmaster@localhost'], message('META-MARKER', 'meta on bayes'))).data?.code, 250);
  assert.equal((await sendMessage(gw.smtpPort, 'sender@remote.example', ['postmaster@localhost'], message('AUTO-MARKER', 'plain rule'))).data?.code, 250);
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  const learned = (text: string): number => Number(/spamgate_bayes_learned_total\{class="spam",source="autolearn"\} (\d+)/.exec(text)?.[1] ?? 0);
  const deadline = Date.now() + 10_000;
  while (learned(await metrics()) === 0) {
    if (Date.now() > deadline) throw new Error('not autolearned');
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(learned(await metrics()), 1, 'only the message whose rules alone pass the score');
});
