// What a TLS session of outbound delivery is in a TLS report (RFC 8460 §4.3): the result type of a connection
// (STARTTLS not offered, certificate name, expiry, trust, other failures) or of an MTA-STS policy fetch, and the
// policy it was made under (§4.4: the MTA-STS policy's lines and mx patterns, or no-policy-found).
import type { NextHopClient, NextHopConnectionError } from '../smtp/next-hop-client.ts';
import type { CachedPolicy } from './mta-sts-cache.ts';
import type { FetchFailure } from './mta-sts-policy.ts';
import type { FailureDetail, ReportPolicy, ResultType, SessionEvent } from './tlsrpt-store.ts';

/** What outbound delivery (and MTA-STS, for policy fetches) calls for each session. */
export interface TlsSessionRecorder {
  record(e: SessionEvent): void;
}

/** mx patterns of a policy carried into a report: a policy file of 64 KiB may list thousands, and each day keeps them per domain. */
export const MAX_REPORT_MX = 20;

/**
 * RFC 8460 §4.4: the policy of a report; an MTA-STS policy as its lines (rebuilt in the RFC 8461 §3.2 form from the
 * cached policy) and mx patterns (the first MAX_REPORT_MX).
 */
export function reportPolicyOf(policy: CachedPolicy | undefined): ReportPolicy {
  if (!policy || policy.mode === 'none') return { type: 'no-policy-found' };
  const mx = policy.mx.slice(0, MAX_REPORT_MX);
  return { type: 'sts', lines: ['version: STSv1', `mode: ${policy.mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${policy.maxAge}`], mx };
}

/** RFC 8460 §4.3.1: a certificate failure by node's verification code. */
export function certificateResult(code: string | undefined): ResultType {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'certificate-host-mismatch';
  if (code === 'CERT_HAS_EXPIRED') return 'certificate-expired';
  if (code && /SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY_LEAF)|CERT_UNTRUSTED|CERT_REJECTED|CERT_CHAIN_TOO_LONG|INVALID_CA/.test(code)) return 'certificate-not-trusted';
  return 'validation-failure';
}

/** RFC 8460 §4.3.2.2: an MTA-STS policy that could not be had, by how its fetch failed. */
export function policyFetchResult(failure: FetchFailure): ResultType {
  if (failure === 'certificate') return 'sts-webpki-invalid';
  if (failure === 'invalid_policy' || failure === 'content_type') return 'sts-policy-invalid';
  return 'sts-policy-fetch-error';
}

interface Where {
  host: string;
  address: string;
}

const hosts = (w: Where, local: string | undefined): Pick<FailureDetail, 'sendingMtaIp' | 'receivingMxHostname' | 'receivingIp'> => ({
  ...(local ? { sendingMtaIp: local } : {}),
  ...(w.host.startsWith('[') ? {} : { receivingMxHostname: w.host }),
  receivingIp: w.address,
});

/**
 * The failure of a session that got going (the client), or undefined for a success. Without a policy the certificate
 * is not judged (opportunistic TLS: RFC 7435), unless verification was asked for (then a failure never gets here).
 */
export function sessionFailure(client: NextHopClient, w: Where, policy: ReportPolicy): FailureDetail | undefined {
  const at = hosts(w, client.localAddress);
  if (client.secure) {
    if (policy.type === 'no-policy-found' || client.tlsAuthorized) return undefined;
    const code = client.tlsAuthorizationCode;
    return { resultType: certificateResult(code), ...at, ...(code ? { reasonCode: code } : {}) };
  }
  const fallback = client.tlsFallback;
  if (!fallback) return { resultType: 'starttls-not-supported', ...at };
  if (fallback.failure === 'certificate') return { resultType: certificateResult(fallback.code), ...at, ...(fallback.code ? { reasonCode: fallback.code } : {}) };
  return { resultType: fallback.failure === 'handshake' ? 'validation-failure' : 'starttls-not-supported', ...at };
}

/**
 * RFC 8460 §4.3.2.1: a DANE session that failed: a certificate no TLSA record matches is tlsa-invalid, no STARTTLS
 * (or a refusal of it) starttls-not-supported, a failed handshake validation-failure.
 */
export function daneConnectionFailure(err: NextHopConnectionError, w: Where): FailureDetail | undefined {
  if (!err.tlsFailure) return undefined;
  const at = hosts(w, err.localAddress);
  if (err.tlsFailure === 'certificate') return { resultType: 'tlsa-invalid', ...at };
  return { resultType: err.tlsFailure === 'handshake' ? 'validation-failure' : 'starttls-not-supported', ...at };
}

/** RFC 8460 §4.3.2.1: the TLSA look-up of an MX host failed (bogus or no answer): dnssec-invalid, no session. */
export function dnssecFailure(host: string): FailureDetail {
  return { resultType: 'dnssec-invalid', receivingMxHostname: host };
}

/** RFC 8461 §4.1 under a testing policy: a session with an MX outside the policy fails validation whatever its TLS. */
export function mismatchFailure(client: NextHopClient, w: Where): FailureDetail {
  return { resultType: 'validation-failure', ...hosts(w, client.localAddress) };
}

/** The event of one session to `domain` under `policy` (none: no-policy-found): a success without `failure`. */
export function sessionEvent(domain: string, policy: CachedPolicy | undefined, at: number, failure: FailureDetail | undefined): SessionEvent {
  return reportEvent(domain, reportPolicyOf(policy), at, failure);
}

/** The event of one session under a report policy (a TLSA RRset under DANE): a success without `failure`. */
export function reportEvent(domain: string, reportPolicy: ReportPolicy, at: number, failure: FailureDetail | undefined): SessionEvent {
  return failure ? { domain, policy: reportPolicy, at, ok: false, failure } : { domain, policy: reportPolicy, at, ok: true };
}

/** The failure of a connection that TLS ended (required STARTTLS missing, certificate or handshake failed). */
export function connectionFailure(err: NextHopConnectionError, w: Where): FailureDetail | undefined {
  if (!err.tlsFailure) return undefined;
  const at = hosts(w, err.localAddress);
  if (err.tlsFailure === 'certificate') return { resultType: certificateResult(err.tlsCode), ...at, ...(err.tlsCode ? { reasonCode: err.tlsCode } : {}) };
  return { resultType: err.tlsFailure === 'handshake' ? 'validation-failure' : 'starttls-not-supported', ...at };
}

/** RFC 8460 §5.3: a report's own delivery is not counted: a message carrying TLS-Report-Domain in its header. */
export function isTlsReport(message: Buffer): boolean {
  const end = message.indexOf('\r\n\r\n');
  const head = message.subarray(0, end < 0 ? Math.min(message.length, 64 * 1024) : end).toString('latin1');
  return /(?:^|\n)TLS-Report-Domain[ \t]*:/i.test(head);
}
