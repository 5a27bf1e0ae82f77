// `spamgate explain FILE [--rcpt ADDR] [--no-bayes] [--json]`: every content symbol that hit, its weight,
// score, options and description, the total and which threshold decided the action.
import { statSync } from 'node:fs';
import { loadContentRuleset, offlineChecks, openFilterEnv, requirePaths, runOffline } from '../bayes/cli-support.ts';
import type { BayesResult } from '../bayes/classifier.ts';
import { CORPUS_MESSAGE_MAX_BYTES, readCorpus } from '../bayes/corpus.ts';
import { BAYES_RESULT_KEY } from '../checks/bayes.ts';
import type { Thresholds } from '../scoring/rules-sections.ts';
import { overridesFor, thresholdsFor, type Ruleset } from '../scoring/ruleset.ts';
import { scoreHits, type Verdict } from '../scoring/scorer.ts';
import { createFuzzyCheck } from '../checks/fuzzy.ts';
import { openFuzzyForCli } from '../fuzzy/cli-support.ts';
import type { FuzzyFilter } from '../fuzzy/open-fuzzy.ts';
import { createRecordedReputationCheck } from '../checks/reputation.ts';
import { offlineUriblChecks } from '../checks/uribl-offline.ts';
import { openReputationForCli } from '../reputation/cli-support.ts';
import type { Reputation } from '../reputation/open-reputation.ts';
import { UsageError, type Command } from './types.ts';
import { createUserDirectory } from '../mailhost/directory.ts';
import { silentLogger } from '../util/logger.ts';

export const explainCommand: Command = {
  name: 'explain',
  summary: 'show every content symbol a message hits and what decided the action',
  usage: [
    'usage: spamgate explain FILE [--rcpt ADDRESS] [--no-bayes] [--json] [--config FILE] [--data-dir DIR]',
    '  Runs the content checks (Bayes, look-alike, content rules) on the message and scores it;',
    '  with antivirus.enabled, clamd scans it too (VIRUS_FOUND names the virus); with fuzzy.enabled, the',
    '  fuzzy store of reported spam is looked up (FUZZY_SPAM, FUZZY_ATTACHMENT); with reputation.enabled, the',
    '  sender reputation of the keys spamgate recorded on a delivered message (REPUTATION_*); with URI block',
    '  lists enabled (dnsbl kinds uri, uri_ip, uri_ns, from_header), they are asked through dns.servers (URIBL_*).',
    '  --rcpt      use the thresholds for this recipient (overrides: in rules/ by domain or address; an',
    '              address override counts for its sub-addresses too, by mailhost.subaddress_delimiter)',
    '  --no-bayes  leave the Bayes classifier out',
    '  --json      one JSON object (action, score, symbols, thresholds) instead',
  ].join('\n'),
  valueFlags: ['rcpt'],
  booleanFlags: ['no-bayes', 'json'],
  async run(args, io) {
    const file = args.positional[0];
    if (file === undefined || args.positional.length > 1) throw new UsageError('give exactly one FILE');
    requirePaths([file]);
    if (statSync(file).isDirectory()) throw new UsageError(`${file} is a directory; give one message file (spamgate classify takes directories)`);
    const raw = readOneMessage(file);
    const rcpt = args.flags.get('rcpt');
    // thresholds are looked up by address or domain: anything else would silently give the defaults
    if (typeof rcpt === 'string' && !/^(?:[^@\s]+@)?[^@\s.]+(?:\.[^@\s.]+)*$/.test(rcpt)) throw new UsageError(`--rcpt ${JSON.stringify(rcpt)} is neither an address (local@domain) nor a domain`);
    const env = await openFilterEnv(args);
    let fuzzy: FuzzyFilter | undefined;
    let reputation: Reputation | undefined;
    try {
      // full-stack: an address that is a user or alias of its own is no sub-address (as the gateway judges it)
      const { loaded } = env;
      const directory = typeof rcpt === 'string' && loaded.config.mode === 'full-stack' ? createUserDirectory({ config: { ...loaded.config, mailhost: { ...loaded.config.mailhost, watch_files: false } }, dataDir: loaded.dataDir, log: silentLogger, ...(loaded.file ? { configFile: loaded.file } : {}) }) : undefined;
      const ruleset = loadContentRuleset(env.loaded, directory ? (a) => directory.hasOwnEntry(a) : undefined);
      directory?.close();
      // the reported spam too, read only: what the gateway would find (not in masscheck, whose corpus may be the reports)
      const { config } = env.loaded;
      fuzzy = config.fuzzy.enabled && !config.checks.disabled.includes('fuzzy') ? await openFuzzyForCli(env.loaded, { learns: false }) : undefined;
      reputation = config.reputation.enabled && !config.checks.disabled.includes('reputation') ? await openReputationForCli(env.loaded, { writes: false }) : undefined;
      const checks = [
        ...offlineChecks(ruleset, env, !args.flags.has('no-bayes'), { antivirus: true }),
        ...(fuzzy ? [createFuzzyCheck({ fuzzy, limits: env.limits })] : []),
        ...(reputation ? [createRecordedReputationCheck({ reputation, config: config.reputation })] : []),
        ...offlineUriblChecks(env.loaded, ruleset, env.limits),
      ];
      const { hits, results } = await runOffline(checks, raw);
      const t = typeof rcpt === 'string' ? thresholdsFor(ruleset, rcpt) : ruleset.thresholds;
      const overrides = typeof rcpt === 'string' ? overridesFor(ruleset, rcpt) : [];
      const verdict = scoreHits(hits, ruleset, t);
      const bayes = results.get(BAYES_RESULT_KEY) as BayesResult | undefined;
      io.stdout.write(
        args.flags.has('json')
          ? JSON.stringify({ path: file, ...(typeof rcpt === 'string' ? { rcpt, overrides } : {}), ...verdict, thresholds: t, ...(bayes?.status === 'silent' ? { bayes: { status: 'silent', reason: bayes.reason } } : {}) }) + '\n'
          : formatExplain(file, verdict, ruleset, t, bayes, overrides),
      );
    } finally {
      await fuzzy?.close();
      await reputation?.close();
      await env.bayes.close();
    }
    return 0;
  },
};

/**
 * The one message in `file`, read as train and classify read it (bounded, so a device such as /dev/zero
 * is refused; a pipe read once; a "From " line before it dropped). An mbox of several messages is bad
 * usage: explaining it as one message would judge the whole mailbox as a single mail.
 */
function readOneMessage(file: string): Buffer {
  const items = readCorpus([file]);
  try {
    const first = items.next();
    if (first.done) throw new Error(`${file}: no message found`);
    if (first.value.error !== undefined) {
      throw new Error(/over the \d+-byte limit/.test(first.value.error) ? `${file}: over the ${CORPUS_MESSAGE_MAX_BYTES}-byte limit of one message` : `${file}: ${first.value.error}`);
    }
    if (!items.next().done) throw new UsageError(`${file} is an mbox of several messages; give one message (spamgate classify takes mbox files)`);
    return first.value.raw;
  } finally {
    items.return(undefined);
  }
}

/** `overrides`: the override keys the thresholds came from (overridesFor), least specific first. */
export function formatExplain(file: string, verdict: Verdict, ruleset: Ruleset, thresholds: Thresholds = ruleset.thresholds, bayes?: BayesResult, overrides: readonly string[] = []): string {
  const lines = [`${file}`, `  action ${verdict.action} (score ${verdict.score.toFixed(2)}; decided by ${verdict.decidedBy})`];
  const rows = [...verdict.symbols].sort((a, b) => b.score - a.score);
  if (rows.length === 0) lines.push('  no symbols hit');
  for (const s of rows) {
    const def = ruleset.symbols.get(s.symbol);
    const opts = s.options.length ? ` [${s.options.join(', ')}]` : '';
    lines.push(`  ${s.score >= 0 ? ' ' : ''}${s.score.toFixed(2).padStart(6)}  ${s.symbol} (weight ${String(s.weight)})${opts}`);
    if (def) lines.push(`          ${def.description}`);
  }
  if (bayes?.status === 'silent') lines.push(`  Bayes silent: ${bayes.reason}`);
  const th = (['reject', 'tempfail', 'quarantine', 'junk', 'rewrite_subject', 'add_header'] as const).filter((k) => thresholds[k] !== undefined).map((k) => `${k} >= ${thresholds[k]}`);
  lines.push(`  thresholds: ${th.join(', ') || '(none)'}${overrides.length ? ` (overrides: ${overrides.join(', ')})` : ''}`);
  return lines.join('\n') + '\n';
}
