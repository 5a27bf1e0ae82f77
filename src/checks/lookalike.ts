// Look-alike domain check (data phase): From and URL domains close to protected brand domains.
import { uriHost, collectUris } from '../content/engine.ts';
import { createLookalikeMatcher, type LookalikeMatcher } from '../content/lookalike.ts';
import type { LookalikeSection } from '../content/rules-schema.ts';
import type { MimeLimits, ParsedMail } from '../mime/parse.ts';
import { MEMO_LOOKALIKE, memoHits, parsedMail } from './content-shared.ts';
import type { Check, SymbolHit } from './types.ts';

export const LOOKALIKE_SYMBOLS = ['LOOKALIKE_FROM_DOMAIN', 'LOOKALIKE_URL_DOMAIN'] as const;

/** Domains looked at per message: From addresses and URL hosts (each beyond this is skipped). */
const MAX_DOMAINS = 200;

/** `m` is the snapshot's matcher (one per rules snapshot, so its cache lasts across messages). */
export function lookalikeHits(mail: ParsedMail, m: LookalikeMatcher, envelopeFrom = ''): SymbolHit[] {
  const hits: SymbolHit[] = [];
  const from = mail.headers.find((h) => h.name.toLowerCase() === 'from')?.value ?? '';
  const fromDomains = new Set<string>();
  // any script: an IDN From domain (U-label, or A-label "xn--…") is looked at like an ASCII one
  for (const a of from.matchAll(/@([\p{L}\p{N}.-]+\.[\p{L}\p{N}-]{2,})/giu)) {
    if (fromDomains.size >= MAX_DOMAINS) break;
    fromDomains.add((a[1] ?? '').toLowerCase());
  }
  const env = /@([\p{L}\p{N}.-]+)$/iu.exec(envelopeFrom);
  if (env?.[1]) fromDomains.add(env[1].toLowerCase());
  for (const d of fromDomains) {
    const r = m.check(d);
    if (r) {
      hits.push({ symbol: 'LOOKALIKE_FROM_DOMAIN', options: [r.domain, `~${r.brand}`, r.how] });
      break;
    }
  }
  const seen = new Set<string>();
  for (const uri of collectUris(mail)) {
    const host = uriHost(uri);
    if (!host || seen.has(host)) continue;
    if (seen.size >= MAX_DOMAINS) break;
    seen.add(host);
    const r = m.check(host);
    if (r) {
      hits.push({ symbol: 'LOOKALIKE_URL_DOMAIN', options: [r.domain, `~${r.brand}`, r.how] });
      break;
    }
  }
  return hits;
}

export function createLookalikeCheck(deps: { config: LookalikeSection; limits: MimeLimits }): Check {
  const matcher = createLookalikeMatcher(deps.config);
  return {
    outbound: true,
    name: 'lookalike',
    phase: 'data',
    symbols: LOOKALIKE_SYMBOLS,
    run(ctx) {
      const view = ctx.message;
      if (!view || deps.config.protected.length === 0) return [];
      return memoHits(view, MEMO_LOOKALIKE, () => lookalikeHits(parsedMail(view, deps.limits), matcher, ctx.envelope.mailFrom));
    },
  };
}
