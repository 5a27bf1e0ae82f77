// `spamgate masscheck --ham PATH --spam PATH`: replays corpora through the content checks and prints per
// symbol the hits in ham and spam, the S/O ratio, and the FP / FN count at the current thresholds.
import { flagList, loadContentRuleset, offlineChecks, openFilterEnv, progressBar, runOffline } from '../bayes/cli-support.ts';
import { listCorpusFiles, readCorpus } from '../bayes/corpus.ts';
import { scoreHits } from '../scoring/scorer.ts';
import { UsageError, type Command } from './types.ts';

interface Row {
  ham: number;
  spam: number;
}

export const masscheckCommand: Command = {
  name: 'masscheck',
  summary: 'replay ham and spam corpora through the content rules and report per-rule hits',
  usage: [
    'spamgate masscheck --ham PATH[,PATH] --spam PATH[,PATH] [--no-bayes] [--json]',
    '  Per symbol: hits in ham, hits in spam, S/O (share of hits that were spam) — and overall false',
    '  positives / negatives at the junk threshold (reject when no junk threshold is set).',
    '  Use --no-bayes when the Bayes store was trained on the same corpus.',
  ].join('\n'),
  valueFlags: ['ham', 'spam'],
  booleanFlags: ['no-bayes', 'json'],
  async run(args, io) {
    const ham = flagList(args, 'ham');
    const spam = flagList(args, 'spam');
    if (ham.length === 0 || spam.length === 0) throw new UsageError('masscheck: give --ham PATH and --spam PATH');
    const env = await openFilterEnv(args);
    const ruleset = loadContentRuleset(env.loaded);
    const checks = offlineChecks(ruleset, env, !args.flags.has('no-bayes'));
    const cut = ruleset.thresholds.junk ?? ruleset.thresholds.reject ?? Infinity;
    const rows = new Map<string, Row>();
    const n: Row = { ham: 0, spam: 0 };
    let fp = 0;
    let fn = 0;
    const total = [...ham, ...spam].reduce((a, p) => a + listCorpusFiles(p).length, 0);
    const bar = progressBar(io.stderr, io.isTty, total);
    for (const [cls, paths] of [['ham', ham], ['spam', spam]] as const) {
      for (const msg of readCorpus(paths)) {
        bar.tick(msg.id);
        n[cls]++;
        const { hits } = await runOffline(checks, msg.raw);
        for (const sym of new Set(hits.map((h) => h.symbol))) {
          const row = rows.get(sym) ?? { ham: 0, spam: 0 };
          row[cls]++;
          rows.set(sym, row);
        }
        const score = scoreHits(hits, ruleset).score;
        if (cls === 'ham' && score >= cut) fp++;
        if (cls === 'spam' && score < cut) fn++;
      }
    }
    bar.done();
    const table = [...rows].map(([symbol, r]) => {
      const hp = n.ham ? r.ham / n.ham : 0;
      const sp = n.spam ? r.spam / n.spam : 0;
      return { symbol, ham: r.ham, spam: r.spam, hamPct: hp * 100, spamPct: sp * 100, so: hp + sp > 0 ? sp / (hp + sp) : 0 };
    });
    table.sort((a, b) => b.so - a.so || b.spam - a.spam);
    if (args.flags.has('json')) {
      io.stdout.write(JSON.stringify({ messages: n, threshold: cut, falsePositives: fp, falseNegatives: fn, rules: table }) + '\n');
      return 0;
    }
    io.stdout.write(`${'SYMBOL'.padEnd(28)} ${'HAM'.padStart(6)} ${'HAM%'.padStart(7)} ${'SPAM'.padStart(6)} ${'SPAM%'.padStart(7)} ${'S/O'.padStart(6)}\n`);
    for (const r of table) {
      io.stdout.write(`${r.symbol.padEnd(28)} ${String(r.ham).padStart(6)} ${r.hamPct.toFixed(2).padStart(7)} ${String(r.spam).padStart(6)} ${r.spamPct.toFixed(2).padStart(7)} ${r.so.toFixed(3).padStart(6)}\n`);
    }
    io.stdout.write(`messages: ${n.ham} ham, ${n.spam} spam; at threshold ${cut}: ${fp} false positives, ${fn} false negatives\n`);
    return 0;
  },
};
