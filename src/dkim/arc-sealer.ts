// ARC sealing (RFC 8617 §5.1) of a message spamgate forwards: one ARC set (ARC-Seal, ARC-Message-Signature,
// ARC-Authentication-Results) made by mailauth with a DKIM signing key, the instance one above the chain on the
// message, cv= the chain validation status spamgate found at receipt, and the AAR the Authentication-Results
// spamgate wrote then. A chain whose newest seal already says cv=fail is not sealed again (§5.1 step 2).
import type { ARCSealOptions } from 'mailauth';
import { createSeal } from 'mailauth/lib/arc/index.js';
import type { DkimKey } from './signer.ts';

/** The chain validation status at receipt (RFC 8617 §4.4): none (no chain), pass or fail. */
export type ChainStatus = 'none' | 'pass' | 'fail';

export type SealOutcome =
  /** `header`: the three fields of the new set, each ending in CRLF, to put on top of the message. */
  | { status: 'sealed'; domain: string; instance: number; cv: ChainStatus; header: string }
  /** no_key: no dkim.sign key for the domain; chain_failed: the newest seal says cv=fail (RFC 8617 §5.1 step 2). */
  | { status: 'not_sealed'; reason: 'no_key' | 'chain_failed'; detail: string }
  | { status: 'failed'; domain: string; error: string };

export interface ArcSealer {
  /** Never throws. `forwarderDomain`: the domain of the address that forwards (its key seals, unless arc.seal_domain names one). */
  seal(raw: Buffer, input: { forwarderDomain: string; authResults: string; cv: ChainStatus; now: number }): Promise<SealOutcome>;
}

export function createArcSealer(keys: readonly DkimKey[], sealDomain?: string): ArcSealer {
  // the most specific key first, as for DKIM signing (signer.ts)
  const ordered = [...keys].sort((a, b) => b.domain.length - a.domain.length);
  const keyFor = (domain: string): DkimKey | undefined => {
    if (sealDomain !== undefined) return ordered.find((k) => k.domain === sealDomain);
    const d = domain.toLowerCase().replace(/\.$/, '');
    return ordered.find((k) => d === k.domain || d.endsWith(`.${k.domain}`));
  };
  return {
    async seal(raw, { forwarderDomain, authResults, cv, now }) {
      const key = keyFor(forwarderDomain);
      if (!key) return { status: 'not_sealed', reason: 'no_key', detail: `no dkim.sign key for ${sealDomain ?? forwarderDomain}` };
      const seal: ARCSealOptions = { signingDomain: key.domain, selector: key.selector, privateKey: key.pem, authResults, cv, signTime: now, strict: true, canonicalization: 'relaxed/relaxed' };
      try {
        const made = await createSeal(raw, { seal });
        const header = made.headers;
        if (header.length === 3) {
          const instance = Number(/\bi=(\d+)/.exec(header[0] ?? '')?.[1] ?? 0);
          return { status: 'sealed', domain: key.domain, instance, cv, header: header.map((h) => `${h}\r\n`).join('') };
        }
        const errors = made.errors.map((e) => e.err);
        // RFC 8617 §5.1 step 2: a chain whose newest ARC-Seal has cv=fail MUST NOT be sealed again
        if (errors.some((e) => (e as Error & { code?: string }).code === 'EARCCHAINFAILED')) return { status: 'not_sealed', reason: 'chain_failed', detail: errors[0]?.message ?? 'chain failed' };
        return { status: 'failed', domain: key.domain, error: errors.map((e) => e.message).join('; ') || 'no ARC set made' };
      } catch (err) {
        return { status: 'failed', domain: key.domain, error: (err as Error).message };
      }
    },
  };
}
