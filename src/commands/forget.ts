// `spamgate forget FILE...`: unlearn messages from the Bayes filter, whatever class they were learned as.
import { openFilterEnv } from '../bayes/cli-support.ts';
import { readCorpus } from '../bayes/corpus.ts';
import { UsageError, type Command } from './types.ts';

export const forgetCommand: Command = {
  name: 'forget',
  summary: 'unlearn messages from the Bayes filter',
  usage: 'spamgate forget FILE...\n  Removes each message (file, directory or mbox) from what the filter has learned.',
  async run(args, io) {
    if (args.positional.length === 0) throw new UsageError('forget: give at least one FILE');
    const env = await openFilterEnv(args);
    let forgotten = 0;
    let unknown = 0;
    try {
      for (const msg of readCorpus(args.positional)) {
        const outcome = await env.bayes.learner.forget(msg.raw, 'manual');
        if (outcome === 'forgotten') forgotten++;
        else unknown++;
        io.stdout.write(`${msg.id}\t${outcome}\n`);
      }
    } finally {
      await env.bayes.close();
    }
    const totals = await env.bayes.store.totals();
    io.stdout.write(`forgotten ${forgotten}, not learned ${unknown}; store now ${totals.spam} spam / ${totals.ham} ham\n`);
    return 0;
  },
};
