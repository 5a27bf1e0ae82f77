// Sender reputation as the gateway and the CLI use it: a store (in-process file or Redis), look-ups judged
// against the running configuration, learning from each judged message's score and from user reports,
// and the metrics counted (every label value from the start).
import path from 'node:path';
import type { ReputationConfig } from '../config/sections/reputation.ts';
import { counter, gauge, type Registry } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { KEY_KINDS, keyId, type ReputationKey } from './keys.ts';
import { judge, reportScore, type JudgeSettings, type ReputationJudgement, type ReputationRecord } from './math.ts';
import { MemoryReputationStore } from './memory-store.ts';
import type { ReputationStore } from './store.ts';
import { delayedSave } from '../util/delayed-save.ts';

export const REPUTATION_FILE = 'reputation.json';
export const LOOKUP_RESULTS = ['bad', 'good', 'neutral', 'silent', 'unknown'] as const;
export const LEARN_SOURCES = ['verdict', 'report_spam', 'report_ham'] as const;

export type ReportSettings = Pick<ReputationConfig, 'report_weight' | 'bad_score' | 'good_score' | 'spread'>;

export interface KeyJudgement {
  key: ReputationKey;
  judgement: ReputationJudgement | undefined;
}

export interface Reputation {
  /** Each key's judgement as of now (undefined: no history); counted in the metrics when `count`. */
  lookup(keys: readonly ReputationKey[], settings: JudgeSettings, count: boolean): Promise<KeyJudgement[]>;
  /** A judged message's final score (without the reputation symbols) joins each key's history. */
  learn(keys: readonly ReputationKey[], score: number): Promise<void>;
  /** A user report: the keys' history moves toward spam or ham, as report_weight messages (the running settings). */
  report(keys: readonly ReputationKey[], spam: boolean, settings: ReportSettings): Promise<void>;
  record(key: ReputationKey): Promise<ReputationRecord | undefined>;
  reset(key: ReputationKey): Promise<boolean>;
  close(): Promise<void>;
}

export interface ReputationDeps {
  config: ReputationConfig;
  clock: Clock;
  dataDir: string;
  /** A shared store (Redis) in place of the in-process one. */
  store?: ReputationStore;
  registry?: Registry;
  readOnly?: boolean;
  /** The in-process store is saved this long after a change (serve); undefined: at close() only. */
  saveDelayMs?: number;
  log?: Logger;
}

export function openReputation(deps: ReputationDeps): Reputation {
  const { config, clock } = deps;
  const file = path.join(deps.dataDir, REPUTATION_FILE);
  const memory = deps.store ? undefined : new MemoryReputationStore({ halfLifeMs: config.half_life, maxEntries: config.max_entries, file, now: () => clock.now(), ...(deps.readOnly ? { readOnly: true } : {}) });
  const store: ReputationStore = deps.store ?? (memory as MemoryReputationStore);
  const lookups = deps.registry ? counter(deps.registry, 'spamgate_reputation_lookups_total', 'Sender reputation look-ups, by key kind and what the history said', ['key', 'result'] as const) : undefined;
  const learned = deps.registry ? counter(deps.registry, 'spamgate_reputation_learned_total', 'Observations added to sender reputation, by source (judged messages, user reports)', ['source'] as const) : undefined;
  const entries = deps.registry ? gauge(deps.registry, 'spamgate_reputation_entries', 'Keys (client networks, sender domains) in the reputation store') : undefined;
  for (const key of KEY_KINDS) for (const result of LOOKUP_RESULTS) lookups?.inc({ key, result }, 0);
  for (const source of LEARN_SOURCES) learned?.inc({ source }, 0);
  // a shared store is counted at most once a minute (the other gateways change it too)
  let counted = -Infinity;
  const refresh = async (force = false): Promise<void> => {
    if (!entries) return;
    if (memory) return void entries.set(await memory.size());
    const now = Date.now();
    if (!force && now - counted < 60_000) return;
    counted = now;
    entries.set(await store.size());
  };
  void refresh(true).catch(() => undefined);
  const saver = delayedSave(async () => memory?.save(), memory ? deps.saveDelayMs : undefined, (err) =>
    deps.log?.warn('reputation store not saved; tried again later and at stop', { file, err }),
  );
  const saveSoon = (): void => saver.soon();
  const add = async (keys: readonly ReputationKey[], score: number, weight: number, source: (typeof LEARN_SOURCES)[number]): Promise<void> => {
    if (keys.length === 0 || deps.readOnly) return;
    const now = clock.now();
    for (const k of keys) await store.observe(keyId(k), score, weight, now);
    learned?.inc({ source });
    saveSoon();
    await refresh().catch(() => undefined);
  };
  return {
    async lookup(keys, settings, count) {
      const now = clock.now();
      const out: KeyJudgement[] = [];
      for (const key of keys) {
        const rec = await store.get(keyId(key));
        const judgement = rec ? judge(rec, now, config.half_life, settings) : undefined;
        if (count) lookups?.inc({ key: key.kind, result: judgement?.kind ?? 'unknown' });
        out.push({ key, judgement });
      }
      return out;
    },
    learn: (keys, score) => add(keys, score, 1, 'verdict'),
    report: (keys, spam, settings) => add(keys, reportScore(spam, settings), settings.report_weight, spam ? 'report_spam' : 'report_ham'),
    record: (key) => store.get(keyId(key)),
    async reset(key) {
      const had = await store.reset(keyId(key));
      if (had) saveSoon();
      await refresh(true);
      return had;
    },
    async close() {
      await saver.stop();
      await store.close();
    },
  };
}
