// The fuzzy filter as the gateway and the CLI use it: digests of a message (digest.ts) against a store
// (memory-store.ts or redis-store.ts), with the threshold from config and the metrics counted.
import path from 'node:path';
import type { FuzzyConfig } from '../config/sections/fuzzy.ts';
import type { Registry } from '../metrics/registry.ts';
import { counter, gauge } from '../metrics/registry.ts';
import { parseMail, type MimeLimits, type ParsedMail } from '../mime/parse.ts';
import type { Clock } from '../util/clock.ts';
import { attachmentDigests, mailDigests, type FuzzyDigest } from './digest.ts';
import { MemoryFuzzyStore } from './memory-store.ts';
import type { FuzzyMatch, FuzzyStats, FuzzyStore } from './store.ts';
import type { Logger } from '../util/logger.ts';
import { delayedSave } from '../util/delayed-save.ts';

export const FUZZY_FILE = 'fuzzy.json';

/** What learning one message did: digests added (or refreshed), or entries removed; 'no-digest' when too short. */
export type FuzzyLearnOutcome = { kind: 'added'; digests: number } | { kind: 'removed'; entries: number } | { kind: 'no-digest' };

/** The best match of the message's texts, and of its attachments (exact). */
export interface FuzzyCheckResult {
  text?: FuzzyMatch;
  attachment?: FuzzyMatch;
}

export interface FuzzyFilter {
  /** undefined: the message has no digest (nothing looked up). */
  check(mail: ParsedMail): Promise<FuzzyCheckResult | undefined>;
  /** Adds a reported spam's digests. */
  addSpam(raw: Buffer): Promise<FuzzyLearnOutcome>;
  /** Removes what the message matches (reported as ham, or deleted by the administrator). */
  remove(raw: Buffer): Promise<FuzzyLearnOutcome>;
  stats(): Promise<FuzzyStats>;
  close(): Promise<void>;
}

export interface FuzzyDeps {
  config: FuzzyConfig;
  limits: MimeLimits;
  clock: Clock;
  /** In-process store's directory (data_dir). */
  dataDir: string;
  /** A shared store (Redis) in place of the in-process one. */
  store?: FuzzyStore;
  registry?: Registry;
  readOnly?: boolean;
  /**
   * The in-process store is saved this long after a learned message (serve: 1 s, so a burst of Junk moves is
   * one write of the file, not one each); undefined: at close() only (a CLI batch).
   */
  saveDelayMs?: number;
  /** Where a failed delayed save is reported (the reports stay in memory and are saved again at close). */
  log?: Logger;
}

export function openFuzzy(deps: FuzzyDeps): FuzzyFilter {
  const { config } = deps;
  const memory = deps.store ? undefined : new MemoryFuzzyStore({ clock: deps.clock, ttlMs: config.ttl, maxEntries: config.max_entries, file: path.join(deps.dataDir, FUZZY_FILE), ...(deps.readOnly ? { readOnly: true } : {}) });
  const store: FuzzyStore = deps.store ?? (memory as MemoryFuzzyStore);
  const lookups = deps.registry ? counter(deps.registry, 'spamgate_fuzzy_lookups_total', 'Fuzzy store look-ups of messages with a digest, by result', ['result'] as const) : undefined;
  const learned = deps.registry ? counter(deps.registry, 'spamgate_fuzzy_learned_total', 'Messages learned into the fuzzy store (added) or out of it (removed)', ['op'] as const) : undefined;
  const entriesGauge = deps.registry ? gauge(deps.registry, 'spamgate_fuzzy_entries', 'Digests in the fuzzy store') : undefined;
  // every series from the start, so that rate() and increase() see the first look-up and report
  for (const result of ['hit', 'miss']) lookups?.inc({ result }, 0);
  for (const op of ['added', 'removed']) learned?.inc({ op }, 0);
  // set after each change (a shared store's count: by stats(), the other gateways change it too)
  const refresh = async (): Promise<void> => {
    if (entriesGauge) entriesGauge.set(memory ? memory.size : (await store.stats()).entries);
  };
  void refresh().catch(() => undefined);
  const allDigests = (mail: ParsedMail): FuzzyDigest[] => [...mailDigests(mail, config.min_words), ...attachmentDigests(mail, config.min_attachment_size)];
  const saver = delayedSave(async () => memory?.save(), memory ? deps.saveDelayMs : undefined, (err) =>
    deps.log?.warn('fuzzy store not saved; tried again at the next report and at stop', { file: path.join(deps.dataDir, FUZZY_FILE), err }),
  );
  const saveSoon = (): void => saver.soon();
  const digestsOf = (raw: Buffer): FuzzyDigest[] => allDigests(parseMail(raw, deps.limits));
  // an attachment's digest matches only itself: all of its slots
  const thresholdOf = (d: FuzzyDigest): number => (d.kind === 'attachment' ? 1 : config.threshold);
  return {
    async check(mail) {
      const digests = allDigests(mail);
      if (digests.length === 0) return undefined;
      const result: FuzzyCheckResult = {};
      for (const d of digests) {
        const m = await store.lookup(d, thresholdOf(d), !deps.readOnly);
        const best = result[d.kind];
        if (m && (!best || m.similarity > best.similarity)) result[d.kind] = m;
      }
      lookups?.inc({ result: result.text || result.attachment ? 'hit' : 'miss' });
      return result;
    },
    async addSpam(raw) {
      const digests = digestsOf(raw);
      if (digests.length === 0) return { kind: 'no-digest' };
      for (const d of digests) {
        // a near-copy of a live entry is already caught by it: another entry would only be one more for every
        // look-up of the campaign to read (thousands of reported copies made each look-up take 0.5 s); the
        // same digest again is refreshed
        if (d.kind === 'text') {
          const known = await store.lookup(d, config.threshold, false);
          if (known && known.id !== d.id) continue;
        }
        await store.add(d);
      }
      saveSoon();
      learned?.inc({ op: 'added' });
      await refresh();
      return { kind: 'added', digests: digests.length };
    },
    async remove(raw) {
      const digests = digestsOf(raw);
      if (digests.length === 0) return { kind: 'no-digest' };
      let entries = 0;
      for (const d of digests) entries += await store.remove(d, thresholdOf(d));
      saveSoon();
      if (entries > 0) learned?.inc({ op: 'removed' });
      await refresh();
      return { kind: 'removed', entries };
    },
    stats: () => store.stats(),
    close: async () => {
      await saver.stop();
      await store.close();
    },
  };
}
