// Look-alike domains: a From or URL domain close to a protected brand domain by string distance
// (Damerau-Levenshtein and Jaro-Winkler from natural), after folding common homoglyphs, or embedding the brand.
import JaroWinklerDistance from 'natural/lib/natural/distance/jaro-winkler_distance.js';
import { DamerauLevenshteinDistance } from 'natural/lib/natural/distance/levenshtein_distance.js';
import { domainToASCII, domainToUnicode } from 'node:url';
import { LRUCache } from 'lru-cache';
import type { LookalikeSection } from './rules-schema.ts';

export interface LookalikeMatch {
  domain: string;
  brand: string;
  how: 'distance' | 'homoglyph' | 'embedded';
}

const HOMOGLYPHS: [RegExp, string][] = [[/rn/g, 'm'], [/vv/g, 'w'], [/0/g, 'o'], [/[1!|]/g, 'l'], [/3/g, 'e'], [/5/g, 's'], [/\$/g, 's'], [/@/g, 'a']];
const TWO_LEVEL_SUFFIX = /\.(?:co|com|net|org|gov|ac|edu)\.[a-z]{2}$/;

/**
 * Letters of other scripts drawn like Latin ones (a subset of Unicode's confusables: Cyrillic, Greek,
 * Armenian and Latin-extended forms seen in IDN phishing), folded to the Latin letter.
 */
const CONFUSABLES: Record<string, string> = {
  а: 'a', с: 'c', ԁ: 'd', е: 'e', ё: 'e', һ: 'h', і: 'i', ї: 'i', ј: 'j', к: 'k', ӏ: 'l', м: 'm', о: 'o', р: 'p', ԛ: 'q', ѕ: 's', т: 't', у: 'y', ү: 'y', х: 'x', ԝ: 'w', ь: 'b',
  α: 'a', β: 'b', ε: 'e', η: 'n', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ω: 'w',
  օ: 'o', ս: 'u', ց: 'g', զ: 'q', հ: 'h', ո: 'n',
  ɑ: 'a', ɡ: 'g', ı: 'i', ȷ: 'j', ɩ: 'i', ʏ: 'y', ᴅ: 'd', ᴇ: 'e', ᴋ: 'k', ᴍ: 'm', ɴ: 'n', ᴏ: 'o', ᴘ: 'p', ʀ: 'r', ꜱ: 's', ᴛ: 't', ᴜ: 'u', ᴠ: 'v', ᴡ: 'w', ᴢ: 'z',
};

export function foldHomoglyphs(label: string): string {
  // NFKD then dropping combining marks folds accented and full-width letters ("pàypal", "ｐａｙｐａｌ")
  let s = label.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
  s = s.replace(/[^\x00-\x7f]/g, (c) => CONFUSABLES[c] ?? c);
  for (const [re, to] of HOMOGLYPHS) s = s.replace(re, to);
  return s;
}

/** A domain as its reader sees it: A-labels ("xn--…", RFC 5891) shown as the Unicode they stand for. */
export function displayDomain(domain: string): string {
  const d = domain.toLowerCase().replace(/\.$/, '');
  if (!d.includes('xn--')) return d;
  return domainToUnicode(d) || d;
}

/** The label before the public suffix ("paypal" in "www.paypal.co.uk"), by a small heuristic. */
export function brandLabel(domain: string): string {
  const d = domain.toLowerCase().replace(/\.$/, '');
  const labels = d.split('.');
  const n = TWO_LEVEL_SUFFIX.test(d) ? 3 : 2;
  return labels[labels.length - n] ?? labels[0] ?? '';
}

export interface LookalikeMatcher {
  check(domain: string): LookalikeMatch | undefined;
}

/** Domains repeat across messages: answers are cached (bounded) per matcher, i.e. per rules snapshot. */
const CACHE_SIZE = 10_000;
const MAX_DOMAIN = 253;
const CACHE_BYTES = 8 * 1024 * 1024;
const MAX_LABEL = 63;

export function createLookalikeMatcher(cfg: LookalikeSection): LookalikeMatcher {
  const brands = cfg.protected.map((b) => ({ domain: b.toLowerCase(), label: brandLabel(b) }));
  const cache = new LRUCache<string, { match: LookalikeMatch | undefined }>({ max: CACHE_SIZE, maxSize: CACHE_BYTES, sizeCalculation: (_v, key) => 64 + key.length * 2 });
  const compute = (domain: string): LookalikeMatch | undefined => {
    // RFC 1035 §2.3.4: no real domain is longer (a longer one is no look-alike, and would cost distance work)
    if (!domain.includes('.') || domain.length > MAX_DOMAIN) return undefined;
    const label = brandLabel(domain);
    if (label.length > MAX_LABEL) return undefined;
    for (const b of brands) {
      if (domain === b.domain || domain.endsWith('.' + b.domain)) return undefined;
    }
    const folded = foldHomoglyphs(label);
    const parts = domain.split(/[.-]/);
    for (const b of brands) {
      if (b.label.length < 4) continue;
      if (label === b.label) continue; // same brand under another suffix: not a typo, leave to other rules
      if (folded === b.label) return { domain, brand: b.domain, how: 'homoglyph' };
      // the edit distance is at least the difference in length: only near lengths are worth computing
      if (Math.abs(label.length - b.label.length) <= cfg.max_distance) {
        const dist = DamerauLevenshteinDistance(label, b.label, { restricted: true });
        if (dist > 0 && dist <= cfg.max_distance && JaroWinklerDistance(label, b.label) >= cfg.min_similarity) return { domain, brand: b.domain, how: 'distance' };
      }
      if (parts.includes(b.label)) return { domain, brand: b.domain, how: 'embedded' };
    }
    return undefined;
  };
  return {
    check(rawDomain) {
      // RFC 1035 §2.3.4: no real domain is longer; checked before anything is cached, so a message full of
      // huge names cannot fill the cache (which lasts as long as the rules snapshot)
      if (rawDomain.length > MAX_DOMAIN) return undefined;
      const domain = displayDomain(rawDomain);
      let hit = cache.get(domain);
      if (!hit) {
        const match = compute(domain);
        // reported as the A-label ("xn--…"): ASCII for the result header, and what the DNS holds
        hit = { match: match && /[^\x00-\x7f]/.test(match.domain) ? { ...match, domain: domainToASCII(match.domain) || match.domain } : match };
        cache.set(domain, hit);
      }
      return hit.match;
    },
  };
}
