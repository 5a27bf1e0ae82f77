// `spamgate masscheck --ham PATH --spam PATH`: replays corpora through the content checks and prints per
// symbol its weight, the hits in ham and spam, the S/O ratio and the false positives / negatives it took
// part in, then the FP / FN at each of the current action thresholds.
import { flagList, loadContentRuleset, offlineChecks, openFilterEnv, progressBar, progressWanted, requirePaths, runOffline } from '../bayes/cli-support.ts';
import { displayId, listCorpusFiles, readCorpus } from '../bayes/corpus.ts';
import { scoreHits } from '../scoring/scorer.ts';
import { UsageError, type Command } from './types.ts';

interface Row {
  ham: number;
  spam: number;
  /** Ham at or above the spam threshold that hit this symbol. */
  fp: number;
  /** Spam below the spam threshold that hit this symbol. */
  fn: number;
}

const ACTIONS = ['reject', 'tempfail', 'quarantine', 'junk', 'rewrite_subject', 'add_header'] as const;

export const masscheckCommand: Command = {
  name: 'masscheck',
  summary: 'replay ham and spam corpora through the content rules and report per-rule hits',
  usage: [
    'usage: spamgate masscheck --ham PATH[,PATH] --spam PATH[,PATH] [--no-bayes] [--json] [--config FILE] [--data-dir DIR]',
    '  Several paths: comma-separated, or the flag given again (--ham A --ham B).',
    '  Per symbol: weight, hits in ham and spam, S/O (share of hits that were spam), and FP / FN: the',
    '  ham at or above the spam threshold (junk, else quarantine, else reject) and the spam below it that hit the symbol.',
    '  Then the false positives / negatives at each action threshold of rules/ as they are now.',
    '  Use --no-bayes when the Bayes store was trained on the same corpus.',
  ].join('\n'),
  valueFlags: ['ham', 'spam'],
  repeatableFlags: ['ham', 'spam'],
  booleanFlags: ['no-bayes', 'json'],
  async run(args, io) {
    const ham = flagList(args, 'ham');
    const spam = flagList(args, 'spam');
    if (ham.length === 0 || spam.length === 0) throw new UsageError('give --ham PATH and --spam PATH');
    requirePaths([...ham, ...spam]);
    const env = await openFilterEnv(args);
    const ruleset = loadContentRuleset(env.loaded);
    const checks = offlineChecks(ruleset, env, !args.flags.has('no-bayes'));
    const t = ruleset.thresholds;
    const cut = t.junk ?? t.quarantine ?? t.reject ?? Infinity;
    const levels = ACTIONS.flatMap((a) => (t[a] === undefined ? [] : [{ action: a, threshold: t[a], fp: 0, fn: 0 }]));
    const rows = new Map<string, Row>();
    const n = { ham: 0, spam: 0 };
    let fp = 0;
    let fn = 0;
    const problems: string[] = [];
    const total = [...ham, ...spam].reduce((a, p) => a + listCorpusFiles(p).length, 0);
    const bar = progressBar(io.stderr, progressWanted(io), total);
    try {
      for (const [cls, paths] of [['ham', ham], ['spam', spam]] as const) {
        for (const msg of readCorpus(paths)) {
          bar.tick(msg.id);
          if (msg.error !== undefined) {
            problems.push(`${displayId(msg.id)}: ${msg.error}`);
            continue;
          }
          n[cls]++;
          const { hits } = await runOffline(checks, msg.raw);
          const verdict = scoreHits(hits, ruleset);
          // a symbol weighted reject or tempfail acts whatever the score: caught at every threshold
          const flagged = (threshold: number): boolean => verdict.hard || verdict.score >= threshold;
          const wrong = cls === 'ham' ? flagged(cut) : !flagged(cut);
          if (wrong && cls === 'ham') fp++;
          if (wrong && cls === 'spam') fn++;
          for (const l of levels) {
            if (cls === 'ham' && flagged(l.threshold)) l.fp++;
            if (cls === 'spam' && !flagged(l.threshold)) l.fn++;
          }
          for (const sym of new Set(hits.map((h) => h.symbol))) {
            const row = rows.get(sym) ?? { ham: 0, spam: 0, fp: 0, fn: 0 };
            row[cls]++;
            if (wrong) row[cls === 'ham' ? 'fp' : 'fn']++;
            rows.set(sym, row);
          }
        }
      }
    } finally {
      bar.done();
      await env.bayes.close();
    }
    for (const p of problems) io.stderr.write(`masscheck: ${p}\n`);
    const table = [...rows].map(([symbol, r]) => {
      const hp = n.ham ? r.ham / n.ham : 0;
      const sp = n.spam ? r.spam / n.spam : 0;
      const weight = ruleset.symbols.get(symbol)?.weight ?? 0;
      return { symbol, weight, ham: r.ham, spam: r.spam, hamPct: hp * 100, spamPct: sp * 100, so: hp + sp > 0 ? sp / (hp + sp) : 0, fp: r.fp, fn: r.fn };
    });
    table.sort((a, b) => b.so - a.so || b.spam - a.spam || (a.symbol < b.symbol ? -1 : 1));
    const code = problems.length ? 1 : 0;
    if (args.flags.has('json')) {
      io.stdout.write(JSON.stringify({ messages: n, threshold: cut, falsePositives: fp, falseNegatives: fn, thresholds: levels, rules: table, unreadable: problems.length }) + '\n');
      return code;
    }
    const head = `${'SYMBOL'.padEnd(28)} ${'WEIGHT'.padStart(8)} ${'HAM'.padStart(6)} ${'HAM%'.padStart(7)} ${'SPAM'.padStart(6)} ${'SPAM%'.padStart(7)} ${'S/O'.padStart(6)} ${'FP'.padStart(5)} ${'FN'.padStart(5)}`;
    const lines = [head];
    for (const r of table) {
      lines.push(
        `${r.symbol.padEnd(28)} ${String(r.weight).padStart(8)} ${String(r.ham).padStart(6)} ${r.hamPct.toFixed(2).padStart(7)} ${String(r.spam).padStart(6)} ${r.spamPct.toFixed(2).padStart(7)} ${r.so.toFixed(3).padStart(6)} ${String(r.fp).padStart(5)} ${String(r.fn).padStart(5)}`,
      );
    }
    lines.push(`messages: ${n.ham} ham, ${n.spam} spam; at threshold ${cut}: ${fp} false positives, ${fn} false negatives`);
    for (const l of levels) lines.push(`  ${`${l.action} >= ${l.threshold}`.padEnd(24)} FP ${String(l.fp).padStart(5)}  FN ${String(l.fn).padStart(5)}`);
    io.stdout.write(lines.join('\n') + '\n');
    return code;
  },
};
