// TLSA records (RFC 6698 §2.1): the rdata parsed by hand, since dns2 has no decoder for type 52; lengths are
// bounded and checked, and which records DANE for SMTP can use is decided here (RFC 7672 §3.1.3, RFC 7671 §4).

export interface TlsaRecord {
  /** Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE. */
  usage: number;
  /** 0: the full certificate, 1: its SubjectPublicKeyInfo. */
  selector: number;
  /** 0: the data itself, 1: its SHA-256, 2: its SHA-512. */
  matchingType: number;
  data: Buffer;
}

export type TlsaParse = { ok: true; record: TlsaRecord } | { ok: false; reason: string };

/** Longest rdata taken: a full certificate (matching type 0) of a few KiB fits, a record of 64 KiB does not. */
export const MAX_TLSA_RDATA = 8192;

/** Digest lengths by matching type (RFC 6698 §2.1.3, §7.4). */
const DIGEST_LENGTH: Readonly<Record<number, number>> = { 1: 32, 2: 64 };

/** RFC 6698 §2.1: usage, selector and matching type (one octet each), then the association data. */
export function parseTlsa(rdata: Buffer): TlsaParse {
  if (rdata.length < 4) return { ok: false, reason: `rdata of ${rdata.length} octets (at least 4: three fields and data)` };
  if (rdata.length > MAX_TLSA_RDATA) return { ok: false, reason: `rdata of ${rdata.length} octets (at most ${MAX_TLSA_RDATA})` };
  const usage = rdata.readUInt8(0);
  const selector = rdata.readUInt8(1);
  const matchingType = rdata.readUInt8(2);
  const data = Buffer.from(rdata.subarray(3));
  const want = DIGEST_LENGTH[matchingType];
  // a SHA-256 digest is 32 octets, a SHA-512 one 64: data of another length can match nothing, the record is malformed
  if (want !== undefined && data.length !== want) return { ok: false, reason: `matching type ${matchingType} with ${data.length} octets of data (expected ${want})` };
  return { ok: true, record: { usage, selector, matchingType, data } };
}

/**
 * RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not for SMTP and are unusable; RFC 7671 §4 (and RFC 6698 §4.1):
 * unknown usages, selectors and matching types are unusable. Only DANE-TA(2) and DANE-EE(3) with selector 0 or 1
 * and matching type 0, 1 or 2 are used.
 */
export function isUsable(r: TlsaRecord): boolean {
  return (r.usage === 2 || r.usage === 3) && (r.selector === 0 || r.selector === 1) && (r.matchingType === 0 || r.matchingType === 1 || r.matchingType === 2);
}

/** The record in presentation form (RFC 6698 §2.2), as TLS reports carry it (RFC 8460 §4.4); long data cut. */
export function presentTlsa(r: TlsaRecord, maxHex = 160): string {
  const hex = r.data.toString('hex');
  return `${r.usage} ${r.selector} ${r.matchingType} ${hex.length > maxHex ? `${hex.slice(0, maxHex)}...` : hex}`;
}
