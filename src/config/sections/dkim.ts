// Config section `dkim:`: the keys spamgate signs outgoing mail with (RFC 6376). A message is signed when it
// comes from an authenticated client or a trusted network and its From domain is a signing domain or one of
// its subdomains. Key files are read at start and on every reload, so a new selector takes effect on SIGHUP.
import { z } from 'zod';
import { domain } from '../units.ts';

/** A selector is one or more DNS labels (RFC 6376 §3.1: selector = sub-domain *( "." sub-domain )). */
const SELECTOR = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/;

const signingKey = z.strictObject({
  // A verifier looks the key up at selector._domainkey.domain; a one-label name (localhost) is no signing domain.
  domain: domain().refine((d) => d.includes('.'), { message: 'expected a domain of two labels or more (the domain in From addresses)' }),
  selector: z.string().regex(SELECTOR, { message: 'expected a DNS label or dotted labels (letters, digits, hyphens), e.g. "mail2026"' }),
  /** PEM private key: RSA of at least 1024 bits (2048 advised) or Ed25519. Relative to the config file's directory. */
  key: z.string().min(1),
});
export type DkimSigningKeyConfig = z.output<typeof signingKey>;

export const dkimSection = z
  .strictObject({
    sign: z
      .array(signingKey)
      .default([])
      .superRefine((keys, ctx) => {
        const seen = new Set<string>();
        keys.forEach((k, i) => {
          if (seen.has(k.domain)) ctx.addIssue({ code: 'custom', path: [i, 'domain'], message: `${k.domain} has a key already; one key per domain (rotate by changing its selector and key)` });
          seen.add(k.domain);
        });
      }),
  })
  .prefault({});
export type DkimConfig = z.output<typeof dkimSection>;
