// `spamgate forget FILE...`: unlearn messages from the Bayes filter, whatever class they were learned as, and
// take what those learned as spam match out of the fuzzy store, undoing what `train --spam` added there.
import { openFilterEnv, requirePaths } from '../bayes/cli-support.ts';
import { displayId, readCorpus } from '../bayes/corpus.ts';
import { bayesShared, openFuzzyForCli } from '../fuzzy/cli-support.ts';
import type { FuzzyFilter } from '../fuzzy/open-fuzzy.ts';
import { UsageError, type Command } from './types.ts';

export const forgetCommand: Command = {
  name: 'forget',
  summary: 'unlearn messages from the Bayes filter',
  usage: [
    'usage: spamgate forget FILE... [--no-fuzzy] [--config FILE] [--data-dir DIR]',
    '  Removes each message (file, directory or mbox) from what the filter has learned and prints',
    '  "path<TAB>forgotten|unknown" (unknown: never learned); unreadable files get "error: reason", exit 1.',
    '  A path holding a tab, a line break or another control character is printed JSON-quoted.',
    '  A forgotten message learned as spam is also taken out of the fuzzy store (what train --spam put',
    '  there) unless --no-fuzzy or fuzzy.enabled: false; when that fails (the store in Redis unreachable) the',
    '  message is named on stderr, exit 1.',
  ].join('\n'),
  booleanFlags: ['no-fuzzy'],
  finishesWithoutReader: true,
  async run(args, io) {
    if (args.positional.length === 0) throw new UsageError('give at least one FILE');
    requirePaths(args.positional);
    const env = await openFilterEnv(args, undefined, { learns: true });
    let fuzzy: FuzzyFilter | undefined;
    try {
      fuzzy = env.loaded.config.fuzzy.enabled && !args.flags.has('no-fuzzy') ? await openFuzzyForCli(env.loaded, { learns: true, lock: bayesShared(env.loaded) }) : undefined;
    } catch (err) {
      await env.bayes.close();
      throw err;
    }
    let fuzzyRemoved = 0;
    let forgotten = 0;
    let unknown = 0;
    let failed = 0;
    let totals = { spam: 0, ham: 0 };
    try {
      for (const msg of readCorpus(args.positional)) {
        if (msg.error !== undefined) {
          failed++;
          io.stdout.write(`${displayId(msg.id)}\terror: ${msg.error}\n`);
          continue;
        }
        const cls = await env.bayes.learner.forgetClass(msg.raw);
        const outcome = cls === undefined ? 'unknown' : 'forgotten';
        if (cls !== undefined) forgotten++;
        else unknown++;
        // only what was learned as spam went into the fuzzy store: forgetting a ham message removes nothing there
        // Bayes has forgotten it whatever the fuzzy store does: its line is written, and a failure there names the
        // message, as forgetting it again finds it unknown and leaves the fuzzy store alone
        io.stdout.write(`${displayId(msg.id)}\t${outcome}\n`);
        if (cls === 'spam' && fuzzy) {
          try {
            const taken = await fuzzy.remove(msg.raw);
            if (taken.kind === 'removed') fuzzyRemoved += taken.entries;
          } catch (err) {
            failed++;
            io.stderr.write(`forget: ${displayId(msg.id)}: forgotten by Bayes but not taken out of the fuzzy store (${(err as Error).message}); spamgate fuzzy del takes it out\n`);
          }
        }
      }
      totals = await env.bayes.store.totals();
    } finally {
      try {
        await fuzzy?.close();
      } finally {
        await env.bayes.close();
      }
    }
    io.stdout.write(`forgotten ${forgotten}, not learned ${unknown}; store now ${totals.spam} spam / ${totals.ham} ham\n`);
    // on its own line, and only when there is something to say: the line above is what scripts read
    if (fuzzyRemoved > 0) io.stdout.write(`fuzzy store: ${fuzzyRemoved} digests removed (--no-fuzzy: none)\n`);
    return failed ? 1 : 0;
  },
};
