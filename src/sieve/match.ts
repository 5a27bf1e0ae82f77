// Sieve match types and comparators (RFC 5228 §2.7, RFC 4790 §9.2–§9.3): :is, :contains and :matches (with
// "*", "?" and "\" escapes) under i;octet or i;ascii-casemap, and the match variables of a :matches (RFC 5229).
import type { Comparator, MatchType } from './script.ts';
import { captures } from './variables.ts';

/** i;ascii-casemap folds a–z only (RFC 4790 §9.2): no Unicode case folding. */
function fold(s: string, comparator: Comparator): string {
  return comparator === 'i;octet' ? s : s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** One value against one key; `key` as the script gives it (":matches" wildcards not yet read). */
export function matches(value: string, key: string, match: MatchType, comparator: Comparator): boolean {
  const v = fold(value, comparator);
  if (match === 'is') return v === fold(key, comparator);
  if (match === 'contains') return v.includes(fold(key, comparator));
  return wildcard([...v], globOf(fold(key, comparator)));
}

/** Character comparisons one step stands for. */
const COST_UNIT = 10_000;

export type GlobItem = { kind: 'star' } | { kind: 'any' } | { kind: 'char'; char: string };

/** RFC 5228 §2.7.1: "*" any run, "?" one character, "\" makes the next character literal. */
export function globOf(key: string): GlobItem[] {
  const out: GlobItem[] = [];
  const chars = [...key];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    if (c === '\\' && i + 1 < chars.length) out.push({ kind: 'char', char: chars[++i] ?? '' });
    else if (c === '*') out.push({ kind: 'star' });
    else if (c === '?') out.push({ kind: 'any' });
    else out.push({ kind: 'char', char: c });
  }
  return out;
}

/**
 * Greedy match with backtracking to the last star only: O(value × pattern) at worst, never exponential
 * (a hostile "*a*a*a*…b" against a long header costs a product, not a power).
 */
function wildcard(value: readonly string[], glob: readonly GlobItem[]): boolean {
  let v = 0;
  let g = 0;
  let starG = -1;
  let starV = 0;
  while (v < value.length) {
    const item = glob[g];
    if (item && item.kind === 'star') {
      starG = g++;
      starV = v;
    } else if (item && (item.kind === 'any' || item.char === value[v])) {
      v++;
      g++;
    } else if (starG >= 0) {
      g = starG + 1;
      v = ++starV;
    } else return false;
  }
  while (glob[g]?.kind === 'star') g++;
  return g === glob.length;
}

/** The match variables of a value that matches `key` (RFC 5229 §3.2): the value, then each wildcard's text. */
export function matchVariables(value: string, key: string, comparator: Comparator): string[] {
  // folded once here, not per table cell (the table may have millions): folding keeps every character's place
  return [value, ...(captures([...value], [...fold(value, comparator)], globOf(fold(key, comparator))) ?? [])];
}

/**
 * True when any value matches any key (RFC 5228 §2.7.1: lists are tried each against each); `matched` hears of
 * the first value and key that do.
 */
export function anyMatches(
  values: readonly string[],
  keys: readonly string[],
  match: MatchType,
  comparator: Comparator,
  step: (cost?: number) => void,
  matched?: (value: string, key: string) => void,
): boolean {
  for (const value of values) {
    for (const key of keys) {
      // a comparison of long strings costs more steps: :matches up to value × key, the others the value's length
      step(1 + Math.floor((match === 'matches' ? value.length * key.length : value.length) / COST_UNIT));
      if (matches(value, key, match, comparator)) {
        matched?.(value, key);
        return true;
      }
    }
  }
  return false;
}
