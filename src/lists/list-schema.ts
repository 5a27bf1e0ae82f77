// The `lists:` section of rules/*.yaml: allow and deny lists, each a symbol (weight, description, reply) with
// the subject it matches (type), its entries inline and/or from a list file, and the authentication it needs.
import { z } from 'zod';
import { replySchema, weightSchema } from '../scoring/rules-sections.ts';

/** What a list matches, and so the SMTP phase its check runs in (see lists/compile.ts). */
export const LIST_TYPES = ['ip', 'helo', 'client_hostname', 'envelope_from', 'rcpt', 'from'] as const;
export type ListType = (typeof LIST_TYPES)[number];

/** How the matched sender domain must be authenticated in this transaction for the entry to count. */
export const AUTH_METHODS = ['spf', 'dkim', 'dmarc', 'any'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** Most entries written inline in one list; longer lists belong in a list file. */
export const MAX_INLINE_ENTRIES = 10_000;

export const listDefSchema = z
  .strictObject({
    type: z.enum(LIST_TYPES),
    weight: weightSchema,
    description: z.string().min(1),
    /** Reply when a reject/tempfail weight decides ("550 5.7.1 text", may name {options}). */
    reply: replySchema.optional(),
    /** Family for metrics labels (defaults to the symbol's prefix before the first _). */
    group: z.string().optional(),
    entries: z.array(z.string()).max(MAX_INLINE_ENTRIES).optional(),
    /** A list file, relative to the directory of the rules file naming it: one entry per line, # comments. */
    file: z.string().min(1).optional(),
    authenticated: z.enum(AUTH_METHODS).optional(),
  })
  .superRefine((def, ctx) => {
    if (def.entries === undefined && def.file === undefined) ctx.addIssue({ code: 'custom', message: 'a list needs entries, a file, or both' });
    if (def.authenticated !== undefined && def.type !== 'envelope_from' && def.type !== 'from') {
      ctx.addIssue({ code: 'custom', path: ['authenticated'], message: `authenticated applies to envelope_from and from lists, not to ${def.type} lists` });
    }
  });
export type ListDef = z.output<typeof listDefSchema>;

/** Names checked here; each list is validated on its own when the section is resolved, so every bad list is reported at once. */
export const listsSectionSchema = z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'expected an UPPER_SNAKE symbol name (the list is its symbol)'), z.unknown());
