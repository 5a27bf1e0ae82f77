// Bayesian classifier: Robinson's per-token estimate f(w) combined with Fisher's chi-square method
// (as in SpamBayes and bogofilter), giving a spam probability and a spam / unsure / ham verdict.
import type { LearnedTotals, TokenCounts, TokenStore } from './token-store.ts';

export interface ClassifierOptions {
  /** Robinson's s: strength of the prior for rare tokens. */
  unknownWordStrength: number;
  /** Robinson's x: the prior probability of an unseen token. */
  unknownWordProb: number;
  /** Tokens with |f(w) - 0.5| below this are ignored. */
  minProbStrength: number;
  /** Most extreme tokens used per message. */
  maxDiscriminators: number;
  /** Probability at or above which a message is spam. */
  spamCutoff: number;
  /** Probability at or below which a message is ham. */
  hamCutoff: number;
  /** The classifier is silent until this many spam and this many ham messages are learned. */
  minSpam: number;
  minHam: number;
}

export const DEFAULT_CLASSIFIER: ClassifierOptions = {
  // tuned on the SpamAssassin corpus benchmark (test/bench/filter.ts); close to bogofilter's robs/robx/min_dev
  unknownWordStrength: 0.0178,
  unknownWordProb: 0.52,
  minProbStrength: 0.375,
  maxDiscriminators: 100_000,
  // Chosen by 5-fold cross-validation on the benchmark's TRAIN split only (`test/bench/filter.ts --cv`):
  // out-of-fold ham scores top out at 0.555 (one newsletter-like hard ham at 1.0 aside, which no cutoff
  // saves); 0.6 keeps a margin above them, flags no extra ham compared with 0.9 and misses 30 % fewer spam.
  // Chi-square lands at exactly 0.5 when a message has strong evidence both ways: that stays "unsure".
  spamCutoff: 0.6,
  hamCutoff: 0.2,
  minSpam: 200,
  minHam: 200,
};

export type BayesVerdict = 'spam' | 'unsure' | 'ham';

export interface Clue {
  token: string;
  /** f(w): the token's spam probability. */
  prob: number;
  spam: number;
  ham: number;
}

export type BayesResult =
  | { status: 'scored'; probability: number; verdict: BayesVerdict; clues: Clue[]; tokens: number }
  | { status: 'silent'; reason: string; learned: LearnedTotals };

export class BayesClassifier {
  readonly opts: ClassifierOptions;

  constructor(
    private readonly store: TokenStore,
    opts: Partial<ClassifierOptions> = {},
  ) {
    this.opts = { ...DEFAULT_CLASSIFIER, ...opts };
  }

  async classify(tokens: readonly string[]): Promise<BayesResult> {
    const store = this.store;
    if (answersInProcess(store)) return this.score(tokens, store.getManySync(tokens), store.totalsSync());
    const [totals, counts] = await Promise.all([store.totals(), store.getMany(tokens)]);
    return this.score(tokens, counts, totals);
  }

  /** Pure scoring from looked-up counts (also used by the synchronous benchmark path). */
  score(tokens: readonly string[], counts: readonly (TokenCounts | undefined)[], totals: LearnedTotals): BayesResult {
    const o = this.opts;
    if (totals.spam < o.minSpam || totals.ham < o.minHam) {
      return { status: 'silent', reason: `learned ${totals.spam} spam / ${totals.ham} ham, need ${o.minSpam} / ${o.minHam}`, learned: { ...totals } };
    }
    const clues: Clue[] = [];
    const s = o.unknownWordStrength;
    const sx = s * o.unknownWordProb;
    for (let i = 0; i < tokens.length; i++) {
      const c = counts[i];
      let prob = o.unknownWordProb;
      let spam = 0;
      let ham = 0;
      if (c) {
        spam = c.spam;
        ham = c.ham;
        const sr = Math.min(1, spam / totals.spam);
        const hr = Math.min(1, ham / totals.ham);
        const n = spam + ham;
        const p = sr + hr > 0 ? sr / (sr + hr) : o.unknownWordProb;
        prob = (sx + n * p) / (s + n);
      }
      if (Math.abs(prob - 0.5) >= o.minProbStrength) clues.push({ token: tokens[i] ?? '', prob, spam, ham });
    }
    sortClues(clues);
    if (clues.length > o.maxDiscriminators) clues.length = o.maxDiscriminators;
    const probability = chiCombine(clues);
    const verdict: BayesVerdict = probability >= o.spamCutoff ? 'spam' : probability <= o.hamCutoff ? 'ham' : 'unsure';
    return { status: 'scored', probability, verdict, clues, tokens: tokens.length };
  }
}

/** A store that answers lookups in-process (MemoryTokenStore): asked directly, without two promises. */
interface InProcessLookup {
  getManySync(tokens: readonly string[]): (TokenCounts | undefined)[];
  totalsSync(): LearnedTotals;
}

function answersInProcess(store: TokenStore): store is TokenStore & InProcessLookup {
  const s = store as TokenStore & Partial<InProcessLookup>;
  return typeof s.getManySync === 'function' && typeof s.totalsSync === 'function';
}

/** Sorts clues strongest first (|f(w) - 0.5| descending), equally strong ones by token (tokens are distinct). */
function sortClues(clues: Clue[]): void {
  clues.sort((a, b) => Math.abs(b.prob - 0.5) - Math.abs(a.prob - 0.5) || (a.token < b.token ? -1 : 1));
}

/**
 * Fisher/Robinson combining: I = (1 + S - H) / 2 from two chi-square tests over the clues, where
 * S = 1 - Q(-2 Σ ln(1 - f), 2n) and H = 1 - Q(-2 Σ ln f, 2n). The tail probabilities Q are kept as
 * logarithms: when a message carries overwhelming evidence both ways, both Q underflow a double and I
 * is 0.5 to the last bit. Such messages are still ordered, inside ±SATURATED_BAND around 0.5, by how
 * many orders of magnitude one side's evidence beats the other's (per clue), so that their ranking is
 * not lost (measured by test/bench/filter.ts: TEST 1-AUC 0.0069 % → 0.0061 %, TRAIN cross-validation
 * 0.0365 % → 0.0360 %) while the verdict bands stay where they were.
 */
export function chiCombine(clues: readonly { prob: number }[]): number {
  const n = clues.length;
  if (n === 0) return 0.5;
  let lnSpam = 0;
  let lnHam = 0;
  for (const c of clues) {
    const p = Math.min(Math.max(c.prob, 1e-9), 1 - 1e-9);
    lnHam += Math.log(p);
    lnSpam += Math.log(1 - p);
  }
  const lnQSpam = lnChi2Q(-2 * lnSpam, 2 * n);
  const lnQHam = lnChi2Q(-2 * lnHam, 2 * n);
  const combined = (1 - Math.exp(lnQSpam) + Math.exp(lnQHam)) / 2;
  if (Math.abs(combined - 0.5) >= SATURATED_BAND) return combined;
  return 0.5 + SATURATED_BAND * Math.tanh((lnQHam - lnQSpam) / n);
}

/** Half-width of the band around 0.5 in which saturated chi-square results are ordered by their log odds. */
const SATURATED_BAND = 1e-6;

/** P(chi² ≥ x2) with v (even) degrees of freedom, by the series for even v. */
export function chi2Q(x2: number, v: number): number {
  return Math.exp(lnChi2Q(x2, v));
}

/**
 * ln P(chi² ≥ x2) for even v: ln(e^(-m) Σ_{i<v/2} m^i / i!) with m = x2 / 2, summed in log space
 * around the largest term, so that it stays finite where the probability itself underflows.
 */
export function lnChi2Q(x2: number, v: number): number {
  const m = x2 / 2;
  if (m <= 0) return 0;
  const lnM = Math.log(m);
  const last = v / 2 - 1;
  // terms t_i = i ln m - ln i!; the largest is at i = floor(m), capped to the series' range
  const peak = Math.min(last, Math.floor(m));
  const lnPeak = peak * lnM - lnFactorial(peak);
  let sum = 0;
  for (let i = peak; i >= 0; i--) {
    const r = Math.exp(i * lnM - lnFactorial(i) - lnPeak);
    sum += r;
    if (r < 1e-17) break;
  }
  for (let i = peak + 1; i <= last; i++) {
    const r = Math.exp(i * lnM - lnFactorial(i) - lnPeak);
    sum += r;
    if (r < 1e-17) break;
  }
  return Math.min(0, -m + lnPeak + Math.log(sum));
}

/** ln i!, from a table grown on demand. */
const lnFactorials: number[] = [0];
function lnFactorial(i: number): number {
  for (let k = lnFactorials.length; k <= i; k++) lnFactorials.push((lnFactorials[k - 1] ?? 0) + Math.log(k));
  return lnFactorials[i] ?? 0;
}
