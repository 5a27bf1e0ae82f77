// `spamgate train --spam PATH --ham PATH [--on-error]`: teach the Bayes filter from files, directories or mboxes.
import { flagList, openFilterEnv, progressBar } from '../bayes/cli-support.ts';
import { listCorpusFiles, readCorpus } from '../bayes/corpus.ts';
import type { LearnOutcome, MessageClass } from '../bayes/learner.ts';
import { UsageError, type Command } from './types.ts';

export const trainCommand: Command = {
  name: 'train',
  summary: 'teach the Bayes filter spam and ham (files, directories, mbox)',
  usage: [
    'spamgate train --spam PATH[,PATH] --ham PATH[,PATH] [--on-error]',
    '  Learns every message under the paths (files, directories recursively, mbox files).',
    '  A message learned before as the same class counts once; as the other class it is moved.',
    '  --on-error   learn only messages the filter currently gets wrong or is unsure about',
  ].join('\n'),
  valueFlags: ['spam', 'ham'],
  booleanFlags: ['on-error'],
  async run(args, io) {
    const spam = flagList(args, 'spam');
    const ham = flagList(args, 'ham');
    if (spam.length === 0 && ham.length === 0) throw new UsageError('train: give --spam PATH and/or --ham PATH');
    const onError = args.flags.has('on-error');
    const env = await openFilterEnv(args);
    const counts: Record<LearnOutcome | 'skipped', number> = { learned: 0, already: 0, relearned: 0, forgotten: 0, unknown: 0, skipped: 0 };
    const jobs: [MessageClass, string[]][] = [['spam', spam], ['ham', ham]];
    let total = 0;
    for (const [, paths] of jobs) for (const p of paths) total += listCorpusFiles(p).length;
    const bar = progressBar(io.stderr, io.isTty, total);
    const started = performance.now();
    let totals = { spam: 0, ham: 0 };
    try {
      for (const [cls, paths] of jobs) {
        for (const msg of readCorpus(paths)) {
          bar.tick(msg.id);
          if (onError) {
            const r = await env.bayes.classifyRaw(msg.raw);
            if (r.status === 'scored' && r.verdict === cls) {
              counts.skipped++;
              continue;
            }
          }
          counts[await env.bayes.learner.learn(msg.raw, cls, 'manual')]++;
        }
      }
      totals = await env.bayes.store.totals();
    } finally {
      bar.done();
      await env.bayes.close();
    }
    const secs = (performance.now() - started) / 1000;
    io.stdout.write(
      `learned ${counts.learned}, relearned ${counts.relearned}, already known ${counts.already}` +
        `${onError ? `, skipped (already right) ${counts.skipped}` : ''} in ${secs.toFixed(1)}s; store now ${totals.spam} spam / ${totals.ham} ham\n`,
    );
    return 0;
  },
};
