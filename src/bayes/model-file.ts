// The on-disk token model: gzip'd text lines, written atomically (tmp file, fsync, rename, fsync dir).
//   spamgate-bayes 2                     (1: the shipped model, token lines without the day)
//   totals <spam> <ham>
//   d <digest> <s|h>                     one line per learned message
//   <spam> <ham> <day> <token>           one line per token (the token is the rest of the line); day: the
//                                        day (since 1970) a message with it was last learned, for expiry
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../util/atomic-file.ts';
import { once } from 'node:events';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import type { MessageClass } from './learner.ts';
import type { LearnedTotals, TokenCounts } from './token-store.ts';

/** A token's counts as a model holds them: with the day it was last learned (undefined: not known). */
export interface StoredCounts extends TokenCounts {
  day?: number;
}

export interface ModelData {
  totals: LearnedTotals;
  tokens: Map<string, StoredCounts>;
  digests: Map<string, MessageClass>;
  /** Token lines of the file that were malformed and skipped (see parseModel). */
  skipped?: number;
}

const MAGIC_PREFIX = 'spamgate-bayes ';
const DAY_MS = 86_400_000;

/** Today as a day number (days since 1970-01-01 UTC). */
export const dayNumber = (ms = Date.now()): number => Math.floor(ms / DAY_MS);

export function emptyModel(): ModelData {
  return { totals: { spam: 0, ham: 0 }, tokens: new Map(), digests: new Map() };
}

// a token is the rest of its line: one with a line break cannot be written (the tokenizer makes none)
const writable = (token: string, c: TokenCounts, minCount: number): boolean => {
  const n = c.spam + c.ham;
  return n >= minCount && n > 0 && !/[\r\n]/.test(token);
};

function headLines(model: ModelData, version: 1 | 2, withDigests: boolean): string[] {
  const lines = [`${MAGIC_PREFIX}${version}`, `totals ${model.totals.spam} ${model.totals.ham}`];
  if (withDigests) for (const [d, c] of model.digests) lines.push(`d ${d} ${c === 'spam' ? 's' : 'h'}`);
  return lines;
}

/**
 * The whole model in one synchronous step, tokens sorted and without days (format 1): for the shipped
 * model, whose file must be the same on every run of `npm run train:model`.
 */
export function serializeModel(model: ModelData, opts: { minCount?: number; withDigests?: boolean } = {}): Buffer {
  const minCount = opts.minCount ?? 1;
  const lines = headLines(model, 1, opts.withDigests !== false);
  const tokens = [...model.tokens].filter(([t, c]) => writable(t, c, minCount));
  tokens.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [t, c] of tokens) lines.push(`${c.spam} ${c.ham} ${t}`);
  return gzipSync(lines.join('\n') + '\n', { level: 9 });
}

/** Tokens written between two turns of the event loop. */
const TOKENS_PER_TURN = 50_000;

/**
 * The store file (format 2, with days) without holding the event loop: tokens are written in slices with a
 * turn of the event loop between them, and compressed on the thread pool. A change applied between two
 * slices may be half in the result; the caller saves again after any change made while this ran.
 */
export async function serializeModelAsync(model: ModelData, today = dayNumber()): Promise<Buffer> {
  // compressed as it is written, slice by slice: the whole text never exists as one string
  const gz = createGzip({ level: 6 });
  const out: Buffer[] = [];
  gz.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise<void>((resolve, reject) => {
    gz.once('end', resolve);
    gz.once('error', reject);
  });
  const write = async (text: string): Promise<void> => {
    if (!gz.write(text)) await once(gz, 'drain');
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  await write(headLines(model, 2, false).join('\n') + '\n');
  let slice: string[] = [];
  for (const [d, c] of model.digests) {
    slice.push(`d ${d} ${c === 'spam' ? 's' : 'h'}\n`);
    if (slice.length >= TOKENS_PER_TURN) {
      await write(slice.join(''));
      slice = [];
    }
  }
  for (const [t, c] of model.tokens) {
    if (writable(t, c, 1)) slice.push(`${c.spam} ${c.ham} ${c.day ?? today} ${t}\n`);
    if (slice.length >= TOKENS_PER_TURN) {
      await write(slice.join(''));
      slice = [];
    }
  }
  gz.end(slice.join(''));
  await ended;
  return Buffer.concat(out);
}

/**
 * Parses a model file; throws with the line number when the header or the totals are malformed. A
 * malformed token line is skipped (counted in `skipped`): one bad token must not make the store unusable.
 */
export function parseModel(data: Buffer, file = '(model)', today = dayNumber()): ModelData {
  let text: string;
  try {
    text = gunzipSync(data).toString('utf8');
  } catch (err) {
    throw new Error(`${file}: not a gzip'd spamgate Bayes model (${(err as Error).message}); move it away to start from the shipped model or empty`);
  }
  const lines = text.split('\n');
  const version = lines[0] === `${MAGIC_PREFIX}1` ? 1 : lines[0] === `${MAGIC_PREFIX}2` ? 2 : 0;
  if (version === 0) throw new Error(`${file}: not a spamgate Bayes model (first line ${JSON.stringify(lines[0]?.slice(0, 40))})`);
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
    const c = version === 2 ? line.indexOf(' ', b + 1) : b;
    const spam = Number(line.slice(0, a));
    const ham = Number(line.slice(a + 1, b));
    // a day past today (clock set back, or a crafted file) counts as today, so it cannot outlive the rest
    const day = version === 2 ? Math.min(Number(line.slice(b + 1, c)), today) : today;
    if (a <= 0 || b <= a || c < b || !isCount(spam) || !isCount(ham) || !isCount(day)) {
      model.skipped = (model.skipped ?? 0) + 1;
      continue;
    }
    model.tokens.set(line.slice(c + 1), { spam, ham, day });
  }
  return model;
}

const isCount = (n: number): boolean => Number.isInteger(n) && n >= 0;

export function readModelFile(file: string, today = dayNumber()): ModelData {
  return parseModel(readFileSync(file), file, today);
}

/** Replaces `file` atomically: a crash leaves either the old or the new model, never a torn one. */
export function writeFileAtomic(file: string, data: Buffer): void {
  writeFileAtomicSync(file, data, { mode: 0o644 });
}
