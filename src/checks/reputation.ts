// Sender reputation check (data phase, late: it reads the SPF and DKIM results): REPUTATION_IP_BAD/GOOD
// for the client network, REPUTATION_DOMAIN_BAD/GOOD for the authenticated sender domain, from the
// decaying average of their past scores (src/reputation/). factor = distance past the threshold × the
// confidence the message count gives; options: the key, the average and the count. Silent without
// history (fewer than reputation.min_count messages). Not run for trusted or authenticated clients
// (skipTrusted), so neither their mail nor our own is learned. The keys are left in ctx.results for
// learning after the verdict; the SMTP listener writes them on the message it accepts (X-Spamgate-Reputation,
// data-phase.ts) for a later user report (a milter's MTA keeps the mail: no report comes back to us).
// Why not the IP key at connect: its symbols only add to a score, and scores act after DATA; here one
// look-up per message serves both keys, and nothing is refused before DATA on history alone.
import type { ReputationConfig } from '../config/sections/reputation.ts';
import { keysOf, type ReputationKey } from '../reputation/keys.ts';
import { recordedKeys } from '../reputation/learner.ts';
import type { KeyJudgement, Reputation } from '../reputation/open-reputation.ts';
import type { ReputationSeal } from '../reputation/seal.ts';
import type { Check, SymbolHit } from './types.ts';

export const REPUTATION_SYMBOLS = ['REPUTATION_IP_BAD', 'REPUTATION_IP_GOOD', 'REPUTATION_DOMAIN_BAD', 'REPUTATION_DOMAIN_GOOD'] as const;
export const REPUTATION_KEYS_RESULT = 'reputation.keys';
/** The sealed X-Spamgate-Reputation value for the message (seal.ts). */
export const REPUTATION_HEADER_RESULT = 'reputation.header';

/** The keys the check found for this transaction (none when it did not run). */
export const reputationKeysOf = (results: ReadonlyMap<string, unknown>): ReputationKey[] => (results.get(REPUTATION_KEYS_RESULT) as ReputationKey[] | undefined) ?? [];

/** The sealed X-Spamgate-Reputation value the check left for the message (none when it did not run). */
export const reputationHeaderOf = (results: ReadonlyMap<string, unknown>): string | undefined => {
  const v = results.get(REPUTATION_HEADER_RESULT);
  return typeof v === 'string' ? v : undefined;
};

export function createReputationCheck(deps: { reputation: Reputation; config: ReputationConfig; seal: ReputationSeal }): Check {
  return {
    name: 'reputation',
    phase: 'data',
    late: true,
    symbols: REPUTATION_SYMBOLS,
    async run(ctx) {
      const keys = keysOf({ clientIp: ctx.session.clientIp, mailFrom: ctx.envelope.mailFrom, from: ctx.message?.header('from'), results: ctx.results }, deps.config);
      if (keys.length === 0) return [];
      ctx.results.set(REPUTATION_KEYS_RESULT, keys);
      ctx.results.set(REPUTATION_HEADER_RESULT, deps.seal.write(keys));
      let judged;
      try {
        judged = await deps.reputation.lookup(keys, deps.config, true);
      } catch (err) {
        ctx.log.warn('reputation store unavailable', { error: (err as Error).message });
        return [];
      }
      return hitsOf(judged);
    },
  };
}

/** The symbols the judgements call for: bad or good histories, with the key, average and count. */
export function hitsOf(judged: readonly KeyJudgement[]): SymbolHit[] {
  const hits: SymbolHit[] = [];
  for (const { key, judgement: j } of judged) {
    if (!j || (j.kind !== 'bad' && j.kind !== 'good') || j.factor <= 0) continue;
    const symbol = `REPUTATION_${key.kind === 'ip' ? 'IP' : 'DOMAIN'}_${j.kind === 'bad' ? 'BAD' : 'GOOD'}`;
    hits.push({ symbol, factor: j.factor, options: [key.value, `avg=${j.average.toFixed(2)}`, `n=${j.count.toFixed(1)}`] });
  }
  return hits;
}

/**
 * `spamgate explain`'s view (no SMTP session): the keys the message carries in the X-Spamgate-Reputation
 * spamgate recorded at DATA, judged as of now; nothing is learned and nothing counted.
 */
export function createRecordedReputationCheck(deps: { reputation: Reputation; config: ReputationConfig }): Check {
  return {
    name: 'reputation',
    phase: 'data',
    symbols: REPUTATION_SYMBOLS,
    async run(ctx) {
      const keys = ctx.message ? recordedKeys(ctx.message.raw) : [];
      return keys.length === 0 ? [] : hitsOf(await deps.reputation.lookup(keys, deps.config, false));
    },
  };
}
