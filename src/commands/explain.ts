// `spamgate explain FILE [--no-bayes]`: every content symbol that hit, its weight, score, options and
// description, the total and which threshold decided the action.
import { readFileSync } from 'node:fs';
import { loadContentRuleset, offlineChecks, openFilterEnv, runOffline } from '../bayes/cli-support.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { scoreHits, type Verdict } from '../scoring/scorer.ts';
import { UsageError, type Command } from './types.ts';

export const explainCommand: Command = {
  name: 'explain',
  summary: 'show every content symbol a message hits and what decided the action',
  usage: 'spamgate explain FILE [--no-bayes] [--json]\n  Runs the content checks (Bayes, look-alike, content rules) on the message and scores it.',
  booleanFlags: ['no-bayes', 'json'],
  async run(args, io) {
    const file = args.positional[0];
    if (file === undefined || args.positional.length > 1) throw new UsageError('explain: give exactly one FILE');
    const env = await openFilterEnv(args);
    const ruleset = loadContentRuleset(env.loaded);
    const checks = offlineChecks(ruleset, env, !args.flags.has('no-bayes'));
    const { hits } = await runOffline(checks, readFileSync(file));
    const verdict = scoreHits(hits, ruleset);
    io.stdout.write(args.flags.has('json') ? JSON.stringify({ path: file, ...verdict }) + '\n' : formatExplain(file, verdict, ruleset));
    return 0;
  },
};

export function formatExplain(file: string, verdict: Verdict, ruleset: Ruleset): string {
  const lines = [`${file}`, `  action ${verdict.action} (score ${verdict.score.toFixed(2)}; decided by ${verdict.decidedBy})`];
  const rows = [...verdict.symbols].sort((a, b) => b.score - a.score);
  if (rows.length === 0) lines.push('  no symbols hit');
  for (const s of rows) {
    const def = ruleset.symbols.get(s.symbol);
    const opts = s.options.length ? ` [${s.options.join(', ')}]` : '';
    lines.push(`  ${s.score >= 0 ? ' ' : ''}${s.score.toFixed(2).padStart(6)}  ${s.symbol} (weight ${String(s.weight)})${opts}`);
    if (def) lines.push(`          ${def.description}`);
  }
  const t = ruleset.thresholds;
  const th = (['reject', 'tempfail', 'junk', 'rewrite_subject', 'add_header'] as const).filter((k) => t[k] !== undefined).map((k) => `${k} >= ${t[k]}`);
  lines.push(`  thresholds: ${th.join(', ') || '(none)'}`);
  return lines.join('\n') + '\n';
}
