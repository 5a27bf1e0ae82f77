// The TLS policy of MX delivery, per recipient domain and MX host: DANE (RFC 7672) for a host with secure, usable
// TLSA records under a secure MX RRset, else the domain's MTA-STS policy (RFC 8461, mta-sts.ts), which a host
// outside its mx patterns fails, else outbound.starttls (required for a host whose TLSA records are all unusable).
// With it go the pool key that keeps connections made under different policies apart, the TLS-report counting of
// hosts refused or failed (RFC 8460), and the reply left when a policy kept the message from every host.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { NextHopReply } from '../queue/types.ts';
import { NextHopConnectionError, type NextHopClient } from '../smtp/next-hop-client.ts';
import { systemClock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { daneCounter } from './dane-connect.ts';
import { daneDelivery, type DaneDomain } from './dane-policy.ts';
import { createMtaSts, mxMatches } from './mta-sts.ts';
import { mxConnector, sessionCounter, tlsaPolicy, type DaneOf } from './mx-connect.ts';
import type { OutboundOptions } from './outbound-types.ts';
import { connectionFailure, daneConnectionFailure, dnssecFailure, isTlsReport } from './tlsrpt-session.ts';

/** The file of the MTA-STS policy cache in the data directory. */
export const MTA_STS_CACHE_FILE = 'mta-sts-policies.json';

/** The TLS policy of one MX host: how connections to its addresses are made and pooled, and what a failed one means. */
export interface HostTls {
  /** The pool key of connections to `address`: reused only under the same policy. */
  key(address: string): string;
  connect(address: string): () => Promise<NextHopClient>;
  /** A connection to `address` failed: counted for TLS reports; a TLS failure under DANE or MTA-STS enforce noted as refused(). */
  failed(address: string, err: unknown): void;
}

/** The TLS policy of one recipient domain, for one delivery attempt. */
export interface DomainTls {
  /** The policy of one MX host, or undefined when it keeps the message from the host (TLSA look-up failed, MX outside an enforced policy). */
  host(host: string): Promise<HostTls | undefined>;
  /** Why DANE, else MTA-STS (enforce), kept the message from a host. */
  refused(): NextHopReply | undefined;
}

export interface MxTls {
  /**
   * The TLS policy of `domain` (implicit: it has no MX, its address RRset stands in); a deferral when DNSSEC could not
   * tell whether DANE applies. tlsReport: the message is a TLS report of spamgate's (RFC 8460 §5.3).
   */
  forDomain(domain: string, implicit: boolean, tlsReport: boolean, message: Buffer): Promise<{ kind: 'defer'; reply: NextHopReply } | { kind: 'ok'; tls: DomainTls }>;
  close(): Promise<void>;
}

export function createMxTls(opts: OutboundOptions, log: Logger): MxTls {
  const cfg = opts.config;
  const sts = cfg.mta_sts.enabled
    ? createMtaSts({
        resolver: opts.resolver,
        family: cfg.family,
        timeoutMs: cfg.mta_sts.timeout,
        cacheSize: cfg.mta_sts.cache_size,
        ...(opts.dataDir ? { file: path.join(opts.dataDir, MTA_STS_CACHE_FILE) } : {}),
        clock: opts.clock ?? systemClock,
        log,
        ...(opts.registry ? { registry: opts.registry } : {}),
        ...(opts.mtaSts?.policyPort ? { policyPort: opts.mtaSts.policyPort } : {}),
        ...(opts.mtaSts?.ca ? { ca: opts.mtaSts.ca } : {}),
        ...(opts.tlsReports ? { tlsReports: opts.tlsReports } : {}),
      })
    : undefined;
  const clock = opts.clock ?? systemClock;
  if (cfg.dane === 'on' && !opts.secureDns) throw new Error('outbound.dane: on needs DNSSEC-aware look-ups (secureDns)');
  const daneCount = daneCounter(opts.registry);
  const recordSession = sessionCounter(clock);
  const connector = mxConnector({ config: cfg, heloName: cfg.helo_name ?? opts.hostname, clock, log, daneCount, sts, recordSession, ...(opts.mtaSts?.ca ? { ca: opts.mtaSts.ca } : {}) });

  async function forDomain(domain: string, implicit: boolean, tlsReport: boolean, message: Buffer): ReturnType<MxTls['forDomain']> {
    // RFC 8460 §5.3: a TLS report is delivered despite any TLS-related failure (no MTA-STS holds it back) and its
    // sessions are not counted in the next report (nor is any message carrying TLS-Report-Domain)
    const recorder = tlsReport || !opts.tlsReports || isTlsReport(message) ? undefined : opts.tlsReports;
    // RFC 8461 §5.1: every attempt asks DNS for the policy id again, so a deferral under enforce sees an updated policy
    const found = sts && !domain.startsWith('[') && !tlsReport ? await sts.policyFor(domain) : undefined;
    const policy = found && found.mode !== 'none' ? found : undefined;
    // RFC 7672 §2.2.1: DANE applies only when the MX RRset (or, without MX, the domain's address RRset) is secure
    const dane = opts.secureDns && cfg.dane === 'on' && !domain.startsWith('[') && !tlsReport ? daneDelivery(opts.secureDns, cfg.port, cfg.max_mx_hosts) : undefined;
    const daneDomain: DaneDomain | undefined = dane ? await dane.domain(domain, implicit) : undefined;
    if (daneDomain?.kind === 'defer') {
      // RFC 7672 §2.1.1: a bogus or indeterminate answer is no "insecure" one: retried later, never sent without DANE
      daneCount('lookup_failed');
      log.warn('DANE: DNSSEC look-up failed, message deferred', { domain, reason: daneDomain.reason });
      return { kind: 'defer', reply: { code: 451, enhanced: '4.4.3', text: `DANE: ${daneDomain.reason}`, local: true } };
    }
    if (daneDomain?.kind === 'insecure') daneCount('mx_insecure');
    /** Why DANE kept the message from a host (TLSA look-up failed, certificate did not match, no STARTTLS). */
    let daneReply: NextHopReply | undefined;
    // connections of a report that may go without verified TLS are never pooled with those of other mail
    const stsKey = `${policy ? `|mta-sts-${policy.mode}` : ''}${tlsReport && (cfg.tls_verify || cfg.starttls === 'require') ? '|tlsrpt' : ''}`;
    /** Why MTA-STS (enforce) kept the message from a host; the reply when no host got to answer. */
    let stsReply: NextHopReply | undefined;
    const stsRefused = (why: string): NextHopReply => ({ code: 451, enhanced: '4.7.5', text: `MTA-STS policy of ${domain} (enforce): ${why}`, local: true });

    async function hostTls(host: string): Promise<HostTls | undefined> {
      const daneHost = daneDomain?.kind === 'secure' && dane ? await dane.host(host) : undefined;
      if (daneHost?.kind === 'defer') {
        // RFC 7672 §2.2.3: the TLSA RRset of this host could not be had: not this host now, never without DANE
        daneCount('lookup_failed');
        log.warn('DANE: look-up failed, MX host skipped', { domain, host, reason: daneHost.reason });
        daneReply = { code: 451, enhanced: '4.7.5', text: `DANE: ${daneHost.reason}`, local: true };
        recordSession(recorder, domain, tlsaPolicy(undefined), dnssecFailure(host));
        return undefined;
      }
      if (daneHost?.kind === 'none') daneCount(daneHost.why);
      const daneOf = daneHost?.kind === 'dane' ? daneHost : undefined;
      const encrypt = daneHost?.kind === 'none' && daneHost.encrypt === true;
      // RFC 8461 §2: a DNSSEC-validated, usable TLSA RRset takes precedence over the MTA-STS policy for this host
      const hostPolicy = daneOf ? undefined : policy;
      const mismatch = hostPolicy !== undefined && sts !== undefined && !mxMatches(host, hostPolicy);
      if (hostPolicy && sts && mismatch) {
        sts.report(domain, hostPolicy, host, 'mx_mismatch');
        // RFC 8461 §4.1, §5: in enforce mode a host that fails MX matching MUST NOT get the message
        if (hostPolicy.mode === 'enforce') {
          stsReply = stsRefused(`MX host ${host} does not match the policy's mx patterns`);
          // RFC 8460 §4.3.1: the session that could not be had is a validation failure of this MX
          recordSession(recorder, domain, hostPolicy, { resultType: 'validation-failure', receivingMxHostname: host });
          return undefined;
        }
      }
      return {
        // a DANE connection is reused only under the TLSA records its certificate was matched against
        key: (address) => `${host}|${address}:${cfg.port}${daneOf ? `|dane:${daneKey(daneOf)}` : `${stsKey}${encrypt ? '|encrypt' : ''}`}`,
        connect: (address) => connector({ host, address, domain, policy: hostPolicy, recorder, mismatch, tlsReport, dane: daneOf, encrypt }),
        failed(address, err) {
          if (err instanceof NextHopConnectionError) {
            const failure = daneOf ? daneConnectionFailure(err, { host, address }) : connectionFailure(err, { host, address });
            if (failure) recordSession(recorder, domain, daneOf ? tlsaPolicy(daneOf) : hostPolicy, failure);
          }
          if (daneOf && err instanceof NextHopConnectionError && err.tlsFailure) {
            // RFC 7672 §2.2, §3: no matching certificate or no STARTTLS: this host does not get the message, in
            // clear or otherwise; the next MX may, else the message stays queued
            daneCount(err.tlsFailure === 'certificate' ? 'tlsa_mismatch' : err.tlsFailure === 'handshake' ? 'tls_failed' : 'no_starttls');
            log.warn('DANE: MX host failed TLSA authentication, deferred', { domain, host, address, reason: err.message });
            daneReply = { code: 451, enhanced: '4.7.5', text: `DANE: ${host} [${address}]: ${err.message}`, local: true };
          }
          if (encrypt && err instanceof NextHopConnectionError && err.tlsFailure) {
            // RFC 7672 §2.2: TLSA records, even unusable ones, mean TLS: no STARTTLS or no handshake, no delivery here
            log.warn('DANE: MX host with unusable TLSA records failed TLS, deferred', { domain, host, address, reason: err.message });
            daneReply = { code: 451, enhanced: '4.7.5', text: `DANE: ${host} [${address}]: ${err.message}`, local: true };
          }
          if (hostPolicy && sts && err instanceof NextHopConnectionError && err.tlsFailure) {
            sts.report(domain, hostPolicy, host, err.tlsFailure === 'certificate' ? 'certificate' : err.tlsFailure === 'handshake' ? 'tls' : 'starttls', err.message);
            // RFC 8461 §5: enforce: no delivery without STARTTLS and a valid certificate, never in clear instead
            if (hostPolicy.mode === 'enforce') stsReply = stsRefused(`${host} [${address}]: ${err.message}`);
          }
        },
      };
    }

    return { kind: 'ok', tls: { host: hostTls, refused: () => daneReply ?? stsReply } };
  }

  return {
    forDomain,
    close: async () => {
      await sts?.close();
    },
  };
}

/** The TLSA records and reference names a DANE connection was verified under, as a pool key part. */
function daneKey(policy: DaneOf): string {
  return createHash('sha256').update(`${policy.present.join('\n')}|${policy.names.join(',')}`).digest('base64url').slice(0, 22);
}
