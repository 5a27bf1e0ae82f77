// Sieve match types and comparators (RFC 5228 §2.7, RFC 4790 §9): :is, :contains and :matches (with "*", "?"
// and "\" escapes) under i;octet or i;ascii-casemap, relational :value (RFC 5231 §4.1) under those and
// i;ascii-numeric (RFC 4790 §9.1), and the match variables of a :matches (RFC 5229).
import type { Comparator, Match, MatchType, Relation } from './script.ts';
import { captures } from './variables.ts';

/** i;ascii-casemap folds a–z only (RFC 4790 §9.2): no Unicode case folding. */
function fold(s: string, comparator: Comparator): string {
  return comparator === 'i;ascii-casemap' ? s.replace(/[a-z]+/g, (m) => m.toUpperCase()) : s;
}

/**
 * RFC 4790 §9.1.1: the number i;ascii-numeric reads is the string's leading US-ASCII digits (leading zeros
 * not significant); a string that does not start with a digit is positive infinity (undefined here).
 */
function numberOf(s: string): string | undefined {
  const digits = /^[0-9]+/.exec(s)?.[0];
  if (digits === undefined) return undefined;
  return digits.replace(/^0+(?=[0-9])/, '');
}

/** Ordering of two values under a comparator: negative, 0 or positive. */
export function compare(a: string, b: string, comparator: Comparator): number {
  if (comparator === 'i;ascii-numeric') {
    const x = numberOf(a);
    const y = numberOf(b);
    // RFC 4790 §9.1.1: positive infinity is equal to itself and greater than every number
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
    return x.length !== y.length ? x.length - y.length : x < y ? -1 : x > y ? 1 : 0;
  }
  // i;octet orders by octets (RFC 4790 §9.3), i;ascii-casemap the same after folding: UTF-8 bytes, not UTF-16 units
  return Buffer.compare(Buffer.from(fold(a, comparator), 'utf8'), Buffer.from(fold(b, comparator), 'utf8'));
}

/** RFC 5231 §5: whether `order` (value against key) stands in the relation. */
function holdsRelation(order: number, relation: Relation): boolean {
  switch (relation) {
    case 'gt':
      return order > 0;
    case 'ge':
      return order >= 0;
    case 'lt':
      return order < 0;
    case 'le':
      return order <= 0;
    case 'eq':
      return order === 0;
    case 'ne':
      return order !== 0;
  }
}

/** One value against one key; `key` as the script gives it (":matches" wildcards not yet read). */
export function matches(value: string, key: string, match: MatchType, comparator: Comparator, relation: Relation = 'eq'): boolean {
  // RFC 5231 §4.1: :value is "value relation key" in the comparator's ordering (:count arrives here as the count)
  if (match === 'value' || match === 'count') return holdsRelation(compare(value, key, comparator), relation);
  // RFC 4790 §9.1: i;ascii-numeric offers equality and ordering only (the validator refuses :contains and :matches)
  if (comparator === 'i;ascii-numeric') return compare(value, key, comparator) === 0;
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
  m: Match,
  step: (cost?: number) => void,
  matched?: (value: string, key: string) => void,
): boolean {
  const { match, comparator, relation } = m;
  // RFC 5231 §4.2: :count compares the number of values (not the values) with each key
  if (match === 'count') return anyMatches([String(values.length)], keys, { match: 'value', comparator, relation: relation ?? 'eq' }, step);
  for (const value of values) {
    for (const key of keys) {
      // a comparison of long strings costs more steps: :matches up to value × key, the others the value's length
      step(1 + Math.floor((match === 'matches' ? value.length * key.length : value.length) / COST_UNIT));
      if (matches(value, key, match, comparator, relation)) {
        matched?.(value, key);
        return true;
      }
    }
  }
  return false;
}
