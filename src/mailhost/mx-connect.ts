// One connection to an MX host under the TLS its host's policy (mx-tls.ts) calls for: DANE (certificate matched
// against the TLSA records, RFC 7672 §3), an MTA-STS policy (enforce: verified STARTTLS, RFC 8461 §4.2, §5; testing:
// what enforce would refuse is reported), STARTTLS required by unusable TLSA records, else outbound.starttls and
// tls_verify. Each session is counted for the TLS report of the recipient domain (RFC 8460 §4.3).
import { NextHopClient } from '../smtp/next-hop-client.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { daneClientOptions, type DaneCounter } from './dane-connect.ts';
import type { DaneHost } from './dane-policy.ts';
import { sourceAddressFor } from './host-delivery.ts';
import type { CachedPolicy } from './mta-sts-cache.ts';
import { dnsIdCheck, policyDomain } from './mta-sts-policy.ts';
import type { MtaSts } from './mta-sts.ts';
import { isHostName } from './mx-plan.ts';
import type { OutboundConfig } from './outbound-types.ts';
import { mismatchFailure, reportEvent, reportPolicyOf, sessionFailure, type TlsSessionRecorder } from './tlsrpt-session.ts';
import type { FailureDetail, ReportPolicy } from './tlsrpt-store.ts';

export type DaneOf = Extract<DaneHost, { kind: 'dane' }>;
export const tlsaPolicy = (d: DaneOf | undefined): ReportPolicy => ({ type: 'tlsa', lines: d?.present ?? [] });

/** One MX connection to make: the host and address, the recipient domain's policy, and how the session is counted. */
export interface ConnectTo {
  host: string;
  address: string;
  domain: string;
  policy: CachedPolicy | undefined;
  /** Where the session is counted for TLS reports (none for a report itself). */
  recorder: TlsSessionRecorder | undefined;
  /** The host is outside the (testing) policy's mx patterns. */
  mismatch: boolean;
  /** The message is a TLS report of spamgate's (RFC 8460 §5.3). */
  tlsReport: boolean;
  /** The host's usable TLSA records (DANE, RFC 7672): TLS required and the certificate matched against them. */
  dane: DaneOf | undefined;
  /** The host's secure TLSA records are all unusable: STARTTLS required, not authenticated by DANE (RFC 7672 §2.2). */
  encrypt: boolean;
}

/** Counts one session for the TLS report of `domain` (success without `failure`), under an MTA-STS policy or a TLSA RRset. */
export type RecordSession = (recorder: TlsSessionRecorder | undefined, domain: string, policy: CachedPolicy | ReportPolicy | undefined, failure: FailureDetail | undefined) => void;

export function sessionCounter(clock: Clock): RecordSession {
  return (recorder, domain, policy, failure) => {
    // reported by policy domain (A-labels, lower case); an address literal has none
    const name = recorder ? policyDomain(domain) : undefined;
    const reportPolicy = policy && 'type' in policy ? policy : reportPolicyOf(policy);
    if (recorder && name) recorder.record(reportEvent(name, reportPolicy, clock.now(), failure));
  };
}

export interface MxConnectContext {
  config: OutboundConfig;
  heloName: string;
  clock: Clock;
  log: Logger;
  daneCount: DaneCounter;
  /** MTA-STS, when outbound.mta_sts is enabled: told how each host under a policy did. */
  sts: MtaSts | undefined;
  recordSession: RecordSession;
  /** The CA trusted for MX certificates under an MTA-STS policy (a test seam; the system's roots without). */
  ca?: Buffer;
}

/** An MX connection; under an MTA-STS policy (enforce or testing) with the policy's TLS checks. */
export function mxConnector(ctx: MxConnectContext): (c: ConnectTo) => () => Promise<NextHopClient> {
  const { config: cfg, clock, log, daneCount, sts, recordSession } = ctx;
  return (c) => async () => {
    const { host, address, domain, policy, recorder, mismatch } = c;
    const base = {
      host: address,
      port: cfg.port,
      heloName: ctx.heloName,
      connectTimeout: cfg.connect_timeout,
      commandTimeout: cfg.command_timeout,
      ...sourceAddressFor(cfg, address),
      ...(isHostName(host) ? { servername: host } : {}),
    };
    if (c.dane) {
      const client = await NextHopClient.connect(daneClientOptions(base, c.dane, () => clock.now()));
      daneCount('verified');
      log.info('DANE: verified TLS connection, the certificate matches the TLSA records', { domain, host, address });
      recordSession(recorder, domain, tlsaPolicy(c.dane), undefined);
      return client;
    }
    // RFC 8461 §4.2, §5: enforce needs STARTTLS and a certificate valid (DNS-ID) for the MX host name
    const enforce = policy?.mode === 'enforce';
    const client = await NextHopClient.connect({
      ...base,
      // RFC 8460 §5.3: a TLS report MUST be delivered despite any TLS-related failure: STARTTLS when offered, in clear if not
      starttls: enforce || c.encrypt ? 'require' : c.tlsReport && cfg.starttls !== 'never' ? 'opportunistic' : cfg.starttls,
      tlsVerify: enforce || (cfg.tls_verify && !c.tlsReport),
      ...(policy ? { checkServerIdentity: dnsIdCheck(host), ...(ctx.ca ? { tlsCa: ctx.ca } : {}) } : {}),
    });
    if (policy && sts) {
      // testing: what enforce would have refused is reported, the mail goes as before (RFC 8461 §5)
      // a plain session after a failed handshake (opportunistic TLS started over in clear) is a TLS failure
      const fallback = client.tlsFallback?.failure;
      const result = client.secure ? (client.tlsAuthorized ? 'ok' : 'certificate') : fallback === 'handshake' ? 'tls' : fallback === 'certificate' ? 'certificate' : 'starttls';
      sts.report(domain, policy, host, result, client.secure ? client.tlsAuthorizationError : client.tlsFallback?.message);
    }
    // RFC 8460 §4.3: every session to the MX is counted, a success or its failure; an MX outside the policy
    // (testing mode: still used) is a validation failure whatever its TLS; no STARTTLS tried is no TLS session
    if (recorder && (enforce || cfg.starttls !== 'never')) {
      const where = { host, address };
      recordSession(recorder, domain, policy, mismatch ? mismatchFailure(client, where) : sessionFailure(client, where, reportPolicyOf(policy)));
    }
    return client;
  };
}
