// `spamgate classify FILE... [--explain] [--json]`: Bayes probability and verdict per message, one line each.
import { openFilterEnv, outputGone, requirePaths } from '../bayes/cli-support.ts';
import type { BayesResult } from '../bayes/classifier.ts';
import { displayId, readCorpus } from '../bayes/corpus.ts';
import { UsageError, type Command } from './types.ts';

export const classifyCommand: Command = {
  name: 'classify',
  summary: 'Bayes spam probability and verdict for messages',
  usage: [
    'usage: spamgate classify FILE... [--explain] [--json] [--config FILE] [--data-dir DIR]',
    '  Prints "path<TAB>probability<TAB>spam|unsure|ham" per message (files, directories, mbox); a path',
    '  holding a tab, a line break or another control character is printed JSON-quoted.',
    '  A file that cannot be read gets "path<TAB>-<TAB>error: reason" and the exit code is 1; a path that does not exist is a usage error (exit 2) and nothing is classified.',
    '  --explain   add the evidence of header, body and links, and the most deciding tokens',
    '  --json      one JSON object per line instead',
  ].join('\n'),
  booleanFlags: ['explain', 'json'],
  async run(args, io) {
    if (args.positional.length === 0) throw new UsageError('give at least one FILE');
    requirePaths(args.positional);
    const explain = args.flags.has('explain');
    const json = args.flags.has('json');
    const env = await openFilterEnv(args);
    const gone = outputGone(io.stdout);
    let silent = false;
    let failed = 0;
    let seen = 0;
    try {
      for (const msg of readCorpus(args.positional)) {
        if (gone()) break;
        seen++;
        if (msg.error !== undefined) {
          failed++;
          io.stdout.write(json ? JSON.stringify({ path: msg.id, probability: null, verdict: 'error', error: msg.error }) + '\n' : `${displayId(msg.id)}\t-\terror: ${msg.error}\n`);
          continue;
        }
        const r = await env.bayes.classifyRaw(msg.raw);
        if (r.status === 'silent') silent = true;
        io.stdout.write(json ? JSON.stringify(asJson(msg.id, r, explain)) + '\n' : asText(msg.id, r, explain));
      }
    } finally {
      await env.bayes.close();
    }
    if (seen === 0) io.stderr.write(`classify: no messages found under ${args.positional.join(', ')}\n`);
    if (silent) io.stderr.write('classify: the filter is silent until enough spam and ham are learned (spamgate train)\n');
    if (failed) io.stderr.write(`classify: ${failed} file(s) could not be read\n`);
    return failed ? 1 : 0;
  },
};

function topClues(r: Extract<BayesResult, { status: 'scored' }>, n: number): { token: string; prob: number; spam: number; ham: number }[] {
  return r.clues.slice(0, n).map((c) => ({ token: c.token, prob: Math.round(c.prob * 10000) / 10000, spam: c.spam, ham: c.ham }));
}

/** Clue count and chi-square probability of every clue, then of the header, body and link clues alone. */
function evidenceOf(r: Extract<BayesResult, { status: 'scored' }>): { group: string; clues: number; chi_square: number }[] {
  return r.groups.map((g) => ({ group: g.group, clues: g.clues, chi_square: Number(g.chiSquare.toFixed(6)) }));
}

function asJson(id: string, r: BayesResult, explain: boolean): Record<string, unknown> {
  if (r.status === 'silent') return { path: id, probability: null, verdict: 'silent', reason: r.reason };
  return { path: id, probability: Number(r.probability.toFixed(6)), verdict: r.verdict, ...(explain ? { combine: r.method, evidence: evidenceOf(r), tokens: topClues(r, 15) } : {}) };
}

function asText(id: string, r: BayesResult, explain: boolean): string {
  if (r.status === 'silent') return `${displayId(id)}\t-\tsilent\n`;
  let line = `${displayId(id)}\t${r.probability.toFixed(4)}\t${r.verdict}\n`;
  if (!explain) return line;
  line += `    combined by ${r.method}; evidence (clues, chi-square): ${evidenceOf(r).map((g) => `${g.group} ${g.clues} ${g.chi_square.toFixed(4)}`).join(', ')}\n`;
  for (const c of topClues(r, 15)) line += `    ${c.prob.toFixed(4)}  spam=${c.spam} ham=${c.ham}  ${JSON.stringify(c.token)}\n`;
  return line;
}
