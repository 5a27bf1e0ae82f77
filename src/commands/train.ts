// `spamgate train --spam PATH --ham PATH [--on-error]`: teach the Bayes filter from files, directories or mboxes.
import { flagList, openFilterEnv, progressBar, progressWanted, refuseSharedFiles, requirePaths } from '../bayes/cli-support.ts';
import { displayId, listCorpusFiles, readCorpus } from '../bayes/corpus.ts';
import type { LearnOutcome, MessageClass } from '../bayes/learner.ts';
import { bayesShared, openFuzzyForCli } from '../fuzzy/cli-support.ts';
import type { FuzzyFilter } from '../fuzzy/open-fuzzy.ts';
import { UsageError, type Command } from './types.ts';

export const trainCommand: Command = {
  name: 'train',
  summary: 'teach the Bayes filter spam and ham (files, directories, mbox)',
  usage: [
    'usage: spamgate train --spam PATH[,PATH] --ham PATH[,PATH] [--on-error] [--no-fuzzy] [--config FILE] [--data-dir DIR]',
    '  Several paths: comma-separated, or the flag given again (--spam A --spam B).',
    '  Learns every message under the paths (files, directories recursively, mbox files; in a Maildir the',
    '  messages in cur/ and new/). Names starting with a dot (Maildir++ subfolders such as .Junk) are skipped.',
    '  A message learned before as the same class counts once; as the other class it is moved.',
    '  A file under both a --spam and a --ham path is refused (exit code 2).',
    '  Empty files and files that cannot be read are skipped and listed on stderr (exit code 1).',
    '  A progress bar is drawn on stderr when it is a terminal.',
    '  --on-error   learn only messages the filter currently gets wrong or is unsure about',
    '  --no-fuzzy   do not add the --spam messages to the fuzzy store (added by default when fuzzy.enabled)',
  ].join('\n'),
  finishesWithoutReader: true,
  valueFlags: ['spam', 'ham'],
  repeatableFlags: ['spam', 'ham'],
  booleanFlags: ['on-error', 'no-fuzzy'],
  async run(args, io) {
    const spam = flagList(args, 'spam');
    const ham = flagList(args, 'ham');
    if (spam.length === 0 && ham.length === 0) throw new UsageError('give --spam PATH and/or --ham PATH');
    requirePaths([...spam, ...ham]);
    const listed = (paths: string[]): [string, string[]][] => paths.map((p) => [p, listCorpusFiles(p)]);
    const spamFiles = listed(spam);
    const hamFiles = listed(ham);
    refuseSharedFiles(spamFiles, hamFiles);
    const onError = args.flags.has('on-error');
    const env = await openFilterEnv(args, undefined, { learns: true });
    // reported spam is also a fuzzy digest, so its near-copies hit FUZZY_SPAM (src/fuzzy/)
    let fuzzy: FuzzyFilter | undefined;
    try {
      fuzzy = spam.length > 0 && env.loaded.config.fuzzy.enabled && !args.flags.has('no-fuzzy') ? await openFuzzyForCli(env.loaded, { learns: true, lock: bayesShared(env.loaded) }) : undefined;
    } catch (err) {
      await env.bayes.close();
      throw err;
    }
    let fuzzyAdded = 0;
    const counts: Record<LearnOutcome | 'skipped' | 'empty' | 'unreadable', number> = { learned: 0, already: 0, relearned: 0, forgotten: 0, unknown: 0, skipped: 0, empty: 0, unreadable: 0 };
    const jobs: [MessageClass, string[]][] = [['spam', spam], ['ham', ham]];
    let total = 0;
    for (const [, files] of [...spamFiles, ...hamFiles]) total += files.length;
    const bar = progressBar(io.stderr, progressWanted(io), total);
    const started = performance.now();
    let totals = { spam: 0, ham: 0 };
    const problems: string[] = [];
    try {
      for (const [cls, paths] of jobs) {
        for (const msg of readCorpus(paths)) {
          bar.tick(msg.id);
          if (msg.error !== undefined) {
            counts.unreadable++;
            problems.push(`${displayId(msg.id)}: ${msg.error}`);
            continue;
          }
          if (msg.raw.toString('latin1').trim() === '') {
            counts.empty++;
            problems.push(`${displayId(msg.id)}: empty, not learned`);
            continue;
          }
          if (onError) {
            const r = await env.bayes.classifyRaw(msg.raw);
            if (r.status === 'scored' && r.verdict === cls) {
              counts.skipped++;
              continue;
            }
          }
          counts[await env.bayes.learner.learn(msg.raw, cls, 'manual')]++;
          if (cls === 'spam' && fuzzy && (await fuzzy.addSpam(msg.raw)).kind === 'added') fuzzyAdded++;
        }
      }
      totals = await env.bayes.store.totals();
    } finally {
      bar.done();
      try {
        await fuzzy?.close();
      } finally {
        await env.bayes.close();
      }
    }
    for (const p of problems) io.stderr.write(`train: ${p}\n`);
    const secs = (performance.now() - started) / 1000;
    const notLearned = counts.empty + counts.unreadable ? `, not learned (empty or unreadable) ${counts.empty + counts.unreadable}` : '';
    io.stdout.write(
      `learned ${counts.learned}, relearned ${counts.relearned}, already known ${counts.already}` +
        `${onError ? `, skipped (already right) ${counts.skipped}` : ''}${notLearned} in ${secs.toFixed(1)}s; store now ${totals.spam} spam / ${totals.ham} ham\n`,
    );
    // on its own line, and only when there is something to say: the line above is what scripts read
    if (fuzzyAdded > 0) io.stdout.write(`fuzzy store: digests of ${fuzzyAdded} spam added (--no-fuzzy: none)\n`);
    return counts.unreadable ? 1 : 0;
  },
};
