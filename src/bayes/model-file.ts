// The on-disk token model: gzip'd text lines, written atomically (tmp file, fsync, rename, fsync dir).
//   spamgate-bayes 1
//   totals <spam> <ham>
//   d <digest> <s|h>            one line per learned message
//   <spam> <ham> <token>        one line per token (the token is the rest of the line)
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../util/atomic-file.ts';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { MessageClass } from './learner.ts';
import type { LearnedTotals, TokenCounts } from './token-store.ts';

export interface ModelData {
  totals: LearnedTotals;
  tokens: Map<string, TokenCounts>;
  digests: Map<string, MessageClass>;
  /** Token lines of the file that were malformed and skipped (see parseModel). */
  skipped?: number;
}

const MAGIC = 'spamgate-bayes 1';

export function emptyModel(): ModelData {
  return { totals: { spam: 0, ham: 0 }, tokens: new Map(), digests: new Map() };
}

export function serializeModel(model: ModelData, opts: { minCount?: number; withDigests?: boolean } = {}): Buffer {
  const minCount = opts.minCount ?? 1;
  const lines: string[] = [MAGIC, `totals ${model.totals.spam} ${model.totals.ham}`];
  if (opts.withDigests !== false) for (const [d, c] of model.digests) lines.push(`d ${d} ${c === 'spam' ? 's' : 'h'}`);
  const tokens = [...model.tokens].filter(([, c]) => c.spam + c.ham >= minCount && c.spam + c.ham > 0);
  tokens.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  // a token is the rest of its line: one with a line break cannot be written (the tokenizer makes none)
  for (const [t, c] of tokens) if (!/[\r\n]/.test(t)) lines.push(`${c.spam} ${c.ham} ${t}`);
  return gzipSync(lines.join('\n') + '\n', { level: 9 });
}

/**
 * Parses a model file; throws with the line number when the header or the totals are malformed. A
 * malformed token line is skipped (counted in `skipped`): one bad token must not make the store unusable.
 */
export function parseModel(data: Buffer, file = '(model)'): ModelData {
  let text: string;
  try {
    text = gunzipSync(data).toString('utf8');
  } catch (err) {
    throw new Error(`${file}: not a gzip'd spamgate Bayes model (${(err as Error).message}); move it away to start from the shipped model or empty`);
  }
  const lines = text.split('\n');
  if (lines[0] !== MAGIC) throw new Error(`${file}: not a spamgate Bayes model (first line ${JSON.stringify(lines[0]?.slice(0, 40))})`);
  const model = emptyModel();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === '') continue;
    if (line.startsWith('totals ')) {
      const [, s, h] = line.split(' ');
      const spam = Number(s);
      const ham = Number(h);
      if (!isCount(spam) || !isCount(ham)) throw new Error(`${file}:${i + 1}: malformed totals line`);
      model.totals = { spam, ham };
      continue;
    }
    if (line.startsWith('d ')) {
      const [, d, c] = line.split(' ');
      if (d) model.digests.set(d, c === 's' ? 'spam' : 'ham');
      continue;
    }
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    const spam = Number(line.slice(0, a));
    const ham = Number(line.slice(a + 1, b));
    if (a <= 0 || b <= a || !isCount(spam) || !isCount(ham)) {
      model.skipped = (model.skipped ?? 0) + 1;
      continue;
    }
    model.tokens.set(line.slice(b + 1), { spam, ham });
  }
  return model;
}

const isCount = (n: number): boolean => Number.isInteger(n) && n >= 0;

export function readModelFile(file: string): ModelData {
  return parseModel(readFileSync(file), file);
}

/** Replaces `file` atomically: a crash leaves either the old or the new model, never a torn one. */
export function writeFileAtomic(file: string, data: Buffer): void {
  writeFileAtomicSync(file, data, { mode: 0o644 });
}
