// Trusted ARC sealers (RFC 8617 §7.2, RFC 7489 §6.7 local policy): when DMARC fails on a message whose ARC chain
// validated (cv=pass at our receipt) and whose newest ARC-Seal was made by a sealer the operator trusts, that
// sealer's ARC-Authentication-Results are taken as what the message was before it forwarded it: a DMARC pass for
// the From domain there, or a DKIM or SPF pass aligned with it, overrides the DMARC failure (reported as
// PolicyOverride trusted_forwarder, RFC 7489 Appendix C). Only the newest seal counts: an older trusted set under
// an untrusted one could be a replay with new content that the untrusted sealer signed.
import type { ARCResult } from 'mailauth';

export interface ArcOverride {
  /** d= of the trusted newest ARC-Seal. */
  sealer: string;
  instance: number;
  /** What in its AAR passed for the From domain: dmarc, dkim or spf. */
  method: 'dmarc' | 'dkim' | 'spf';
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v.toLowerCase().replace(/\.$/, '') : undefined);
const domainOfAddress = (v: string | undefined): string | undefined => (v === undefined ? undefined : v.slice(v.lastIndexOf('@') + 1) || undefined);

/** `name` is `base` or under it. */
const within = (name: string, base: string): boolean => name === base || name.endsWith(`.${base}`);

/**
 * Relaxed alignment without the public suffix list (RFC 7489 §3.1): the same name, or one under the other, the
 * shorter having two labels at least (so that no bare TLD aligns). Siblings under one organizational domain do not
 * align here: stricter than DMARC, which only makes fewer overrides.
 */
export function aligned(a: string, b: string): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short.includes('.') && within(long, short);
}

/** The newest ARC-Seal's d= (lower-cased), from the chain mailauth validated. */
function newestSealer(arc: ARCResult): { domain: string; instance: number } | undefined {
  const chain = arc.chain ?? [];
  const last = chain[chain.length - 1];
  const d = text(last?.['arc-seal']?.parsed?.d?.value);
  return d && last ? { domain: d, instance: last.i } : undefined;
}

/** What the newest AAR says passed for `fromDomain`, if anything. */
function passedFor(aar: Json, fromDomain: string): ArcOverride['method'] | undefined {
  const result = (v: unknown): string | undefined => (isObject(v) ? text(v.result) : undefined);
  const header = (v: unknown): Json => (isObject(v) && isObject(v.header) ? v.header : {});
  const dmarc = aar.dmarc;
  if (result(dmarc) === 'pass' && text(header(dmarc).from) === fromDomain) return 'dmarc';
  const dkim = Array.isArray(aar.dkim) ? aar.dkim : [];
  for (const sig of dkim) {
    // header.d, or the domain of header.i (the AUID) as mailauth writes it
    const d = text(header(sig).d) ?? domainOfAddress(text(header(sig).i));
    if (result(sig) === 'pass' && d && aligned(d, fromDomain)) return 'dkim';
  }
  const spf = aar.spf;
  const smtp = isObject(spf) && isObject(spf.smtp) ? spf.smtp : {};
  const mailFrom = domainOfAddress(text(smtp.mailfrom)) ?? text(smtp.helo);
  if (result(spf) === 'pass' && mailFrom && aligned(mailFrom, fromDomain)) return 'spf';
  return undefined;
}

/** The override for a DMARC failure of `fromDomain`, or none. */
export function trustedArcOverride(arc: ARCResult | undefined, fromDomain: string, trusted: readonly string[]): ArcOverride | undefined {
  if (!arc || arc.status.result !== 'pass' || trusted.length === 0) return undefined;
  const sealer = newestSealer(arc);
  if (!sealer || !trusted.some((t) => within(sealer.domain, t.toLowerCase()))) return undefined;
  const aar = arc.authenticationResults;
  if (!isObject(aar)) return undefined;
  const method = passedFor(aar, fromDomain.toLowerCase());
  return method ? { sealer: sealer.domain, instance: sealer.instance, method } : undefined;
}
