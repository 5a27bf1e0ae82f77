// Look-alike domain check (data phase): From and URL domains close to protected brand domains.
import { uriHost, collectUris } from '../content/engine.ts';
import { createLookalikeMatcher } from '../content/lookalike.ts';
import type { LookalikeSection } from '../content/rules-schema.ts';
import type { MimeLimits, ParsedMail } from '../mime/parse.ts';
import { MEMO_LOOKALIKE, memoHits, parsedMail } from './content-shared.ts';
import type { Check, SymbolHit } from './types.ts';

export const LOOKALIKE_SYMBOLS = ['LOOKALIKE_FROM_DOMAIN', 'LOOKALIKE_URL_DOMAIN'] as const;

export function lookalikeHits(mail: ParsedMail, cfg: LookalikeSection, envelopeFrom = ''): SymbolHit[] {
  if (cfg.protected.length === 0) return [];
  const m = createLookalikeMatcher(cfg);
  const hits: SymbolHit[] = [];
  const from = mail.headers.find((h) => h.name.toLowerCase() === 'from')?.value ?? '';
  const fromDomains = new Set<string>();
  for (const a of from.matchAll(/@([a-z0-9.-]+\.[a-z]{2,})/gi)) fromDomains.add((a[1] ?? '').toLowerCase());
  const env = /@([a-z0-9.-]+)$/i.exec(envelopeFrom);
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
    if (!host || seen.has(host) || seen.size > 200) continue;
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
  return {
    outbound: true,
    name: 'lookalike',
    phase: 'data',
    symbols: LOOKALIKE_SYMBOLS,
    run(ctx) {
      const view = ctx.message;
      if (!view) return [];
      return memoHits(view, MEMO_LOOKALIKE, () => lookalikeHits(parsedMail(view, deps.limits), deps.config, ctx.envelope.mailFrom));
    },
  };
}
