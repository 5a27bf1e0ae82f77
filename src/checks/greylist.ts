// Greylisting (RFC 6647): a triplet seen for the first time is deferred with 451 4.7.1; a retry after the
// delay passes and whitelists it. Runs at RCPT, score-aware on the connect..rcpt symbols so far.
// A late check: it runs once the recipient's other checks are done, and a recipient they already refuse
// (unknown user, here or at the upstream, relay denied, a rate limit) leaves no triplet behind to fill the store.
//
// Why RCPT and not DATA: checks of one phase run concurrently, so a data-phase greylist check would see
// exactly the symbols an rcpt-phase one sees (connect, helo, mail, earlier rcpt: DNSBL, FCrDNS, SPF, ...),
// never Bayes or content rules. At RCPT the deferral costs the client no message transfer (greylisting's
// point), applies per recipient as MTAs expect, and a retry re-sends only deferred ones.
import type { GreylistConfig } from '../config/sections/redis.ts';
import type { SpfOutcome } from '../dns/spf.ts';
import type { GreylistPolicy, GreylistStore } from '../greylist/store.ts';
import { tripletOf } from '../greylist/triplet.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { scoreHits } from '../scoring/scorer.ts';
import { CidrSet } from '../util/cidr.ts';
import { SPF_RESULT_KEY } from './spf.ts';
import { hitsFor, type Check, type SymbolHit } from './types.ts';

export const GREYLIST_SYMBOLS = ['GREYLIST_DEFER', 'GREYLIST_PASS', 'GREYLIST_UNAVAILABLE', 'GREYLIST_SKIPPED'] as const;

export interface GreylistCheckOptions {
  store: GreylistStore;
  config: GreylistConfig;
  ruleset: Ruleset;
  /** What a store failure (Redis down or slow) becomes: a deferral, or no greylisting. */
  onError: 'tempfail' | 'skip';
}

export function policyOf(config: GreylistConfig): GreylistPolicy {
  return { delayMs: config.delay, maxWaitMs: config.max_wait, whitelistMs: config.whitelist_for, scope: config.auto_whitelist };
}

/** The sender's domain is a whitelisted domain or below one. */
function domainListed(domain: string, list: ReadonlySet<string>): boolean {
  let d = domain.toLowerCase().replace(/\.$/, '');
  for (let i = 0; i < 127 && d; i++) {
    if (list.has(d)) return true;
    const dot = d.indexOf('.');
    if (dot < 0) return false;
    d = d.slice(dot + 1);
  }
  return false;
}

/** The greylist check of one rules snapshot; trusted networks and authenticated clients skip it (runner). */
export function createGreylistCheck(opts: GreylistCheckOptions): Check {
  const { config, ruleset, store } = opts;
  const policy = policyOf(config);
  const networks = new CidrSet(config.whitelist_networks);
  const spfDomains = new Set(config.whitelist_spf_domains);
  const seconds = (ms: number): string => `${Math.ceil(ms / 1000)}s`;
  return {
    name: 'greylist',
    phase: 'rcpt',
    symbols: GREYLIST_SYMBOLS,
    timeoutMs: config.timeout,
    skipTrusted: true,
    // After the other late checks too: front-of recipient verification (a late check itself, since it costs the
    // upstream a probe) may refuse the recipient, and a triplet for a user the upstream does not know only
    // fills the store (a dictionary attack pushed real first sights out of it before their retry came).
    late: 'last',
    async run(ctx): Promise<SymbolHit[]> {
      if (ctx.phaseHits && scoreHits(ctx.phaseHits, ruleset).hard) return [];
      const ip = ctx.session.clientIp;
      if (networks.has(ip)) return [];
      const spf = ctx.results.get(SPF_RESULT_KEY) as SpfOutcome | undefined;
      if (spf?.result === 'pass' && spfDomains.size > 0 && domainListed(spf.domain, spfDomains)) return [];
      // (not counting what is about another recipient of the transaction: an allowlisted one named first)
      if (config.min_score !== undefined && scoreHits(hitsFor(ctx.hitsSoFar, ctx.rcpt), ruleset).score < config.min_score) return [];
      const triplet = tripletOf(ip, ctx.envelope.mailFrom, ctx.rcpt ?? '', config.ipv4_prefix, config.ipv6_prefix);
      let decision;
      try {
        decision = await store.check(triplet, ctx.now, policy);
      } catch (err) {
        ctx.log.warn('greylist store unavailable', { error: (err as Error).message, on_error: opts.onError });
        return [{ symbol: opts.onError === 'tempfail' ? 'GREYLIST_UNAVAILABLE' : 'GREYLIST_SKIPPED', options: [store.kind] }];
      }
      switch (decision.status) {
        case 'whitelisted':
          return [];
        case 'passed':
          return [{ symbol: 'GREYLIST_PASS', options: [triplet.network, `waited ${seconds(decision.waitedMs)}`] }];
        case 'deferred':
          return [{ symbol: 'GREYLIST_DEFER', options: [triplet.network, decision.first ? 'first attempt' : 'retried too early', `retry in ${seconds(decision.retryInMs)}`] }];
      }
    },
  };
}
