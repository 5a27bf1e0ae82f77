// `spamgate reputation show KEY` / `reputation reset KEY`: a client network's or an authenticated sender
// domain's history (decayed average and count) and what the check would emit for it; reset forgets it.
import { hitsOf } from '../checks/reputation.ts';
import { openReputationForCli } from '../reputation/cli-support.ts';
import { parseKeyId } from '../reputation/keys.ts';
import { UsageError, type Command } from './types.ts';
import { loadFromArgs } from './load-args.ts';

export const reputationCommand: Command = {
  name: 'reputation',
  summary: 'show or reset the sender reputation of a client network or an authenticated sender domain',
  usage: [
    'usage: spamgate reputation show KEY | reputation reset KEY [--config FILE] [--data-dir DIR]',
    '  KEY: ip:ADDRESS[/LEN] or a bare address (its network, by reputation.ipv4_prefix / ipv6_prefix),',
    '       domain:NAME or a bare domain name.',
    '  show: the decayed average score and message count, and the symbol the check would emit now.',
    '  reset: forgets the key (exit 1 when it had no history). With the in-process store this is refused',
    '  while spamgate serve runs on the same data directory.',
  ].join('\n'),
  async run(args, io) {
    const [sub, text, ...rest] = args.positional;
    if ((sub !== 'show' && sub !== 'reset') || text === undefined || rest.length > 0) throw new UsageError('give show KEY or reset KEY');
    const loaded = loadFromArgs(args);
    const { config } = loaded;
    const key = parseKeyId(text, config.reputation);
    if (!key) throw new UsageError(`${JSON.stringify(text)} is neither an address, a network (ip:...) nor a domain (domain:...)`);
    const reputation = await openReputationForCli(loaded, { writes: sub === 'reset' });
    try {
      const label = `${key.kind}:${key.value}`;
      if (sub === 'reset') {
        const had = await reputation.reset(key);
        io.stdout.write(`${label}\t${had ? 'reset' : 'no history'}\n`);
        return had ? 0 : 1;
      }
      const [judged] = await reputation.lookup([key], config.reputation, false);
      const j = judged?.judgement;
      if (!judged || !j) {
        io.stdout.write(`${label}\tno history\n`);
        return 0;
      }
      const hit = hitsOf([judged])[0];
      io.stdout.write(`${label}\taverage ${j.average.toFixed(2)}, count ${j.count.toFixed(1)}: ${j.kind}${hit ? ` (${hit.symbol}, factor ${hit.factor})` : ''}\n`);
      return 0;
    } finally {
      await reputation.close();
    }
  },
};
