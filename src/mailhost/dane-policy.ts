// DANE discovery for one delivery (RFC 7672 §2.2): is the recipient domain's MX RRset (or, without MX, its own
// address RRset) DNSSEC-secure, and for each MX host whose addresses are secure, what its TLSA RRset at
// _<port>._tcp.<host> says: usable records (TLS required and the certificate must match them), none (no DANE: the
// delivery goes on as without it), only unusable ones (TLS required, nothing matched), or a failed look-up (defer).
// The questions of one delivery are bounded (daneBudget: by outbound.max_mx_hosts, at most MAX_DANE_HOSTS hosts).
import type { SecureAnswer, SecureDns } from '../dns/secure-dns.ts';
import { isUsable, parseTlsa, presentTlsa, type TlsaRecord } from '../dns/tlsa.ts';

/** DNS questions one delivery may ask for DANE at least (MX, addresses and TLSA of the default 5 MX hosts fit). */
export const MAX_DANE_QUERIES = 24;
/** The most questions one MX host can take: A, AAAA, TLSA at the CNAME-expanded name and at the MX name. */
const QUESTIONS_PER_HOST = 4;
/** Hosts whose questions the budget grows with outbound.max_mx_hosts for, at most (so at most 65 questions). */
export const MAX_DANE_HOSTS = 16;

/** The question budget of one delivery to up to `maxHosts` MX hosts (outbound.max_mx_hosts). */
export const daneBudget = (maxHosts: number): number => Math.max(MAX_DANE_QUERIES, 1 + QUESTIONS_PER_HOST * Math.min(maxHosts, MAX_DANE_HOSTS));
/** TLSA records looked at per RRset; the rest of an oversized answer is ignored. */
export const MAX_TLSA_RECORDS = 16;

/** Why a host goes without DANE (the metrics label and the log's reason). */
export type NoDane = 'mx_insecure' | 'host_insecure' | 'no_tlsa' | 'tlsa_insecure' | 'tlsa_unusable' | 'no_address';

export type DaneHost =
  /**
   * `encrypt`: a secure TLSA RRset whose records are all unusable still says the host does TLS: STARTTLS is required
   * (never in clear), unauthenticated by DANE (RFC 7672 §2.2; Postfix's dane level falls back to "encrypt" so).
   */
  | { kind: 'none'; why: NoDane; encrypt?: true }
  | {
      kind: 'dane';
      records: TlsaRecord[];
      /** RFC 7672 §3.2.2 reference identifiers: the MX host name, and the CNAME-expanded TLSA base domain. */
      names: string[];
      /** The TLSA base domain: the name the records were found under (RFC 7672 §8.1: sent as SNI). */
      base: string;
      /** The TLSA RRset in presentation form (TLS reports, RFC 8460 §4.4 policy-string). */
      present: string[];
    }
  /** RFC 7672 §2.1.1, §2.2.3: the TLSA (or secure address) look-up failed: no delivery to this host in this attempt. */
  | { kind: 'defer'; reason: string; resultType: 'dnssec-invalid' | 'tlsa-invalid' };

export type DaneDomain = { kind: 'secure' } | { kind: 'insecure' } | { kind: 'defer'; reason: string };

export interface DaneDelivery {
  /** The recipient domain's MX RRset (or its own address RRset for the implicit MX): secure, insecure or failed. */
  domain(domain: string, implicit: boolean): Promise<DaneDomain>;
  /** The DANE policy of one MX host of a secure domain. */
  host(host: string): Promise<DaneHost>;
}

const tlsaName = (port: number, base: string): string => `_${port}._tcp.${base}`;

/**
 * A fresh state for one delivery: the budget of questions and what was learnt of each host. `maxHosts`: the MX
 * hosts the delivery may look at (outbound.max_mx_hosts): each gets its questions, however many it needs.
 */
export function daneDelivery(dns: SecureDns, port: number, maxHosts = 5): DaneDelivery {
  const budget = daneBudget(maxHosts);
  let asked = 0;
  const ask = async (name: string, type: 'MX' | 'A' | 'AAAA' | 'TLSA'): Promise<SecureAnswer> => {
    if (asked >= budget) return { status: 'temperror', reason: `more than ${budget} DANE look-ups for one message` };
    asked++;
    return dns.lookup(name, type);
  };
  /** Addresses of a host with their security, A first, AAAA when there is no A. */
  const addresses = async (host: string): Promise<SecureAnswer> => {
    const a = await ask(host, 'A');
    if (a.status === 'ok' || a.status === 'temperror') return a;
    const aaaa = await ask(host, 'AAAA');
    return aaaa.status === 'nxdomain' || aaaa.status === 'nodata' ? { ...aaaa, secure: aaaa.secure && a.secure } : aaaa;
  };
  const hosts = new Map<string, Promise<DaneHost>>();

  const lookHost = async (host: string): Promise<DaneHost> => {
    const addr = await addresses(host);
    // RFC 7672 §2.1.1: bogus or indeterminate answers (a validating resolver's SERVFAIL) are not "insecure"
    if (addr.status === 'temperror') return { kind: 'defer', reason: `address look-up of ${host}: ${addr.reason}`, resultType: 'dnssec-invalid' };
    if (addr.status !== 'ok') return { kind: 'none', why: 'no_address' };
    // RFC 7672 §2.2.3: TLSA records are looked up only for a host whose address records are secure
    if (!addr.secure) return { kind: 'none', why: 'host_insecure' };
    // RFC 7672 §2.2.3: after a secure CNAME expansion, the expanded name is tried first, then the MX host name
    const bases = addr.owner !== host ? [addr.owner, host] : [host];
    for (const base of bases) {
      const tlsa = await ask(tlsaName(port, base), 'TLSA');
      if (tlsa.status === 'temperror') return { kind: 'defer', reason: `TLSA look-up of ${tlsaName(port, base)}: ${tlsa.reason}`, resultType: 'dnssec-invalid' };
      if (tlsa.status !== 'ok') {
        // an insecure denial cannot be told from a stripped answer, yet DANE needs secure records: no DANE
        if (!tlsa.secure) return { kind: 'none', why: 'tlsa_insecure' };
        continue;
      }
      if (!tlsa.secure) return { kind: 'none', why: 'tlsa_insecure' };
      const parsed = tlsa.records.slice(0, MAX_TLSA_RECORDS).map((r) => parseTlsa(r.rdata));
      const records = parsed.flatMap((p) => (p.ok ? [p.record] : []));
      // RFC 7671 §4.1 (and RFC 6698 §4.1): malformed and unknown records are unusable, and only usable ones count;
      // RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP
      const usable = records.filter(isUsable);
      if (!usable.length) return { kind: 'none', why: 'tlsa_unusable', encrypt: true };
      const names = [...new Set([host, base, addr.owner])];
      return { kind: 'dane', records: usable, names, base, present: usable.map((r) => presentTlsa(r)) };
    }
    return { kind: 'none', why: 'no_tlsa' };
  };

  return {
    async domain(domain, implicit) {
      const answer = implicit ? await addresses(domain) : await ask(domain, 'MX');
      if (answer.status === 'temperror') return { kind: 'defer', reason: `${implicit ? 'address' : 'MX'} look-up of ${domain}: ${answer.reason}` };
      return answer.secure ? { kind: 'secure' } : { kind: 'insecure' };
    },
    host(host) {
      let p = hosts.get(host);
      if (!p) hosts.set(host, (p = lookHost(host)));
      return p;
    },
  };
}
