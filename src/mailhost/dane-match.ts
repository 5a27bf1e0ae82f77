// DANE certificate matching for SMTP (RFC 7672 §3, RFC 7671 §5): the chain an MX host presented is checked
// against its usable TLSA records. DANE-EE(3) matches the leaf alone, without name or expiry checks
// (RFC 7672 §3.1.1); DANE-TA(2) needs a trust anchor in the chain that matches a record, an unbroken chain of
// signatures from the leaf up to it, dates valid below the anchor and the leaf carrying a reference identifier
// (RFC 7672 §3.1.2, §3.2.2).
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { TlsaRecord } from '../dns/tlsa.ts';

export type DaneMatch = { ok: true; usage: 2 | 3 } | { ok: false; reason: string };

/** Longest chain walked from the leaf to a trust anchor. */
export const MAX_CHAIN_DEPTH = 10;

/** The association data of a certificate for a selector and matching type (RFC 6698 §2.1.2, §2.1.3). */
export function associationData(cert: X509Certificate, selector: number, matchingType: number): Buffer | undefined {
  const subject = selector === 0 ? cert.raw : selector === 1 ? spkiOf(cert) : undefined;
  if (!subject) return undefined;
  if (matchingType === 0) return subject;
  if (matchingType === 1) return createHash('sha256').update(subject).digest();
  if (matchingType === 2) return createHash('sha512').update(subject).digest();
  return undefined;
}

/** The DER SubjectPublicKeyInfo, or undefined for a key node cannot decode (an unknown algorithm: it throws). */
function spkiOf(cert: X509Certificate): Buffer | undefined {
  try {
    return cert.publicKey.export({ type: 'spki', format: 'der' });
  } catch {
    return undefined;
  }
}

const matchesRecord = (cert: X509Certificate, r: TlsaRecord): boolean => {
  const data = associationData(cert, r.selector, r.matchingType);
  return data !== undefined && data.equals(r.data);
};

/** A public key given whole by a DANE-TA(2) SPKI(1) Full(0) record: the anchor need not be in the chain. */
function bareKey(r: TlsaRecord): KeyObject | undefined {
  if (r.usage !== 2 || r.selector !== 1 || r.matchingType !== 0) return undefined;
  try {
    return createPublicKey({ key: r.data, format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

const signedBy = (cert: X509Certificate, issuer: KeyObject | X509Certificate): boolean => {
  try {
    return cert.verify(issuer instanceof X509Certificate ? issuer.publicKey : issuer);
  } catch {
    return false;
  }
};

const inDate = (cert: X509Certificate, now: number): boolean => Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);

export interface MatchInput {
  /** The presented chain, leaf first, as DER. */
  chain: readonly Buffer[];
  /** Usable records only (tlsa.ts isUsable). */
  records: readonly TlsaRecord[];
  /** RFC 7672 §3.2.2 reference identifiers for DANE-TA(2): the MX host name and the TLSA base domain. */
  names: readonly string[];
  now: number;
}

export function matchChain(input: MatchInput): DaneMatch {
  const certs: X509Certificate[] = [];
  for (const der of input.chain.slice(0, MAX_CHAIN_DEPTH + 1)) {
    try {
      certs.push(new X509Certificate(der));
    } catch {
      return { ok: false, reason: 'unparsable certificate in the presented chain' };
    }
  }
  const leaf = certs[0];
  if (!leaf) return { ok: false, reason: 'no certificate presented' };
  // RFC 7672 §3.1.1: DANE-EE(3) binds the key (or certificate) alone; names and dates are not checked
  if (input.records.some((r) => r.usage === 3 && matchesRecord(leaf, r))) return { ok: true, usage: 3 };
  const anchors = input.records.filter((r) => r.usage === 2);
  if (!anchors.length) return { ok: false, reason: 'no TLSA record matches the certificate' };
  const ta = walkToAnchor(certs, anchors, input.now);
  if (!ta.ok) return ta;
  // RFC 7672 §3.2.2: with DANE-TA(2) the leaf must carry one of the reference identifiers (wildcards as RFC 6125)
  if (!input.names.some((n) => leaf.checkHost(n) !== undefined)) return { ok: false, reason: `certificate names none of ${input.names.join(', ')} (DANE-TA)` };
  return { ok: true, usage: 2 };
}

/** From the leaf up through presented issuers until one matches a DANE-TA record (or a bare key signs). */
function walkToAnchor(certs: readonly X509Certificate[], anchors: readonly TlsaRecord[], now: number): { ok: true } | { ok: false; reason: string } {
  const keys = anchors.map(bareKey).filter((k): k is KeyObject => k !== undefined);
  let current = certs[0] as X509Certificate;
  const used = new Set<X509Certificate>([current]);
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    // RFC 7672 §3.1.2: the certificates below the trust anchor are checked as in PKIX, their dates included
    if (!inDate(current, now)) return { ok: false, reason: `certificate ${current.subject.replace(/\n/g, ', ')} is expired or not yet valid (DANE-TA)` };
    if (keys.some((k) => signedBy(current, k))) return { ok: true };
    const issuer = certs.find((c) => !used.has(c) && current.checkIssued(c) && signedBy(current, c));
    if (!issuer) return { ok: false, reason: 'no TLSA record matches the certificate or a trust anchor of its chain' };
    if (anchors.some((r) => matchesRecord(issuer, r))) return { ok: true };
    // RFC 5280 §6.1.4 (k), as RFC 7672 §3.1.2 checks the chain below the anchor: an intermediate must be a CA, else
    // the holder of any end-entity certificate of the anchor's could issue one for the MX host
    if (!issuer.ca) return { ok: false, reason: `certificate ${issuer.subject.replace(/\n/g, ', ')} issued another but is no CA (DANE-TA)` };
    used.add(issuer);
    current = issuer;
  }
  return { ok: false, reason: `no trust anchor within ${MAX_CHAIN_DEPTH} certificates (DANE-TA)` };
}
