// The filter's CLI commands on hostile input and terminals: missing paths, empty and unreadable files,
// garbage, a reader that goes away, the progress bar only on a terminal; masscheck FP/FN per threshold and
// per rule; explain with a recipient's overrides and a silent classifier.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { classifyCommand } from '../../../src/commands/classify.ts';
import { explainCommand } from '../../../src/commands/explain.ts';
import { forgetCommand } from '../../../src/commands/forget.ts';
import { masscheckCommand } from '../../../src/commands/masscheck.ts';
import { trainCommand } from '../../../src/commands/train.ts';
import { UsageError, type Command } from '../../../src/commands/types.ts';

interface Setup {
  root: string;
  run(cmd: Command, flags: Record<string, string | true>, positional?: string[], opts?: { stderrTty?: boolean; stdout?: Writable }): Promise<{ code: number; out: string; err: string }>;
}

const spam = (i: number): string => `From: seller${i}@cheap-deals.biz\nSubject: cheap pills ${i}\nMessage-ID: <s${i}@x>\n\nbuy discount viagra pills pharmacy ${i}\n`;
const ham = (i: number): string => `From: colleague${i}@work.example\nSubject: meeting ${i}\nDate: Sun, 22 Nov 2026 00:00:00 +0000\nMessage-ID: <h${i}@x>\n\nagenda for the project meeting ${i}\n`;

function setup(t: { after: (fn: () => void) => void }, minimum = 3, extraConfig = ''): Setup {
  const root = mkdtempSync(path.join(tmpdir(), 'spamgate-hostile-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const configFile = path.join(root, 'spamgate.yaml');
  const rules = path.join(root, 'rules');
  mkdirSync(rules);
  writeFileSync(path.join(rules, 'zz-local.yaml'), "overrides:\n  vip@example.org: { reject: 100, junk: 50 }\ncontent_rules:\n  - { symbol: CT_T_PILLS, description: pills, weight: 7, type: body, regex: 'pills' }\n");
  writeFileSync(configFile, `rules_dirs: [${path.resolve(import.meta.dirname, '../../../rules')}, ${rules}]\nbayes:\n  min_spam: ${minimum}\n  min_ham: ${minimum}\n  use_shipped_model: false\n  save_delay: 0\n${extraConfig}`);
  const dataDir = path.join(root, 'data');
  return {
    root,
    async run(cmd, flags, positional = [], opts = {}) {
      const stdout = opts.stdout ?? new PassThrough();
      const stderr = Object.assign(new PassThrough(), opts.stderrTty ? { isTTY: true } : {});
      let out = '';
      let err = '';
      if (stdout instanceof PassThrough) stdout.on('data', (d: Buffer) => (out += d.toString()));
      stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await cmd.run({ flags: new Map(Object.entries(flags)), positional, dataDir, configFile }, { stdout, stderr, stdin: new PassThrough(), isTty: false });
      return { code, out, err };
    },
  };
}

function corpus(root: string): { spamDir: string; hamDir: string } {
  const spamDir = path.join(root, 'spam');
  const hamDir = path.join(root, 'ham');
  mkdirSync(spamDir);
  mkdirSync(hamDir);
  for (let i = 0; i < 4; i++) writeFileSync(path.join(spamDir, `${i}.eml`), spam(i));
  for (let i = 0; i < 4; i++) writeFileSync(path.join(hamDir, `${i}.eml`), ham(i));
  return { spamDir, hamDir };
}

test('missing paths are bad usage naming each path, before anything is learned', async (t) => {
  const s = setup(t);
  const { spamDir } = corpus(s.root);
  await assert.rejects(s.run(trainCommand, { spam: `${spamDir},${s.root}/nope`, ham: `${s.root}/gone` }), (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.equal(err.message, `${s.root}/nope: no such file or directory; ${s.root}/gone: no such file or directory`);
    return true;
  });
  await assert.rejects(s.run(classifyCommand, {}, [`${s.root}/nope`]), UsageError);
  await assert.rejects(s.run(forgetCommand, {}, [`${s.root}/nope`]), UsageError);
  await assert.rejects(s.run(explainCommand, {}, [s.root]), /is a directory/);
  // nothing was learned by the refused train: classify is still silent
  const r = await s.run(classifyCommand, {}, [path.join(spamDir, '0.eml')]);
  assert.match(r.out, /\t-\tsilent\n$/);
});

test('train skips empty files and reports unreadable ones; classify and forget go on past them', async (t) => {
  const s = setup(t);
  const { spamDir, hamDir } = corpus(s.root);
  writeFileSync(path.join(spamDir, 'empty.eml'), '\n\n');
  symlinkSync(path.join(s.root, 'no-such-target'), path.join(hamDir, 'dangling.eml'));
  writeFileSync(path.join(spamDir, 'garbage.bin'), Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10, 0x80]));
  const train = await s.run(trainCommand, { spam: spamDir, ham: hamDir });
  assert.equal(train.code, 1, 'an unreadable file makes the exit code 1');
  assert.match(train.out, /learned 9, relearned 0, already known 0, not learned \(empty or unreadable\) 2 .*store now 5 spam \/ 4 ham/);
  assert.match(train.err, /empty\.eml: empty, not learned/);
  assert.match(train.err, /dangling\.eml: no such file or directory/);
  const cls = await s.run(classifyCommand, { json: true }, [hamDir, path.join(spamDir, 'garbage.bin')]);
  assert.equal(cls.code, 1);
  const lines = cls.out.trim().split('\n').map((l) => JSON.parse(l) as { path: string; verdict: string; error?: string });
  assert.equal(lines.length, 6);
  assert.deepEqual(lines.find((l) => l.path.endsWith('dangling.eml')), { path: path.join(hamDir, 'dangling.eml'), probability: null, verdict: 'error', error: 'no such file or directory' });
  assert.equal(lines.filter((l) => l.verdict === 'ham').length, 4);
  const forget = await s.run(forgetCommand, {}, [hamDir]);
  assert.equal(forget.code, 1);
  assert.match(forget.out, /dangling\.eml\terror: no such file or directory\n/);
  assert.match(forget.out, /forgotten 4, not learned 0; store now 5 spam \/ 0 ham\n$/);
});

test('the progress bar is drawn only when stderr is a terminal', async (t) => {
  const s = setup(t);
  const { spamDir, hamDir } = corpus(s.root);
  const plain = await s.run(trainCommand, { spam: spamDir });
  assert.equal(plain.err, '');
  const tty = await s.run(trainCommand, { ham: hamDir }, [], { stderrTty: true });
  assert.match(tty.err, /\r\[#+\.*\] \d+\/4 /);
  assert.match(tty.err, /\] 4\/4 .*\n$/);
  assert.equal(tty.out.includes('\r'), false, 'stdout stays clean');
});

test('classify stops quietly when its reader goes away (EPIPE)', async (t) => {
  const s = setup(t);
  const { spamDir, hamDir } = corpus(s.root);
  await s.run(trainCommand, { spam: spamDir, ham: hamDir });
  let writes = 0;
  const closedPipe = new Writable({
    write(_chunk, _enc, cb) {
      writes++;
      cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const r = await s.run(classifyCommand, {}, [spamDir, hamDir], { stdout: closedPipe });
  assert.equal(r.code, 0);
  assert.ok(writes < 8, `stopped early after ${writes} write(s)`);
});

test('masscheck: weight, FP and FN per rule, and FP / FN at every action threshold', async (t) => {
  const s = setup(t);
  const { spamDir, hamDir } = corpus(s.root);
  writeFileSync(path.join(hamDir, 'pills-ham.eml'), ham(9).replace('agenda', 'vitamin pills agenda'));
  const r = await s.run(masscheckCommand, { spam: spamDir, ham: hamDir, 'no-bayes': true, json: true });
  assert.equal(r.code, 0);
  const report = JSON.parse(r.out) as { messages: { ham: number; spam: number }; threshold: number; thresholds: { action: string; threshold: number; fp: number; fn: number }[]; rules: { symbol: string; weight: number; ham: number; spam: number; fp: number; fn: number }[] };
  assert.deepEqual(report.messages, { ham: 5, spam: 4 });
  assert.equal(report.threshold, 6);
  const pills = report.rules.find((x) => x.symbol === 'CT_T_PILLS');
  assert.deepEqual(pills, { symbol: 'CT_T_PILLS', weight: 7, ham: 1, spam: 4, hamPct: 20, spamPct: 100, so: 100 / 120, fp: 1, fn: 0 });
  const junk = report.thresholds.find((x) => x.action === 'junk');
  assert.deepEqual(junk, { action: 'junk', threshold: 6, fp: 1, fn: 0 });
  const reject = report.thresholds.find((x) => x.action === 'reject');
  assert.deepEqual([reject?.fp, reject?.fn], [0, 4]);
  const text = await s.run(masscheckCommand, { spam: spamDir, ham: hamDir, 'no-bayes': true });
  assert.match(text.out, /^SYMBOL\s+WEIGHT\s+HAM\s+HAM%\s+SPAM\s+SPAM%\s+S\/O\s+FP\s+FN\n/);
  assert.match(text.out, /CT_T_PILLS\s+7\s+1\s+20\.00\s+4\s+100\.00\s+0\.833\s+1\s+0\n/);
  assert.match(text.out, /\n {2}reject >= 15\s+FP\s+0\s+FN\s+4\n/);
});

test('explain: a recipient override changes the deciding threshold; a silent classifier is said so', async (t) => {
  const s = setup(t);
  const file = path.join(s.root, 'm.eml');
  writeFileSync(file, spam(1));
  const plain = await s.run(explainCommand, {}, [file]);
  assert.match(plain.out, /action junk \(score [\d.]+; decided by junk >= 6\)/);
  assert.match(plain.out, /CT_T_PILLS \(weight 7\) \[pills\]\n\s+pills\n/);
  assert.match(plain.out, /Bayes silent: learned 0 spam \/ 0 ham, need 3 \/ 3/);
  const vip = await s.run(explainCommand, { rcpt: 'VIP@example.org' }, [file]);
  assert.match(vip.out, /action rewrite_subject \(score [\d.]+; decided by rewrite_subject >= 5\)/);
  assert.match(vip.out, /thresholds: reject >= 100, junk >= 50, rewrite_subject >= 5, add_header >= 3/);
  const json = JSON.parse((await s.run(explainCommand, { rcpt: 'vip@example.org', json: true }, [file])).out) as { action: string; thresholds: { junk: number }; bayes?: { status: string } };
  assert.deepEqual([json.action, json.thresholds.junk, json.bayes?.status], ['rewrite_subject', 50, 'silent']);
});

test('explain: an address override counts for its sub-addresses (mailhost.subaddress_delimiter) and is named', async (t) => {
  const file = (root: string): string => {
    const f = path.join(root, 'm.eml');
    writeFileSync(f, spam(1));
    return f;
  };
  const s = setup(t);
  const m = file(s.root);
  const tagged = await s.run(explainCommand, { rcpt: 'VIP+News@Example.org' }, [m]);
  assert.match(tagged.out, /action rewrite_subject \(score [\d.]+; decided by rewrite_subject >= 5\)/);
  assert.match(tagged.out, /thresholds: reject >= 100, junk >= 50, rewrite_subject >= 5, add_header >= 3 \(overrides: vip@example\.org\)\n/);
  const json = JSON.parse((await s.run(explainCommand, { rcpt: 'vip+news@example.org', json: true }, [m])).out) as { action: string; overrides: string[] };
  assert.deepEqual([json.action, json.overrides], ['rewrite_subject', ['vip@example.org']]);
  // another address of the domain: the defaults, and no overrides named
  const other = await s.run(explainCommand, { rcpt: 'vipx@example.org' }, [m]);
  assert.match(other.out, /decided by junk >= 6\)/);
  assert.doesNotMatch(other.out, /overrides:/);
  // another delimiter: '+' is part of the name, '-' cuts
  const dash = setup(t, 3, 'mailhost:\n  subaddress_delimiter: "-"\n');
  const md = file(dash.root);
  assert.match((await dash.run(explainCommand, { rcpt: 'vip+news@example.org' }, [md])).out, /decided by junk >= 6\)/);
  assert.match((await dash.run(explainCommand, { rcpt: 'vip-news@example.org' }, [md])).out, /decided by rewrite_subject >= 5\).*\(overrides: vip@example\.org\)\n/s);
  // full-stack: an address that is a user (or alias) of its own is no sub-address, as the mail host does not cut it
  const users = setup(t, 3, 'local_domains: [example.org]\nmailhost:\n  subaddress_delimiter: "-"\nusers:\n  vip@example.org: { password: "$scrypt$1024$8$1$c2FsdA==$aGFzaA==" }\n  vip-team@example.org: { password: "$scrypt$1024$8$1$c2FsdA==$aGFzaA==" }\naliases:\n  vip-list@example.org: vip-team@example.org\n');
  const mu = file(users.root);
  assert.match((await users.run(explainCommand, { rcpt: 'vip-news@example.org' }, [mu])).out, /\(overrides: vip@example\.org\)\n/);
  assert.doesNotMatch((await users.run(explainCommand, { rcpt: 'vip-team@example.org' }, [mu])).out, /overrides:/);
  assert.doesNotMatch((await users.run(explainCommand, { rcpt: 'VIP-List@example.org' }, [mu])).out, /overrides:/);
});

test('a corrupt learned store is refused with its path, not a bare zlib error', async (t) => {
  const s = setup(t);
  const { spamDir } = corpus(s.root);
  mkdirSync(path.join(s.root, 'data', 'bayes'), { recursive: true });
  writeFileSync(path.join(s.root, 'data', 'bayes', 'tokens.gz'), 'not gzip at all');
  await assert.rejects(s.run(classifyCommand, {}, [spamDir]), (err: Error) => {
    assert.match(err.message, /data\/bayes\/tokens\.gz: not a gzip'd spamgate Bayes model \(incorrect header check\)/);
    return true;
  });
});

test('classify and forget keep one line per message when a file name holds a tab or a line break', async (t) => {
  const s = setup(t);
  const { spamDir, hamDir } = corpus(s.root);
  await s.run(trainCommand, { spam: spamDir, ham: hamDir });
  const odd = path.join(s.root, 'odd');
  mkdirSync(odd);
  writeFileSync(path.join(odd, 'a\tb.eml'), ham(7));
  writeFileSync(path.join(odd, 'two\nlines.eml'), ham(8));
  writeFileSync(path.join(odd, 'plain.eml'), ham(9));
  const cls = await s.run(classifyCommand, {}, [odd]);
  const lines = cls.out.trimEnd().split('\n');
  assert.equal(lines.length, 3, cls.out);
  for (const l of lines) assert.equal(l.split('\t').length, 3, l);
  assert.deepEqual(
    lines.map((l) => l.split('\t')[0]),
    [JSON.stringify(path.join(odd, 'a\tb.eml')), path.join(odd, 'plain.eml'), JSON.stringify(path.join(odd, 'two\nlines.eml'))],
  );
  const forget = await s.run(forgetCommand, {}, [odd]);
  assert.equal(forget.out.trimEnd().split('\n').length, 4, forget.out);
  assert.ok(forget.out.startsWith(`${JSON.stringify(path.join(odd, 'a\tb.eml'))}\tunknown\n`), forget.out);
});

test('classify, explain and masscheck never write the store, even one past their config\'s max_tokens', async (t) => {
  const s = setup(t);
  const many = path.join(s.root, 'many');
  mkdirSync(many);
  // 12,000 distinct tokens: past the smallest max_tokens (10,000)
  for (let i = 0; i < 4; i++) writeFileSync(path.join(many, `${i}.eml`), `Subject: words ${i}\n\n${Array.from({ length: 3000 }, (_, j) => `w${i}x${j}`).join(' ')}\n`);
  assert.equal((await s.run(trainCommand, { ham: many })).code, 0);
  const store = path.join(s.root, 'data', 'bayes', 'tokens.gz');
  const before = readFileSync(store);
  const small = path.join(s.root, 'small.yaml');
  writeFileSync(small, `rules_dirs: [${path.resolve(import.meta.dirname, '../../../rules')}]\nbayes:\n  max_tokens: 10000\n  use_shipped_model: false\n  save_delay: 0\n`);
  const msg = path.join(many, '0.eml');
  for (const [cmd, flags, positional] of [
    [classifyCommand, {}, [msg]],
    [explainCommand, {}, [msg]],
    [masscheckCommand, { ham: many, spam: msg }, []],
  ] as const) {
    const r = await cmd.run({ flags: new Map(Object.entries(flags)), positional: [...positional], dataDir: path.join(s.root, 'data'), configFile: small }, { stdout: new PassThrough(), stderr: new PassThrough(), stdin: new PassThrough(), isTty: false });
    assert.equal(r, 0, cmd.name);
    assert.ok(readFileSync(store).equals(before), `${cmd.name} rewrote the store`);
  }
});

test('explain takes one message: an mbox of several is bad usage, a one-message mbox file is its message', async (t) => {
  const s = setup(t);
  const mbox = path.join(s.root, 'two.mbox');
  writeFileSync(mbox, `From a@x Thu Jan  1 00:00:00 2024\n${spam(1)}\nFrom b@x Thu Jan  1 00:00:01 2024\n${ham(2)}`);
  await assert.rejects(s.run(explainCommand, {}, [mbox]), (err: unknown) => err instanceof UsageError && /two\.mbox is an mbox of several messages/.test(err.message));
  const one = path.join(s.root, 'one.mbox');
  writeFileSync(one, `From a@x Thu Jan  1 00:00:00 2024\n${spam(1)}`);
  const r = await s.run(explainCommand, { json: true }, [one]);
  assert.equal(r.code, 0, r.err);
  assert.ok((JSON.parse(r.out) as { symbols: { symbol: string }[] }).symbols.some((x) => x.symbol === 'CT_T_PILLS'));
});
