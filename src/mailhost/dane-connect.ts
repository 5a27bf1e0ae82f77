// DANE at connection time (RFC 7672 §3): the chain the MX host presented after STARTTLS, checked against its
// usable TLSA records (dane-match.ts) as the next-hop client's peerCheck; the outbound_dane_total counter of
// what DANE did for each MX host or connection.
import type { TLSSocket, DetailedPeerCertificate } from 'node:tls';
import type { NextHopClientOptions } from '../smtp/next-hop-client.ts';
import type { Registry } from '../metrics/registry.ts';
import { counter } from '../metrics/registry.ts';
import { matchChain, MAX_CHAIN_DEPTH } from './dane-match.ts';
import type { DaneHost, NoDane } from './dane-policy.ts';

/** The chain as presented (node links each certificate to its issuer; a self-issued one links to itself). */
export function presentedChain(secure: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert: DetailedPeerCertificate | undefined = secure.getPeerCertificate(true);
  const seen = new Set<DetailedPeerCertificate>();
  while (cert && cert.raw && !seen.has(cert) && out.length <= MAX_CHAIN_DEPTH) {
    seen.add(cert);
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

/** The peerCheck of a connection under DANE: an Error naming what did not match, or undefined. */
export function danePeerCheck(policy: Extract<DaneHost, { kind: 'dane' }>, now: () => number): (secure: TLSSocket) => Error | undefined {
  return (secure) => {
    const m = matchChain({ chain: presentedChain(secure), records: policy.records, names: policy.names, now: now() });
    return m.ok ? undefined : new Error(`DANE: ${m.reason}`);
  };
}

/**
 * The client options of a connection to an MX host with usable TLSA records. RFC 7672 §2.2: STARTTLS is required
 * (never in clear, whatever outbound.starttls says) and the certificate must match the records (§3); PKIX roots and
 * node's name check play no part (tlsVerify off, the records decide in peerCheck).
 */
export function daneClientOptions(base: Omit<NextHopClientOptions, 'starttls' | 'tlsVerify' | 'servername'>, policy: Extract<DaneHost, { kind: 'dane' }>, now: () => number): NextHopClientOptions {
  // RFC 7672 §8.1: SNI carries the TLSA base domain, so a server with several certificates shows the one the records name
  return { ...base, servername: policy.base, starttls: 'require', tlsVerify: false, peerCheck: danePeerCheck(policy, now) };
}

/** Results of outbound_dane_total: verified, failures, and why a host went without DANE. */
export type DaneResult = 'verified' | 'tlsa_mismatch' | 'no_starttls' | 'tls_failed' | 'lookup_failed' | NoDane;

export type DaneCounter = (result: DaneResult) => void;

export function daneCounter(registry: Registry | undefined): DaneCounter {
  if (!registry) return () => undefined;
  const c = counter(registry, 'spamgate_outbound_dane_total', 'DANE (RFC 7672) outcomes of MX delivery, per MX host looked at or connection made under TLSA records', ['result']);
  return (result) => c.inc({ result });
}
