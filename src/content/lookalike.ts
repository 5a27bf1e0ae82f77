// Look-alike domains: a From or URL domain close to a protected brand domain by string distance
// (Damerau-Levenshtein and Jaro-Winkler from natural), after folding common homoglyphs, or embedding the brand.
import JaroWinklerDistance from 'natural/lib/natural/distance/jaro-winkler_distance.js';
import { DamerauLevenshteinDistance } from 'natural/lib/natural/distance/levenshtein_distance.js';
import { LRUCache } from 'lru-cache';
import type { LookalikeSection } from './rules-schema.ts';

export interface LookalikeMatch {
  domain: string;
  brand: string;
  how: 'distance' | 'homoglyph' | 'embedded';
}

const HOMOGLYPHS: [RegExp, string][] = [[/rn/g, 'm'], [/vv/g, 'w'], [/0/g, 'o'], [/[1!|]/g, 'l'], [/3/g, 'e'], [/5/g, 's'], [/\$/g, 's'], [/@/g, 'a']];
const TWO_LEVEL_SUFFIX = /\.(?:co|com|net|org|gov|ac|edu)\.[a-z]{2}$/;

export function foldHomoglyphs(label: string): string {
  let s = label.toLowerCase();
  for (const [re, to] of HOMOGLYPHS) s = s.replace(re, to);
  return s;
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

export function createLookalikeMatcher(cfg: LookalikeSection): LookalikeMatcher {
  const brands = cfg.protected.map((b) => ({ domain: b.toLowerCase(), label: brandLabel(b) }));
  const cache = new LRUCache<string, { match: LookalikeMatch | undefined }>({ max: CACHE_SIZE });
  const compute = (domain: string): LookalikeMatch | undefined => {
    if (!domain.includes('.')) return undefined;
    const label = brandLabel(domain);
    for (const b of brands) {
      if (domain === b.domain || domain.endsWith('.' + b.domain)) return undefined;
    }
    for (const b of brands) {
      if (b.label.length < 4) continue;
      if (label === b.label) continue; // same brand under another suffix: not a typo, leave to other rules
      if (foldHomoglyphs(label) === b.label) return { domain, brand: b.domain, how: 'homoglyph' };
      const dist = DamerauLevenshteinDistance(label, b.label, { restricted: true });
      if (dist > 0 && dist <= cfg.max_distance && JaroWinklerDistance(label, b.label) >= cfg.min_similarity) return { domain, brand: b.domain, how: 'distance' };
      const parts = domain.split(/[.-]/);
      if (parts.includes(b.label) && label !== b.label) return { domain, brand: b.domain, how: 'embedded' };
    }
    return undefined;
  };
  return {
    check(rawDomain) {
      const domain = rawDomain.toLowerCase().replace(/\.$/, '');
      let hit = cache.get(domain);
      if (!hit) {
        hit = { match: compute(domain) };
        cache.set(domain, hit);
      }
      return hit.match;
    },
  };
}
