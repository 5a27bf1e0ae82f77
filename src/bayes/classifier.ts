// Bayesian classifier: Robinson's per-token estimate f(w); the clues combined by the evidence combiner
// (chi-square per header / body / link evidence, weighed by a fitted model) or by Fisher's chi-square
// method over all clues (as SpamBayes and bogofilter), giving a spam probability and a spam / unsure / ham
// verdict.
import { chiCombine } from './chi-square.ts';
import { SHIPPED_COMBINER } from './combiner-weights.ts';
import { analyseEvidence, applyCombiner, type CombinerModel, type GroupEvidence } from './combiner.ts';
import { DEFAULT_CUTOFFS, FULL_WEIGHT_AT, type CombineMethod } from './cutoffs.ts';
import type { LearnedTotals, TokenCounts, TokenStore } from './token-store.ts';

export { chi2Q, chiCombine, lnChi2Q } from './chi-square.ts';

export { DEFAULT_CUTOFFS, FULL_WEIGHT_AT, type CombineMethod } from './cutoffs.ts';

export interface ClassifierOptions {
  combine: CombineMethod;
  /** The evidence combiner's fitted model (combine: 'evidence'). */
  combiner: CombinerModel;
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
  /** Where BAYES_SPAM / BAYES_HAM reach full weight (FULL_WEIGHT_AT of the method unless given). */
  spamFullAt: number;
  hamFullAt: number;
  /** The classifier is silent until this many spam and this many ham messages are learned. */
  minSpam: number;
  minHam: number;
}

export const DEFAULT_CLASSIFIER: ClassifierOptions = {
  combine: 'evidence',
  combiner: SHIPPED_COMBINER,
  // tuned on the SpamAssassin corpus benchmark (test/bench/filter.ts); close to bogofilter's robs/robx/min_dev
  unknownWordStrength: 0.0178,
  unknownWordProb: 0.52,
  minProbStrength: 0.375,
  maxDiscriminators: 100_000,
  spamCutoff: DEFAULT_CUTOFFS.evidence.spam,
  hamCutoff: DEFAULT_CUTOFFS.evidence.ham,
  spamFullAt: FULL_WEIGHT_AT.evidence.spam,
  hamFullAt: FULL_WEIGHT_AT.evidence.ham,
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
  | {
      status: 'scored';
      probability: number;
      verdict: BayesVerdict;
      clues: Clue[];
      tokens: number;
      method: CombineMethod;
      /** Clue count and chi-square probability of all clues, then of the header, body and link clues alone. */
      groups: GroupEvidence[];
    }
  | { status: 'silent'; reason: string; learned: LearnedTotals };

export class BayesClassifier {
  readonly opts: ClassifierOptions;

  constructor(
    private readonly store: TokenStore,
    opts: Partial<ClassifierOptions> = {},
  ) {
    // options given as undefined keep their defaults; a method chosen without cutoffs gets its own cutoffs
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<ClassifierOptions>;
    const method = given.combine ?? DEFAULT_CLASSIFIER.combine;
    const cutoffs = DEFAULT_CUTOFFS[method];
    const full = FULL_WEIGHT_AT[method];
    this.opts = { ...DEFAULT_CLASSIFIER, spamCutoff: cutoffs.spam, hamCutoff: cutoffs.ham, spamFullAt: full.spam, hamFullAt: full.ham, ...given };
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
    const evidence = analyseEvidence(clues);
    const probability = o.combine === 'evidence' ? applyCombiner(o.combiner, evidence.features) : chiCombine(clues);
    const verdict: BayesVerdict = probability >= o.spamCutoff ? 'spam' : probability <= o.hamCutoff ? 'ham' : 'unsure';
    return { status: 'scored', probability, verdict, clues, tokens: tokens.length, method: o.combine, groups: evidence.groups };
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
