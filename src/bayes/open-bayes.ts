// Composition of the Bayes filter: store (learned data dir, else the shipped model), classifier, learner, metrics.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import type { BayesConfig } from '../config/sections/filter.ts';
import { counter } from '../metrics/registry.ts';
import { DEFAULT_MIME_LIMITS, parseMail, type MimeLimits, type ParsedMail } from '../mime/parse.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { removeDeadTempsSync } from '../util/atomic-file.ts';
import { BayesLearner, withoutOwnTrace } from './bayes-learner.ts';
import { BayesClassifier, DEFAULT_CUTOFFS, type BayesResult } from './classifier.ts';
import { MemoryTokenStore } from './memory-store.ts';
import { emptyModel, readModelFile, type ModelData } from './model-file.ts';
import type { TokenStore } from './token-store.ts';
import { tokenize } from './tokenizer.ts';

export const STORE_FILE = 'bayes/tokens.gz';
export const SHIPPED_MODEL_FILE = 'spamassassin.model.gz';

export interface OpenBayesOptions {
  dataDir: string;
  /** Directory of the shipped model (SHIPPED_MODELS_DIR from config/load.ts). */
  modelsDir?: string;
  config: BayesConfig;
  limits?: MimeLimits;
  registry?: Registry;
  log?: Logger;
  /** A shared token store (Redis) instead of the in-process one; seeded with seedSharedStore(). */
  store?: TokenStore;
  /**
   * Seeds a shared store found empty while running (Redis flushed or restarted without persistence):
   * started in the background by a classification that is silent for want of any learned message, at
   * most once per RESEED_INTERVAL_MS.
   */
  reseed?: () => Promise<void>;
  /**
   * Never write the store file (classify, explain, masscheck): a store past this config's bounds is cut in
   * memory only, so a reading command cannot save an old or cut copy over what serve or a train saved.
   */
  readOnly?: boolean;
}

const RESEED_INTERVAL_MS = 30_000;

export interface Bayes {
  classifier: BayesClassifier;
  learner: BayesLearner;
  store: TokenStore;
  /** Where the starting data came from: 'data-dir', 'shipped-model' or 'empty'. */
  origin: 'data-dir' | 'shipped-model' | 'empty' | 'shared';
  tokensOf(mail: ParsedMail): string[];
  /** Tokenize and classify a parsed message; counts the verdict in metrics. */
  classifyMail(mail: ParsedMail): Promise<BayesResult>;
  classifyRaw(raw: Buffer): Promise<BayesResult>;
  close(): Promise<void>;
}

export function openBayes(opts: OpenBayesOptions): Bayes {
  const log = opts.log ?? silentLogger;
  const cfg = opts.config;
  const limits = opts.limits ?? DEFAULT_MIME_LIMITS;
  const file = path.join(opts.dataDir, STORE_FILE);
  let initial: ModelData = emptyModel();
  let origin: Bayes['origin'] = 'empty';
  let store: TokenStore;
  if (opts.store) {
    store = opts.store;
    origin = 'shared';
    log.info('bayes store opened', { origin });
  } else {
    // Ctrl-C during a save leaves the temp file, the size of the store: a writer opening the store clears those
    if (!opts.readOnly) {
      const removed = removeDeadTempsSync(file);
      if (removed.length) log.info('bayes store: temp files of interrupted saves removed', { files: removed });
    }
    if (existsSync(file)) {
      initial = readModelFile(file);
      origin = 'data-dir';
    } else if (cfg.use_shipped_model && opts.modelsDir !== undefined && existsSync(path.join(opts.modelsDir, SHIPPED_MODEL_FILE))) {
      initial = readModelFile(path.join(opts.modelsDir, SHIPPED_MODEL_FILE));
      origin = 'shipped-model';
    }
    log.info('bayes store opened', { origin, spam: initial.totals.spam, ham: initial.totals.ham, tokens: initial.tokens.size });
    if (initial.skipped) log.warn('bayes store had malformed token lines; they were skipped', { file, skipped: initial.skipped });
    store = new MemoryTokenStore({
      ...(opts.readOnly ? {} : { file }),
      saveDelayMs: cfg.save_delay,
      initial,
      onSaveError: (err) => log.error('bayes store could not be saved; learning is kept in memory and saving is retried', { file, err }),
      maxTokens: cfg.max_tokens,
      maxDigests: cfg.max_digests,
      onExpire: (r) =>
        log.info('bayes store past its bounds: the tokens learned longest ago and the oldest digests were forgotten', {
          tokens_forgotten: r.tokensForgotten,
          ...(r.oldestDayKept !== undefined ? { oldest_day_kept: new Date(r.oldestDayKept * 86_400_000).toISOString().slice(0, 10) } : {}),
          digests_forgotten: r.digestsForgotten,
          max_tokens: cfg.max_tokens,
          max_digests: cfg.max_digests,
        }),
    });
  }
  warnLowCutoff(cfg, log);
  const classifier = new BayesClassifier(store, {
    combine: cfg.combine,
    ...(cfg.spam_cutoff !== undefined ? { spamCutoff: cfg.spam_cutoff } : {}),
    ...(cfg.ham_cutoff !== undefined ? { hamCutoff: cfg.ham_cutoff } : {}),
    minSpam: cfg.min_spam,
    minHam: cfg.min_ham,
    unknownWordStrength: cfg.unknown_word_strength,
    unknownWordProb: cfg.unknown_word_prob,
    minProbStrength: cfg.min_prob_strength,
  });
  const tokOpts = { wordPairs: cfg.word_pairs, maxTokens: 5000 };
  const tokensOf = (mail: ParsedMail): string[] => tokenize(mail, tokOpts);
  const classified = opts.registry
    ? counter(opts.registry, 'spamgate_bayes_classifications_total', 'Messages classified by the Bayes filter, by verdict (spam, unsure, ham, silent).', ['verdict'])
    : undefined;
  const learned = opts.registry
    ? counter(opts.registry, 'spamgate_bayes_learned_total', 'Messages learned by the Bayes filter, by class and source.', ['class', 'source'])
    : undefined;
  // A learn that reached an empty shared store first would make it look seeded for good (its totals exist): the
  // seed goes in before the first write.
  const learnStore = opts.reseed ? seedBeforeWrites(store, opts.reseed) : store;
  const learner = new BayesLearner({ store: learnStore, tokenize: (raw) => tokensOf(parseMail(raw, limits)), ...(learned ? { learned } : {}) });
  let lastReseed = -Infinity;
  const reseedIfEmpty = (result: BayesResult): void => {
    if (!opts.reseed || result.status !== 'silent' || result.learned.spam + result.learned.ham > 0) return;
    const now = performance.now();
    if (now - lastReseed < RESEED_INTERVAL_MS) return;
    lastReseed = now;
    void opts.reseed();
  };
  const classifyMail = async (mail: ParsedMail): Promise<BayesResult> => {
    const result = await classifier.classify(tokensOf(mail));
    classified?.inc({ verdict: result.status === 'scored' ? result.verdict : 'silent' });
    reseedIfEmpty(result);
    return result;
  };
  return {
    classifier,
    learner,
    store,
    origin,
    tokensOf,
    classifyMail,
    // a delivered copy is judged as it was at DATA, without the trace block spamgate put on top
    classifyRaw: (raw) => classifyMail(parseMail(withoutOwnTrace(raw), limits)),
    close: () => store.close(),
  };
}

/**
 * A spam cutoff set below the method's default flags more ham than the cross-validated default would; the
 * likely case is a config written for chi-square (default 0.6) now read with the evidence combiner.
 */
function warnLowCutoff(cfg: BayesConfig, log: Logger): void {
  const preferred = DEFAULT_CUTOFFS[cfg.combine].spam;
  if (cfg.spam_cutoff === undefined || cfg.spam_cutoff >= preferred) return;
  const hint = cfg.combine === 'evidence' ? " (chi-square's default was 0.6: set bayes.combine: chi-square to keep that behaviour, or drop spam_cutoff)" : '';
  log.warn(`bayes.spam_cutoff ${cfg.spam_cutoff} is below ${preferred}, the cross-validated default of bayes.combine: ${cfg.combine}; more ham will be called spam${hint}`);
}

/** The store, whose writes first seed it when it is found empty (seeding checks that in one round trip). */
function seedBeforeWrites(store: TokenStore, seed: () => Promise<void>): TokenStore {
  return {
    kind: store.kind,
    totals: () => store.totals(),
    getMany: (tokens) => store.getMany(tokens),
    update: async (change) => {
      await seed();
      return store.update(change);
    },
    learnedAs: (digest) => store.learnedAs(digest),
    flush: () => store.flush(),
    close: () => store.close(),
  };
}

/** Seeds an empty shared store from the shipped model (once, whichever gateway starts first). */
export async function seedSharedStore(
  store: { isEmpty(): Promise<boolean>; importModel(model: ModelData): Promise<boolean> },
  modelsDir: string,
  cfg: BayesConfig,
  log: Logger,
): Promise<void> {
  const model = path.join(modelsDir, SHIPPED_MODEL_FILE);
  if (!cfg.use_shipped_model || !existsSync(model)) return;
  try {
    // the model file is read only when the store is empty (this runs before every learn into it)
    if ((await store.isEmpty()) && (await store.importModel(readModelFile(model)))) log.info('shared bayes store seeded from the shipped model');
  } catch (err) {
    log.warn('could not seed the shared bayes store (redis down?): classification stays silent until it is reachable', { err });
  }
}

/** MIME bounds from the `filter:` config section. */
export function mimeLimitsOf(filter: { max_bytes: number; max_parts: number; max_depth: number }): MimeLimits {
  return { maxBytes: filter.max_bytes, maxParts: filter.max_parts, maxDepth: filter.max_depth };
}
