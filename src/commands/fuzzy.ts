// `spamgate fuzzy add|del FILE...` and `spamgate fuzzy stats`: report spam to the fuzzy store (its
// near-copies then hit FUZZY_SPAM), take a report back, count the store. Files, directories and mboxes
// are read as train reads them (src/bayes/corpus.ts).
import { requirePaths } from '../bayes/cli-support.ts';
import { takeLearnLock } from '../bayes/learn-lock.ts';
import { displayId, readCorpus } from '../bayes/corpus.ts';
import { fuzzyInProcess, openFuzzyForCli } from '../fuzzy/cli-support.ts';
import { UsageError, type Command } from './types.ts';
import { loadFromArgs } from './load-args.ts';

export const fuzzyCommand: Command = {
  name: 'fuzzy',
  summary: 'report spam to the fuzzy store (near-copies hit FUZZY_SPAM), take it back, count it',
  usage: [
    'usage: spamgate fuzzy add FILE... | fuzzy del FILE... | fuzzy stats [--config FILE] [--data-dir DIR]',
    '  add: stores the digests of each message (file, directory or mbox) and prints "path<TAB>added N"',
    '       ("no-digest": no text of fuzzy.min_words words or more).',
    '  del: removes the stored digests each message matches (at fuzzy.threshold) and prints "path<TAB>removed N".',
    '  stats: the number of digests stored.',
    '  Unreadable files get "error: reason" (exit 1). With the in-process store this is refused while',
    '  spamgate serve runs on the same data directory (report by the Junk folder, or share it in Redis).',
  ].join('\n'),
  finishesWithoutReader: true,
  async run(args, io) {
    const [sub, ...paths] = args.positional;
    if (sub !== 'add' && sub !== 'del' && sub !== 'stats') throw new UsageError('give add FILE..., del FILE... or stats');
    if (sub === 'stats' && paths.length > 0) throw new UsageError('fuzzy stats takes no FILE');
    if (sub !== 'stats') {
      if (paths.length === 0) throw new UsageError(`give at least one FILE to fuzzy ${sub}`);
      requirePaths(paths);
    }
    const loaded = loadFromArgs(args);
    if (!loaded.config.fuzzy.enabled) io.stderr.write('fuzzy: fuzzy.enabled is false: the gateway does not look digests up\n');
    const learns = sub !== 'stats';
    // two writers of the in-process file would each save only their own work: one at a time, as train
    const lock = learns && fuzzyInProcess(loaded) ? await takeLearnLock(loaded.dataDir) : undefined;
    if (lock && !lock.ok) throw new Error(`the stores in ${loaded.dataDir} are in use by process ${lock.pid} (a spamgate train, forget or fuzzy): wait for it to finish`);
    let failed = 0;
    try {
      const fuzzy = await openFuzzyForCli(loaded, { learns });
      try {
        if (sub !== 'stats') {
          let total = 0;
          for (const msg of readCorpus(paths)) {
            if (msg.error !== undefined) {
              failed++;
              io.stdout.write(`${displayId(msg.id)}\terror: ${msg.error}\n`);
              continue;
            }
            const outcome = sub === 'add' ? await fuzzy.addSpam(msg.raw) : await fuzzy.remove(msg.raw);
            const n = outcome.kind === 'added' ? outcome.digests : outcome.kind === 'removed' ? outcome.entries : 0;
            total += n;
            io.stdout.write(`${displayId(msg.id)}\t${outcome.kind === 'no-digest' ? 'no-digest' : `${outcome.kind} ${n}`}\n`);
          }
          io.stdout.write(`${sub === 'add' ? 'added' : 'removed'} ${total} digests; `);
        }
        io.stdout.write(`store now ${(await fuzzy.stats()).entries} digests\n`);
      } finally {
        await fuzzy.close();
      }
    } finally {
      if (lock?.ok) await lock.release();
    }
    return failed ? 1 : 0;
  },
};
