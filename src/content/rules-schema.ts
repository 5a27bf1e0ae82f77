// The `content_rules:` and `lookalike:` sections of rules/*.yaml: rule kinds, validated at load
// (a bad regex or meta expression is reported with its file and line by the rules loader).
import { z } from 'zod';
import { weightSchema } from '../scoring/rules-sections.ts';
import { parseMeta } from './meta-expr.ts';
import { backtrackingHazard, enableBacktrackFallback } from './regex-guard.ts';

/** "/pattern/flags" or a bare pattern (case-sensitive); compiled once, with V8's backtracking fallback on. */
export function compileRegex(text: string): RegExp {
  enableBacktrackFallback();
  const m = /^\/(.*)\/([dgimsuvy]*)$/s.exec(text);
  const flags = (m ? (m[2] ?? '') : '').replace(/[gy]/g, '');
  return new RegExp(m ? (m[1] ?? '') : text, flags);
}

const regex = z.string().min(1).superRefine((text, ctx) => {
  let re: RegExp;
  try {
    re = compileRegex(text);
  } catch (err) {
    // V8 says "Invalid regular expression: /pattern/flags: reason"; the pattern is shown as found already.
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${reason}` });
    return;
  }
  const hazard = backtrackingHazard(re);
  if (hazard !== undefined) ctx.addIssue({ code: 'custom', message: `regular expression ${hazard}` });
});

const base = {
  symbol: z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'expected an UPPER_SNAKE symbol name'),
  description: z.string().min(1),
  weight: weightSchema,
};

const headerRule = z.strictObject({
  ...base,
  type: z.literal('header'),
  /** Header name, or "ALL" for the whole header block. */
  header: z.string().min(1),
  regex: regex.optional(),
  /** true: hit when the header is present; false: hit when it is absent. */
  exists: z.boolean().optional(),
}).refine((r) => (r.regex === undefined) !== (r.exists === undefined), { message: 'a header rule needs exactly one of regex or exists' });

const bodyRule = z.strictObject({ ...base, type: z.literal('body'), regex });
const rawbodyRule = z.strictObject({ ...base, type: z.literal('rawbody'), regex });
/** The whole message as received (header block, blank line, undecoded body), up to filter.max_bytes. */
const fullRule = z.strictObject({ ...base, type: z.literal('full'), regex });
const uriRule = z.strictObject({
  ...base,
  type: z.literal('uri'),
  regex,
  /** Match the host only, or the full URL (default). */
  match: z.enum(['host', 'url']).default('url'),
});

const mimeRule = z.strictObject({
  ...base,
  type: z.literal('mime'),
  /** HTML body with no text/plain alternative. */
  only_html: z.boolean().optional(),
  /** Attachment file extensions (".exe") or media types ("application/x-msdownload"). */
  attachment_types: z.array(z.string().min(1)).optional(),
  /** At least this many parts. */
  min_parts: z.number().int().positive().optional(),
  /** Malformed structure (boundary missing, truncated nesting). */
  malformed: z.boolean().optional(),
}).refine((r) => r.only_html !== undefined || r.attachment_types !== undefined || r.min_parts !== undefined || r.malformed !== undefined, {
  message: 'a mime rule needs one of only_html, attachment_types, min_parts, malformed',
});

const metaRule = z.strictObject({
  ...base,
  type: z.literal('meta'),
  /** Boolean expression over symbols: &&, ||, !, parentheses, + and comparisons for counts. */
  expr: z.string().min(1).superRefine((text, ctx) => {
    try {
      parseMeta(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid meta expression: ${(err as Error).message}` });
    }
  }),
});

export const contentRuleSchema = z.discriminatedUnion('type', [headerRule, bodyRule, rawbodyRule, fullRule, uriRule, mimeRule, metaRule]);
export type ContentRule = z.output<typeof contentRuleSchema>;
export const contentRulesSectionSchema = z.array(contentRuleSchema);

export const lookalikeSectionSchema = z.strictObject({
  /** Brand domains to protect (lower-case). */
  protected: z.array(z.string().min(3)).default([]),
  /** Largest Damerau-Levenshtein distance (on the registrable label) still counted as look-alike. */
  max_distance: z.number().int().min(1).max(3).default(2),
  /** Minimum Jaro-Winkler similarity of the labels. */
  min_similarity: z.number().min(0).max(1).default(0.85),
});
export type LookalikeSection = z.output<typeof lookalikeSectionSchema>;
