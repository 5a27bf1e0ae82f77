// Which MTA-STS policy (RFC 8461) applies to a recipient domain now: TXT discovery, the cache, a
// fetch when the id is new or a refresh is due, the cached policy kept when discovery or fetch
// fails (§3.3, §5.1), and whether an MX host name matches the policy (§4.1). In the background, the
// policies of domains mail went to lately are refreshed once a day (§5.1), so one is not lost to its
// max_age while no mail goes there.
import { validateMx } from 'mailauth/lib/mta-sts.js';
import type { Resolver } from '../dns/resolver.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createPolicyCache, type CachedPolicy, type PolicyCache } from './mta-sts-cache.ts';
import { discoverPolicyId, fetchPolicy, policyDomain, type FetchResult } from './mta-sts-policy.ts';
import { policyFetchResult, reportPolicyOf, type TlsSessionRecorder } from './tlsrpt-session.ts';

export type PolicyResult = 'no_policy' | 'invalid_record' | 'dns_failed' | 'fetch_failed' | 'fetched' | 'cached' | 'cached_fallback';
export type MxCheckResult = 'ok' | 'mx_mismatch' | 'starttls' | 'tls' | 'certificate';

/** RFC 8461 §3.3: MTAs SHOULD refresh cached policies before they expire, about once a day. */
export const REFRESH_INTERVAL_MS = 24 * 3600 * 1000;
/** A failed fetch of one policy id is not tried again for this long (each try may take the whole timeout). */
export const FETCH_RETRY_MS = 5 * 60 * 1000;
/**
 * The background refresh: how often it looks, how many domains it takes per look (one at a time), and for how long
 * after the last delivery to a domain its policy is kept fresh (after that it lives out its max_age, as without).
 */
export const REFRESH_SWEEP_MS = 3600 * 1000;
export const REFRESH_PER_SWEEP = 200;
export const REFRESH_USED_WITHIN_MS = 30 * 24 * 3600 * 1000;
/** A domain whose background refresh failed is left this long, so domains failing for days cannot take every sweep. */
export const REFRESH_RETRY_MS = 6 * 3600 * 1000;

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
  /** How often the background refresh looks (REFRESH_SWEEP_MS); 0 turns it off (tests call refreshDue). */
  refreshSweepMs?: number;
  /** Domains refreshed per sweep at most (REFRESH_PER_SWEEP; tests lower it). */
  refreshPerSweep?: number;
  /** Policy fetches that failed are counted for TLS reports (RFC 8460 §4.3.2.2) here. */
  tlsReports?: TlsSessionRecorder;
}

export interface MtaSts {
  /** The policy that applies to `domain` (mode none included), or undefined when none does. */
  policyFor(domain: string): Promise<CachedPolicy | undefined>;
  /** Counts (and logs) the outcome of an MX host checked against a policy. */
  report(domain: string, policy: CachedPolicy, host: string, result: MxCheckResult, detail?: string): void;
  /** One background refresh: the due policies, one domain at a time; resolves to the number looked at. */
  refreshDue(): Promise<number>;
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
    ? counter(opts.registry, 'spamgate_mta_sts_fetch_failures_total', 'MTA-STS policy fetches that failed, by reason (dns, no_address, connect, certificate, http_status, content_type: not text/plain, too_large, timeout, invalid_policy).', ['reason'] as const)
    : undefined;
  const checks = opts.registry
    ? counter(opts.registry, 'spamgate_mta_sts_mx_checks_total', 'MX hosts checked against an MTA-STS policy, by mode (enforce: failures defer; testing: only reported) and result (ok, mx_mismatch, starttls: not offered or refused, tls: handshake failed, certificate).', ['mode', 'result'] as const)
    : undefined;
  // every mode and result is exported from the start (at 0), so rates and alerts over them have a series to work on
  for (const mode of ['enforce', 'testing']) for (const result of ['ok', 'mx_mismatch', 'starttls', 'tls', 'certificate']) checks?.inc({ mode, result }, 0);
  const refreshes = opts.registry
    ? counter(opts.registry, 'spamgate_mta_sts_refresh_total', 'MTA-STS policies refreshed in the background (domains mail went to in the last 30 days, once a day), by result (as spamgate_mta_sts_policy_total).', ['result'] as const)
    : undefined;
  for (const result of ['fetched', 'cached', 'cached_fallback']) refreshes?.inc({ result }, 0);
  /** Fetches under way (one per domain and id) and recent failures (domain → id and until when). */
  const closing = new AbortController();
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
        signal: closing.signal,
      }).finally(() => inFlight.delete(key));
      inFlight.set(key, p);
    }
    return p;
  };

  /** The policy of `domain` now (a policyDomain name), each look-up's result counted by `count`. */
  const resolve = async (domain: string, count: (result: PolicyResult) => void, delivering = false): Promise<CachedPolicy | undefined> => {
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
    // RFC 8460 §4.3.2.2: a policy that could not be fetched or did not validate for a delivery is reported (under the
    // cached policy, if any); a background refresh is no session
    if (delivering) opts.tlsReports?.record({
      domain,
      policy: cached && cached.mode !== 'none' ? reportPolicyOf(cached) : { type: 'sts', lines: [], mx: [] },
      at: now,
      ok: false,
      failure: { resultType: policyFetchResult(r.failure), reasonCode: r.failure },
    });
    if (failed.size >= opts.cacheSize) failed.clear();
    failed.set(domain, { id: disc.id, until: now + FETCH_RETRY_MS });
    log.warn('MTA-STS policy fetch failed', { domain, id: disc.id, reason: r.reason, cached_policy: cached?.mode ?? null });
    // RFC 8461 §3.3: a fetch failure keeps a valid cached policy; with none, deliver as without MTA-STS
    count(cached ? 'cached_fallback' : 'fetch_failed');
    return cached;
  };

  let sweeping: Promise<number> | undefined;
  /** When each domain's background refresh was last tried (bounded by the cache size). */
  const refreshTried = new Map<string, number>();
  const perSweep = opts.refreshPerSweep ?? REFRESH_PER_SWEEP;
  const refreshDue = (): Promise<number> => {
    sweeping ??= (async () => {
      let n = 0;
      const now = opts.clock.now();
      if (refreshTried.size > opts.cacheSize) refreshTried.clear();
      // RFC 8461 §5.1: cached policies SHOULD be refreshed before they expire (a daily check). A refresh that
      // worked is not due again for a day; one that failed waits REFRESH_RETRY_MS, so the others get their turn.
      for (const domain of cache.dueForRefresh(REFRESH_INTERVAL_MS, REFRESH_USED_WITHIN_MS, opts.cacheSize)) {
        if (closing.signal.aborted || n >= perSweep) break;
        const tried = refreshTried.get(domain);
        if (tried !== undefined && now - tried < REFRESH_RETRY_MS && now >= tried) continue;
        refreshTried.set(domain, now);
        await resolve(domain, (result) => refreshes?.inc({ result }));
        n++;
      }
      return n;
    })()
      .catch((err: unknown) => {
        log.warn('MTA-STS background refresh failed', { err });
        return 0;
      })
      .finally(() => (sweeping = undefined));
    return sweeping;
  };
  const sweepMs = opts.refreshSweepMs ?? REFRESH_SWEEP_MS;
  const timer = sweepMs > 0 ? setInterval(() => void refreshDue(), sweepMs) : undefined;
  timer?.unref();

  return {
    cache,
    async policyFor(recipientDomain) {
      const domain = policyDomain(recipientDomain);
      if (!domain) return undefined;
      const policy = await resolve(domain, (result) => lookups?.inc({ result }), true);
      if (policy) cache.markUsed(domain);
      return policy;
    },
    refreshDue,
    report(domain, policy, host, result, detail) {
      if (policy.mode === 'none') return;
      checks?.inc({ mode: policy.mode, result });
      if (result === 'ok') return;
      const fields = { domain, mode: policy.mode, host, result, ...(detail ? { detail } : {}) };
      if (policy.mode === 'enforce') log.warn('MTA-STS: MX host refused by the policy, not used', fields);
      else log.warn('MTA-STS testing: this delivery would fail under enforce', fields);
    },
    close: async () => {
      if (timer) clearInterval(timer);
      closing.abort();
      await sweeping;
      await cache.flush();
    },
  };
}
