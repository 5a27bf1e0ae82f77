// Which MTA-STS policy (RFC 8461) applies to a recipient domain now: TXT discovery, the cache, a
// fetch when the id is new or a refresh is due, the cached policy kept when discovery or fetch
// fails (§3.3, §5.1), and whether an MX host name matches the policy (§4.1).
import { validateMx } from 'mailauth/lib/mta-sts.js';
import type { Resolver } from '../dns/resolver.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createPolicyCache, type CachedPolicy, type PolicyCache } from './mta-sts-cache.ts';
import { discoverPolicyId, fetchPolicy, policyDomain, type FetchResult } from './mta-sts-policy.ts';

export type PolicyResult = 'no_policy' | 'invalid_record' | 'dns_failed' | 'fetch_failed' | 'fetched' | 'cached' | 'cached_fallback';
export type MxCheckResult = 'ok' | 'mx_mismatch' | 'starttls' | 'tls' | 'certificate';

/** RFC 8461 §3.3: MTAs SHOULD refresh cached policies before they expire, about once a day. */
export const REFRESH_INTERVAL_MS = 24 * 3600 * 1000;
/** A failed fetch of one policy id is not tried again for this long (each try may take the whole timeout). */
export const FETCH_RETRY_MS = 5 * 60 * 1000;

export interface MtaStsOptions {
  resolver: Resolver;
  family: 'any' | 'ipv4' | 'ipv6';
  timeoutMs: number;
  cacheSize: number;
  /** State file of the cache (in the data directory); memory only without one. */
  file?: string;
  clock: Clock;
  log: Logger;
  registry?: Registry;
  /** Where policy hosts are reached and what they are trusted by (tests); 443 and the system's roots otherwise. */
  policyPort?: number;
  ca?: Buffer;
}

export interface MtaSts {
  /** The policy that applies to `domain` (mode none included), or undefined when none does. */
  policyFor(domain: string): Promise<CachedPolicy | undefined>;
  /** Counts (and logs) the outcome of an MX host checked against a policy. */
  report(domain: string, policy: CachedPolicy, host: string, result: MxCheckResult, detail?: string): void;
  readonly cache: PolicyCache;
  close(): Promise<void>;
}

/** RFC 8461 §4.1: the MX host name matches one of the policy's mx patterns. */
export function mxMatches(host: string, policy: CachedPolicy): boolean {
  return validateMx(host, { mode: policy.mode, mx: policy.mx }).valid;
}

export function createMtaSts(opts: MtaStsOptions): MtaSts {
  const log = opts.log;
  const cache = createPolicyCache({ ...(opts.file ? { file: opts.file } : {}), maxEntries: opts.cacheSize, clock: opts.clock, log });
  const lookups = opts.registry
    ? counter(opts.registry, 'spamgate_mta_sts_policy_total', 'MTA-STS policy look-ups for outbound delivery by result (no_policy, invalid_record, dns_failed, fetch_failed, fetched, cached, cached_fallback).', ['result'] as const)
    : undefined;
  const failures = opts.registry
    ? counter(opts.registry, 'spamgate_mta_sts_fetch_failures_total', 'MTA-STS policy fetches that failed, by reason (dns, no_address, connect, certificate, http_status, too_large, timeout, invalid_policy).', ['reason'] as const)
    : undefined;
  const checks = opts.registry
    ? counter(opts.registry, 'spamgate_mta_sts_mx_checks_total', 'MX hosts checked against an MTA-STS policy, by mode (enforce: failures defer; testing: only reported) and result (ok, mx_mismatch, starttls: not offered or refused, tls: handshake failed, certificate).', ['mode', 'result'] as const)
    : undefined;
  // every mode and result is exported from the start (at 0), so rates and alerts over them have a series to work on
  for (const mode of ['enforce', 'testing']) for (const result of ['ok', 'mx_mismatch', 'starttls', 'tls', 'certificate']) checks?.inc({ mode, result }, 0);
  /** Fetches under way (one per domain and id) and recent failures (domain → id and until when). */
  const inFlight = new Map<string, Promise<FetchResult>>();
  const failed = new Map<string, { id: string; until: number }>();

  const fetchOnce = (domain: string, id: string): Promise<FetchResult> => {
    const key = `${domain}|${id}`;
    let p = inFlight.get(key);
    if (!p) {
      p = fetchPolicy(domain, id, {
        resolver: opts.resolver,
        family: opts.family,
        timeoutMs: opts.timeoutMs,
        ...(opts.policyPort ? { port: opts.policyPort } : {}),
        ...(opts.ca ? { ca: opts.ca } : {}),
      }).finally(() => inFlight.delete(key));
      inFlight.set(key, p);
    }
    return p;
  };

  const count = (result: PolicyResult): void => lookups?.inc({ result });

  return {
    cache,
    async policyFor(recipientDomain) {
      const domain = policyDomain(recipientDomain);
      if (!domain) return undefined;
      const now = opts.clock.now();
      const cached = cache.get(domain);
      const disc = await discoverPolicyId(opts.resolver, domain);
      if (disc.status !== 'found') {
        // RFC 8461 §3.3: no live policy discovered, but a valid cached one: it MUST be applied (a downgrade
        // attacker can strip the TXT record); without one the domain is taken to have no MTA-STS.
        if (cached) {
          count('cached_fallback');
          if (disc.status !== 'none') log.info('MTA-STS: TXT look-up failed, cached policy applies', { domain, reason: disc.reason, mode: cached.mode });
          return cached;
        }
        count(disc.status === 'none' ? 'no_policy' : disc.status === 'invalid' ? 'invalid_record' : 'dns_failed');
        if (disc.status !== 'none') log.info('MTA-STS: no usable TXT record', { domain, reason: disc.reason });
        return undefined;
      }
      // RFC 8461 §3.3, §5.1: the same id and unexpired: the cached policy holds (refreshed once a day)
      if (cached && cached.id === disc.id && now - cached.fetchedAt < REFRESH_INTERVAL_MS) {
        count('cached');
        return cached;
      }
      const recent = failed.get(domain);
      if (recent && recent.id === disc.id && recent.until > now) {
        count(cached ? 'cached_fallback' : 'fetch_failed');
        return cached;
      }
      const r = await fetchOnce(domain, disc.id);
      if (r.status === 'ok') {
        failed.delete(domain);
        count('fetched');
        const entry = cache.set(domain, r.policy);
        if (cached?.id !== disc.id || cached.mode !== r.policy.mode) log.info('MTA-STS policy fetched', { domain, id: disc.id, mode: r.policy.mode, max_age: r.policy.maxAge, mx: r.policy.mx });
        return entry;
      }
      failures?.inc({ reason: r.failure });
      if (failed.size >= opts.cacheSize) failed.clear();
      failed.set(domain, { id: disc.id, until: now + FETCH_RETRY_MS });
      log.warn('MTA-STS policy fetch failed', { domain, id: disc.id, reason: r.reason, cached_policy: cached?.mode ?? null });
      // RFC 8461 §3.3: a fetch failure keeps a valid cached policy; with none, deliver as without MTA-STS
      count(cached ? 'cached_fallback' : 'fetch_failed');
      return cached;
    },
    report(domain, policy, host, result, detail) {
      if (policy.mode === 'none') return;
      checks?.inc({ mode: policy.mode, result });
      if (result === 'ok') return;
      const fields = { domain, mode: policy.mode, host, result, ...(detail ? { detail } : {}) };
      if (policy.mode === 'enforce') log.warn('MTA-STS: MX host refused by the policy, not used', fields);
      else log.warn('MTA-STS testing: this delivery would fail under enforce', fields);
    },
    close: () => cache.flush(),
  };
}
