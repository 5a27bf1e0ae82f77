// The filter's CLI commands run with captured streams: train (files, directory, mbox), classify (text,
// --json, --explain), forget, masscheck.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { classifyCommand } from '../../../src/commands/classify.ts';
import { explainCommand } from '../../../src/commands/explain.ts';
import { forgetCommand } from '../../../src/commands/forget.ts';
import { masscheckCommand } from '../../../src/commands/masscheck.ts';
import { trainCommand } from '../../../src/commands/train.ts';
import type { Command, CommandArgs } from '../../../src/commands/types.ts';
import { SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { runCommand } from '../../helpers/command-io.ts';
import { waitForLearnLock } from '../../../src/bayes/learn-lock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

function runCmd(cmd: Command, argv: { flags?: Record<string, string | true>; positional?: string[] }, dataDir: string, configFile: string): Promise<{ code: number; out: string; err: string }> {
  const args: CommandArgs = { flags: new Map(Object.entries(argv.flags ?? {})), positional: argv.positional ?? [], dataDir, configFile };
  return runCommand(cmd, args);
}

const msg = (i: number, spam: boolean): string =>
  spam
    ? `From: seller${i}@cheap-deals.biz\nSubject: cheap pills offer ${i}\nMessage-ID: <s${i}@x>\n\nbuy discount viagra pills pharmacy offer number ${i}\n`
    : `From: colleague${i}@work.example\nSubject: project meeting ${i}\nMessage-ID: <h${i}@x>\n\nagenda for the project meeting and the parser review ${i}\n`;

test('train, classify, forget and masscheck end to end', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'spamgate-cmd-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const config = path.join(root, 'spamgate.yaml');
  writeFileSync(config, 'bayes:\n  min_spam: 3\n  min_ham: 3\n  use_shipped_model: false\n  save_delay: 0\n');
  const data = path.join(root, 'data');
  mkdirSync(path.join(root, 'ham'));
  for (let i = 0; i < 5; i++) writeFileSync(path.join(root, 'ham', `${i}.eml`), msg(i, false));
  // spam as one mbox
  writeFileSync(path.join(root, 'spam.mbox'), [0, 1, 2, 3, 4].map((i) => `From MAILER-DAEMON Thu Jan  1 00:00:00 2024\n${msg(i, true)}`).join('\n'));
  const train = await runCmd(trainCommand, { flags: { spam: path.join(root, 'spam.mbox'), ham: path.join(root, 'ham') } }, data, config);
  assert.equal(train.code, 0);
  assert.match(train.out, /learned 10, relearned 0, already known 0 .*store now 5 spam \/ 5 ham/);
  // the store holds words of the mail learned: its directory and files are the server's own
  assert.equal(statSync(path.join(data, 'bayes')).mode & 0o777, 0o700, 'bayes/ is 0700');
  for (const f of readdirSync(path.join(data, 'bayes'))) assert.equal(statSync(path.join(data, 'bayes', f)).mode & 0o077, 0, `${f} is not open to others`);
  const again = await runCmd(trainCommand, { flags: { ham: path.join(root, 'ham') } }, data, config);
  assert.match(again.out, /learned 0, relearned 0, already known 5/);

  writeFileSync(path.join(root, 'new-spam.eml'), msg(99, true));
  writeFileSync(path.join(root, 'new-ham.eml'), msg(98, false));
  const cls = await runCmd(classifyCommand, { positional: [path.join(root, 'new-spam.eml'), path.join(root, 'new-ham.eml')] }, data, config);
  const lines = cls.out.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /new-spam\.eml\t0\.9\d{3}|new-spam\.eml\t1\.0000\tspam/);
  assert.match(lines[1] ?? '', /new-ham\.eml\t0\.0\d{3}\tham/);
  const json = await runCmd(classifyCommand, { positional: [path.join(root, 'new-spam.eml')], flags: { json: true, explain: true } }, data, config);
  const parsed = JSON.parse(json.out) as { verdict: string; probability: number; combine: string; evidence: { group: string; clues: number }[]; tokens: { token: string }[] };
  assert.equal(parsed.verdict, 'spam');
  assert.equal(parsed.combine, 'evidence');
  const clueCount = (g: string): number => parsed.evidence.find((e) => e.group === g)?.clues ?? -1;
  assert.ok(clueCount('body') > 0 && clueCount('all') === clueCount('header') + clueCount('body') + clueCount('url'), JSON.stringify(parsed.evidence));
  const text = await runCmd(classifyCommand, { positional: [path.join(root, 'new-spam.eml')], flags: { explain: true } }, data, config);
  assert.match(text.out, /combined by evidence; evidence \(clues, chi-square\): all \d+ [01]\.\d{4}, header \d+ [01]\.\d{4}, body \d+ [01]\.\d{4}, url \d+ [01]\.\d{4}\n/);
  assert.ok(parsed.tokens.some((x) => x.token === 'viagra'));

  const forget = await runCmd(forgetCommand, { positional: [path.join(root, 'ham', '0.eml'), path.join(root, 'new-ham.eml')] }, data, config);
  assert.match(forget.out, /0\.eml\tforgotten\n.*new-ham\.eml\tunknown\n/s);
  assert.match(forget.out, /store now 5 spam \/ 4 ham/);

  const mass = await runCmd(masscheckCommand, { flags: { ham: path.join(root, 'ham'), spam: path.join(root, 'spam.mbox'), json: true } }, data, config);
  const report = JSON.parse(mass.out) as { messages: { ham: number; spam: number }; rules: { symbol: string; ham: number; spam: number; so: number }[] };
  assert.deepEqual(report.messages, { ham: 5, spam: 5 });
  const pharma = report.rules.find((r) => r.symbol === 'CT_BODY_PHARMA');
  assert.deepEqual([pharma?.ham, pharma?.spam, pharma?.so], [0, 5, 1]);
});

test('masscheck and explain judge as the server would: reject weights count as caught, disabled checks and Bayes left out', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'spamgate-cmd-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'rules'));
  writeFileSync(path.join(root, 'rules', 'zz-local.yaml'), 'content_rules:\n  - { symbol: LOCAL_PHARMACY, description: pharmacy, weight: reject, type: body, regex: "/pharmacy/i" }\n');
  const config = path.join(root, 'spamgate.yaml');
  writeFileSync(config, `rules_dirs: [${JSON.stringify(SHIPPED_RULES_DIR)}, ${JSON.stringify(path.join(root, 'rules'))}]\nbayes: { enabled: false }\nchecks: { disabled: [lookalike] }\n`);
  const data = path.join(root, 'data');
  for (const cls of ['ham', 'spam']) mkdirSync(path.join(root, cls));
  for (let i = 0; i < 3; i++) {
    writeFileSync(path.join(root, 'ham', `${i}.eml`), msg(i, false));
    // scores nothing but the reject-weighted rule: caught only if hard weights count
    writeFileSync(path.join(root, 'spam', `${i}.eml`), `From: service@paypa1.com\nSubject: order ${i}\nMessage-ID: <p${i}@x>\nDate: Sun, 22 Nov 2026 00:00:00 +0000\n\nyour pharmacy order ${i}\n`);
  }
  const mass = await runCmd(masscheckCommand, { flags: { ham: path.join(root, 'ham'), spam: path.join(root, 'spam'), json: true } }, data, config);
  const report = JSON.parse(mass.out) as { falseNegatives: number; falsePositives: number; thresholds: { fn: number }[]; rules: { symbol: string }[] };
  assert.equal(report.falseNegatives, 0);
  assert.equal(report.falsePositives, 0);
  assert.ok(report.thresholds.length > 0 && report.thresholds.every((l) => l.fn === 0), JSON.stringify(report.thresholds));
  const symbols = report.rules.map((r) => r.symbol);
  assert.ok(symbols.includes('LOCAL_PHARMACY'));
  assert.deepEqual(symbols.filter((s) => /^(BAYES|LOOKALIKE)_/.test(s)), [], 'bayes.enabled false and checks.disabled apply offline');
  const explained = await runCmd(explainCommand, { positional: [path.join(root, 'spam', '0.eml')] }, data, config);
  assert.match(explained.out, /action reject/);
  assert.doesNotMatch(explained.out, /LOOKALIKE_FROM_DOMAIN|BAYES_/);
});

test('train and forget refuse while spamgate serve runs on the data directory with the in-process store', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'spamgate-cmd-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const config = path.join(root, 'spamgate.yaml');
  writeFileSync(config, 'bayes:\n  use_shipped_model: false\n  save_delay: 0\n');
  const data = path.join(root, 'data');
  mkdirSync(data);
  writeFileSync(path.join(root, 'spam.eml'), msg(1, true));
  // stands in for a running `spamgate serve` (its command line says serve); its pid goes in the pid file
  const serve = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'serve'], { stdio: 'ignore' });
  t.after(() => serve.kill('SIGKILL'));
  writeFileSync(path.join(data, 'spamgate.pid'), `${serve.pid}\n`);
  // (the CLI prints the error as one line and exits 1)
  await assert.rejects(runCmd(trainCommand, { flags: { spam: path.join(root, 'spam.eml') } }, data, config), /spamgate serve \(pid \d+\) runs on .* holds the Bayes store in memory/);
  await assert.rejects(runCmd(forgetCommand, { positional: [path.join(root, 'spam.eml')] }, data, config), /holds the Bayes store in memory/);
  const classify = await runCmd(classifyCommand, { positional: [path.join(root, 'spam.eml')] }, data, config);
  assert.equal(classify.code, 0, 'reading the store is fine');
  // once it has stopped (a stale pid file), training goes ahead
  serve.kill('SIGKILL');
  await new Promise((r) => serve.once('exit', r));
  assert.equal((await runCmd(trainCommand, { flags: { spam: path.join(root, 'spam.eml') } }, data, config)).code, 0);
});

test('train and forget refuse while another train or forget learns into the data directory; a dead one\'s lock is taken over', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'spamgate-cmd-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const config = path.join(root, 'spamgate.yaml');
  writeFileSync(config, 'bayes:\n  use_shipped_model: false\n  save_delay: 0\n');
  const data = path.join(root, 'data');
  const spamFile = path.join(root, 'spam.eml');
  writeFileSync(spamFile, msg(1, true));
  // stands in for another `spamgate train` (a process of its own): its pid is in the lock
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => other.kill('SIGKILL'));
  const lock = path.join(data, 'bayes', 'learn.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  writeFileSync(lock, `${other.pid}\n`);
  // (the CLI prints the error as one line and exits 1)
  await assert.rejects(runCmd(trainCommand, { flags: { spam: spamFile } }, data, config), /the Bayes store in .* is in use by process \d+ \(another spamgate train or forget/);
  await assert.rejects(runCmd(forgetCommand, { positional: [spamFile] }, data, config), /is in use by process \d+ \(another spamgate train or forget/);
  assert.equal((await runCmd(classifyCommand, { positional: [spamFile] }, data, config)).code, 0, 'reading the store is fine');
  // it died without removing its lock (Ctrl-C, a crash): the lock is stale and taken over
  other.kill('SIGKILL');
  await new Promise((r) => other.once('exit', r));
  const train = await runCmd(trainCommand, { flags: { spam: spamFile } }, data, config);
  assert.equal(train.code, 0, train.err);
  assert.match(train.out, /^learned 1, .*store now 1 spam \/ 0 ham\n$/);
  assert.equal(existsSync(lock), false, 'released once the store is saved');
  const forget = await runCmd(forgetCommand, { positional: [spamFile] }, data, config);
  assert.match(forget.out, /forgotten 1, not learned 0; store now 0 spam \/ 0 ham\n$/);
  assert.equal(existsSync(lock), false);
});

test('serve on a data directory another spamgate serve runs on is refused at once, not waited for as a learner', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'spamgate-cmd-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  // stands in for the first `spamgate serve` (its command line says serve), which holds the lock while it runs
  const first = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'serve'], { stdio: 'ignore' });
  t.after(() => first.kill('SIGKILL'));
  const lock = path.join(data, 'bayes', 'learn.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  writeFileSync(lock, `${first.pid}\n`);
  const started = Date.now();
  await assert.rejects(waitForLearnLock(data, silentLogger, 50, 3000), new RegExp(`spamgate serve \\(pid ${first.pid}\\) already runs on the data directory .*data: one serve per data directory`));
  assert.ok(Date.now() - started < 2500, 'refused without waiting out the 3 s it was allowed');
});
