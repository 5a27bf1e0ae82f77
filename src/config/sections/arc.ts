// Config section `arc:` (RFC 8617): ARC sealing of the copies spamgate forwards to other domains (alias forwards and
// Sieve redirects, full-stack mode) with the DKIM keys of `dkim.sign`, and the ARC sealers whose word spamgate takes
// when DMARC fails on a message they forwarded (RFC 7489 §6.7 local policy, reported as trusted_forwarder).
import { z } from 'zod';
import { domain } from '../units.ts';

export const arcSection = z
  .strictObject({
    /**
     * Off by default: a seal vouches in our domain's name for what we saw, and a receiver gains from it only once it
     * chooses to trust us as a sealer; turning it on is that decision (and needs a dkim.sign key for the domain).
     */
    seal: z.boolean().default(false),
    /** The dkim.sign domain whose key seals every forward (cross-checked). Default: the key of the forwarding address's domain. */
    seal_domain: domain().optional(),
    /** Sealer domains (d= of the newest ARC-Seal, or a parent of it) whose authentication results override a DMARC failure. */
    // a bare top-level name would trust every sealer under it (anyone can register one there and seal anything)
    trusted_sealers: z.array(domain().refine((d) => d.includes('.'), 'a sealer domain has two labels at least: a top-level name would trust every sealer under it')).default([]),
  })
  .prefault({});

export type ArcConfig = z.output<typeof arcSection>;
