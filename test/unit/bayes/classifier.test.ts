// Bayes classifier, learner and store: small learned sets, silence threshold, learn/relearn/forget
// arithmetic, atomic persistence and the shipped-model fallback.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { chi2Q, chiCombine, lnChi2Q } from '../../../src/bayes/chi-square.ts';
import { BayesClassifier, DEFAULT_CUTOFFS } from '../../../src/bayes/classifier.ts';
import { MemoryTokenStore } from '../../../src/bayes/memory-store.ts';
import { openBayes, STORE_FILE } from '../../../src/bayes/open-bayes.ts';
import { bayesSection } from '../../../src/config/sections/filter.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';

const cfg = (over: Record<string, unknown> = {}) => bayesSection.parse({ min_spam: 3, min_ham: 3, save_delay: 0, ...over });
const mail = (subject: string, body: string, from = 'a@example.org'): Buffer => Buffer.from(`From: ${from}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}-${body.length}@x>\r\n\r\n${body}\r\n`);
const SPAM = [
  mail('cheap pills now', 'buy cheap viagra pills online discount pharmacy', 'pills@spam.biz'),
  mail('win money fast', 'claim your lottery winnings money transfer today', 'win@spam.biz'),
  mail('hot offer pills', 'discount pharmacy offer limited viagra deal', 'offer@spam.biz'),
  mail('casino bonus money', 'free casino bonus money deposit today', 'casino@spam.biz'),
];
const HAM = [
  mail('meeting notes', 'agenda for the project meeting tomorrow with the team', 'bob@work.example'),
  mail('code review', 'please review the patch for the parser module', 'alice@work.example'),
  mail('lunch tomorrow', 'shall we have lunch tomorrow after the project meeting', 'bob@work.example'),
  mail('release plan', 'the release plan for the parser module is attached', 'carol@work.example'),
];

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-bayes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('chi-square combining: agreement goes to the extremes, no evidence is 0.5', () => {
  assert.equal(chiCombine([]), 0.5);
  assert.ok(chiCombine(Array.from({ length: 10 }, () => ({ prob: 0.99 }))) > 0.99);
  assert.ok(chiCombine(Array.from({ length: 10 }, () => ({ prob: 0.01 }))) < 0.01);
  assert.ok(Math.abs(chi2Q(2, 2) - Math.exp(-1)) < 1e-12);
});

test('chi-square tail in log space matches the direct series and stays finite where it underflows', () => {
  // Q(x2, v) for even v by the plain series, for comparison where it is representable
  const direct = (x2: number, v: number): number => {
    let term = Math.exp(-x2 / 2);
    let sum = term;
    for (let i = 1; i < v / 2; i++) sum += (term *= x2 / 2 / i);
    return sum;
  };
  for (const [x2, v] of [[1, 2], [10, 6], [40, 20], [200, 100], [30, 300]] as const) {
    assert.ok(Math.abs(Math.exp(lnChi2Q(x2, v)) - Math.min(1, direct(x2, v))) < 1e-9, `Q(${x2}, ${v})`);
  }
  // e^-1500 underflows a double; its logarithm must not
  const ln = lnChi2Q(3000, 10);
  assert.ok(Number.isFinite(ln) && ln < -1400 && ln > -1600, String(ln));
});

test('chi-square combining orders messages whose evidence saturates both ways', () => {
  // 300 near-certain clues each way: S and H both round to 1, so the plain formula says exactly 0.5
  const mixed = (spamSide: number, hamSide: number): { prob: number }[] => [
    ...Array.from({ length: 300 }, () => ({ prob: spamSide })),
    ...Array.from({ length: 300 }, () => ({ prob: hamSide })),
  ];
  const spammier = chiCombine(mixed(0.9999, 0.01));
  const hammier = chiCombine(mixed(0.99, 0.0001));
  assert.ok(spammier > 0.5 && spammier < 0.5 + 1e-5, String(spammier));
  assert.ok(hammier < 0.5 && hammier > 0.5 - 1e-5, String(hammier));
});

test('silent until both minimums are learned, then separates spam from ham', async (t) => {
  const bayes = openBayes({ dataDir: tmp(t), config: cfg() });
  t.after(() => bayes.close());
  for (const m of SPAM.slice(0, 3)) await bayes.learner.learn(m, 'spam', 'manual');
  for (const m of HAM.slice(0, 2)) await bayes.learner.learn(m, 'ham', 'manual');
  assert.equal((await bayes.classifyRaw(SPAM[3] as Buffer)).status, 'silent');
  await bayes.learner.learn(HAM[2] as Buffer, 'ham', 'manual');
  const spam = await bayes.classifyRaw(mail('cheap pharmacy pills', 'discount viagra pills offer', 'new@spam.biz'));
  const ham = await bayes.classifyRaw(mail('parser patch', 'review the parser release plan for the team', 'dave@work.example'));
  assert.equal(spam.status, 'scored');
  assert.equal(ham.status, 'scored');
  if (spam.status === 'scored' && ham.status === 'scored') {
    assert.ok(spam.probability > 0.9, `spam p=${spam.probability}`);
    assert.ok(ham.probability < 0.2, `ham p=${ham.probability}`);
    assert.equal(spam.verdict, 'spam');
    assert.equal(ham.verdict, 'ham');
    assert.ok(spam.clues.some((c) => c.token === 'viagra'));
  }
});

test('learn twice counts once; relearn moves the message; forget removes it', async (t) => {
  const registry = createRegistry(false);
  const bayes = openBayes({ dataDir: tmp(t), config: cfg(), registry });
  t.after(() => bayes.close());
  const m = SPAM[0] as Buffer;
  assert.equal(await bayes.learner.learn(m, 'spam', 'manual'), 'learned');
  assert.equal(await bayes.learner.learn(m, 'spam', 'manual'), 'already');
  assert.deepEqual(await bayes.store.totals(), { spam: 1, ham: 0 });
  const [viagra] = await bayes.store.getMany(['viagra']);
  assert.deepEqual(viagra && [viagra.spam, viagra.ham], [1, 0]);
  assert.equal(await bayes.learner.learn(m, 'ham', 'junk_folder'), 'relearned');
  assert.deepEqual(await bayes.store.totals(), { spam: 0, ham: 1 });
  const [moved] = await bayes.store.getMany(['viagra']);
  assert.deepEqual(moved && [moved.spam, moved.ham], [0, 1]);
  // a copy tagged by spamgate is the same message
  const tagged = Buffer.concat([Buffer.from('X-Spamgate-Result: accept\r\n'), m]);
  assert.equal(await bayes.learner.learn(tagged, 'ham', 'manual'), 'already');
  assert.equal(await bayes.learner.forget(m, 'manual'), 'forgotten');
  assert.equal(await bayes.learner.forget(m, 'manual'), 'unknown');
  assert.deepEqual(await bayes.store.totals(), { spam: 0, ham: 0 });
  assert.equal((await bayes.store.getMany(['viagra']))[0], undefined);
  const metrics = await registry.getSingleMetricAsString('spamgate_bayes_learned_total');
  assert.match(metrics, /class="spam",source="manual"} 1/);
  assert.match(metrics, /class="ham",source="junk_folder"} 1/);
});

test('store is saved atomically and reloaded; the shipped model is used only without a learned store', async (t) => {
  const dir = tmp(t);
  const models = tmp(t);
  const first = openBayes({ dataDir: dir, config: cfg() });
  for (const m of SPAM) await first.learner.learn(m, 'spam', 'manual');
  for (const m of HAM) await first.learner.learn(m, 'ham', 'manual');
  await first.close();
  assert.ok(existsSync(path.join(dir, STORE_FILE)));
  assert.deepEqual(readdirSync(path.join(dir, 'bayes')), ['tokens.gz'], 'no temp file left behind');
  const again = openBayes({ dataDir: dir, modelsDir: models, config: cfg() });
  assert.equal(again.origin, 'data-dir');
  assert.deepEqual(await again.store.totals(), { spam: 4, ham: 4 });
  assert.equal(await again.learner.learn(SPAM[0] as Buffer, 'spam', 'manual'), 'already', 'digests persist');
  // a fresh data dir starts from the shipped model (copy the learned file into the models dir)
  const { copyFileSync } = await import('node:fs');
  copyFileSync(path.join(dir, STORE_FILE), path.join(models, 'spamassassin.model.gz'));
  const fresh = openBayes({ dataDir: tmp(t), modelsDir: models, config: cfg() });
  assert.equal(fresh.origin, 'shipped-model');
  assert.deepEqual(await fresh.store.totals(), { spam: 4, ham: 4 });
  const off = openBayes({ dataDir: tmp(t), modelsDir: models, config: cfg({ use_shipped_model: false }) });
  assert.equal(off.origin, 'empty');
});

test('the shipped model loads and classifies a corpus-like spam as spam', async (t) => {
  const models = path.resolve(import.meta.dirname, '../../../models');
  const bayes = openBayes({ dataDir: tmp(t), modelsDir: models, config: bayesSection.parse({}) });
  assert.equal(bayes.origin, 'shipped-model');
  const totals = await bayes.store.totals();
  assert.ok(totals.spam > 1000 && totals.ham > 3000);
  const r = await bayes.classifyRaw(Buffer.from('From: "Best Deals" <deals123@offers.biz>\r\nSubject: FREE money!!! Act now\r\nContent-Type: text/html\r\n\r\n<html><body><font color="red">Click here to remove</font> <a href="http://203.0.113.5/buy">ORDER NOW</a> limited time offer, 100% free, no obligation, credit card</body></html>\r\n'));
  assert.equal(r.status, 'scored');
  if (r.status === 'scored') assert.ok(r.probability > 0.9, `p=${r.probability}`);
});

test('cutoffs default per combine method; explicit ones win; ham must stay below spam', (t) => {
  const dir = tmp(t);
  const opts = (over: Record<string, unknown>) => openBayes({ dataDir: dir, config: cfg(over) }).classifier.opts;
  assert.deepEqual([opts({}).combine, opts({}).spamCutoff, opts({}).hamCutoff], ['evidence', DEFAULT_CUTOFFS.evidence.spam, DEFAULT_CUTOFFS.evidence.ham]);
  const chi = opts({ combine: 'chi-square' });
  assert.deepEqual([chi.spamCutoff, chi.hamCutoff], [DEFAULT_CUTOFFS['chi-square'].spam, DEFAULT_CUTOFFS['chi-square'].ham]);
  assert.deepEqual([chi.spamFullAt, chi.hamFullAt, opts({}).spamFullAt, opts({}).hamFullAt], [1, 0, 0.99, 0.01], 'full-weight points per method');
  assert.equal(opts({ spam_cutoff: 0.75 }).spamCutoff, 0.75);
  // 0.7 is below the evidence default spam cutoff but above chi-square's
  assert.equal(bayesSection.safeParse({ ham_cutoff: 0.7 }).success, true);
  assert.match(String(bayesSection.safeParse({ combine: 'chi-square', ham_cutoff: 0.7 }).error?.message), /ham_cutoff must be below/);
  assert.equal(bayesSection.safeParse({ combine: 'naive' }).success, false);
});

test('both combine methods rank a small learned set the same way round', async (t) => {
  for (const combine of ['evidence', 'chi-square'] as const) {
    const bayes = openBayes({ dataDir: tmp(t), config: cfg({ combine, use_shipped_model: false }) });
    for (const m of SPAM) await bayes.learner.learn(m, 'spam', 'manual');
    for (const m of HAM) await bayes.learner.learn(m, 'ham', 'manual');
    const spammy = await bayes.classifyRaw(mail('cheap pills offer', 'discount viagra pills casino bonus money today', 'deal@spam.biz'));
    const hammy = await bayes.classifyRaw(mail('project meeting', 'review the parser module patch before the meeting', 'bob@work.example'));
    assert.ok(spammy.status === 'scored' && hammy.status === 'scored');
    assert.equal(spammy.method, combine);
    assert.ok(spammy.probability > hammy.probability, `${combine}: ${spammy.probability} vs ${hammy.probability}`);
    assert.equal(hammy.verdict, 'ham', combine);
    await bayes.close();
  }
});

test('a spam cutoff below the method default is warned about at start; options given as undefined keep defaults', (t) => {
  const warnings: string[] = [];
  const log = { debug() {}, info() {}, error() {}, warn(msg: string) { warnings.push(msg); }, child() { return log; } };
  openBayes({ dataDir: tmp(t), config: cfg({ spam_cutoff: 0.6 }), log });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /bayes\.spam_cutoff 0\.6 is below 0\.9.*combine: chi-square/);
  openBayes({ dataDir: tmp(t), config: cfg({ spam_cutoff: 0.6, combine: 'chi-square' }), log });
  openBayes({ dataDir: tmp(t), config: cfg({ spam_cutoff: 0.95 }), log });
  assert.equal(warnings.length, 1, 'no warning at or above the default');
  openBayes({ dataDir: tmp(t), config: cfg({ spam_cutoff: 0.5, combine: 'chi-square' }), log });
  assert.match(warnings[1] ?? '', /bayes\.spam_cutoff 0\.5 is below 0\.6, the cross-validated default of bayes\.combine: chi-square; more ham will be called spam$/);
  const c = new BayesClassifier(new MemoryTokenStore(), { combine: undefined, spamCutoff: undefined });
  assert.deepEqual([c.opts.combine, c.opts.spamCutoff], ['evidence', DEFAULT_CUTOFFS.evidence.spam]);
});

test('opening the store for writing removes temp files of writers that died mid-save (Ctrl-C), not of live ones', async (t) => {
  const dir = tmp(t);
  const store = path.join(dir, STORE_FILE);
  mkdirSync(path.dirname(store), { recursive: true });
  // a pid that ran and has exited
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const dead = Number(child.stdout);
  assert.ok(dead > 0);
  const name = (pid: number, n: number): string => `.${path.basename(store)}.${pid}.${n}.tmp`;
  const files = [name(dead, 1), name(dead, 7), name(process.ppid, 1), name(process.pid, 3), '.tokens.gz.tmp', `.other.gz.${dead}.1.tmp`, `.tokens.gz.${dead}.x.tmp`];
  for (const f of files) writeFileSync(path.join(path.dirname(store), f), 'x'.repeat(1000));
  const bayes = openBayes({ dataDir: dir, config: cfg(), readOnly: true });
  await bayes.close();
  assert.equal(readdirSync(path.dirname(store)).length, files.length, 'a reading command leaves them');
  const writer = openBayes({ dataDir: dir, config: cfg() });
  await writer.close();
  // this process's own pid: not a file it is writing, so a leftover of an earlier process with that pid (a container's pid 1)
  assert.deepEqual(readdirSync(path.dirname(store)).sort(), [name(process.ppid, 1), '.tokens.gz.tmp', `.other.gz.${dead}.1.tmp`, `.tokens.gz.${dead}.x.tmp`].sort());
});
