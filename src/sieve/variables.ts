// The "variables" extension (RFC 5229): ${name} and ${N} in strings, the modifiers of `set`, and the match
// variables a successful :matches leaves (${0} the whole value, ${1}… each wildcard, the leftmost as short as
// possible), all bounded in count and length.
import type { GlobItem } from './match.ts';

/** RFC 5229 §6: at least 128 variables and 4000 octets each; past this many, `set` fails at run time. */
export const MAX_VARIABLES = 128;
/** Characters a variable (and an expanded string) keeps; longer values are cut (RFC 5229 §6 allows it). */
export const MAX_VALUE_CHARS = 4096;
/** Match variables kept: ${0} to ${9}. */
const MAX_MATCH_VARIABLES = 10;
/** Above this many table cells (pattern items × value characters), a match leaves only ${0}. */
const MAX_CAPTURE_CELLS = 4_000_000;

/** RFC 5229 §3: identifier names, or digits for match variables; compared case-insensitively. */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}/g;
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class Variables {
  private readonly named = new Map<string, string>();
  private matched: string[] = [];

  /** Replaces every ${name} and ${N} (unknown ones become ''); namespaced names (with '.') stay as written. */
  expand(s: string): string {
    if (!s.includes('${')) return s;
    // built up to the bound and no further: a script's references to a long value would otherwise build
    // megabytes only to cut them (RFC 5229 §6)
    let out = '';
    let from = 0;
    for (const m of s.matchAll(REFERENCE)) {
      const name = m[1] ?? '';
      out += s.slice(from, m.index) + (/^[0-9]/.test(name) ? (this.matched[Number(name)] ?? '') : (this.named.get(name.toLowerCase()) ?? ''));
      from = m.index + m[0].length;
      if (out.length >= MAX_VALUE_CHARS) return out.slice(0, MAX_VALUE_CHARS);
    }
    out += s.slice(from);
    return out.length > MAX_VALUE_CHARS ? out.slice(0, MAX_VALUE_CHARS) : out;
  }

  /** The value of a named variable, '' when it was never set. */
  get(name: string): string {
    return this.named.get(name.toLowerCase()) ?? '';
  }

  /** False when the script already has MAX_VARIABLES and this is a new one. */
  set(name: string, value: string): boolean {
    const key = name.toLowerCase();
    if (!this.named.has(key) && this.named.size >= MAX_VARIABLES) return false;
    this.named.set(key, value.slice(0, MAX_VALUE_CHARS));
    return true;
  }

  setMatched(values: readonly string[]): void {
    this.matched = values.slice(0, MAX_MATCH_VARIABLES).map((v) => v.slice(0, MAX_VALUE_CHARS));
  }
}

export type Modifier = 'lower' | 'upper' | 'lowerfirst' | 'upperfirst' | 'quotewildcard' | 'length';

/** RFC 5229 §4.1: applied from the highest precedence down: case, first character, quoting, length. */
export function applyModifiers(value: string, modifiers: readonly Modifier[]): string {
  let v = value;
  if (modifiers.includes('lower')) v = v.toLowerCase();
  if (modifiers.includes('upper')) v = v.toUpperCase();
  const first = [...v][0] ?? '';
  if (modifiers.includes('lowerfirst')) v = first.toLowerCase() + v.slice(first.length);
  if (modifiers.includes('upperfirst')) v = first.toUpperCase() + v.slice(first.length);
  if (modifiers.includes('quotewildcard')) v = v.replace(/[*?\\]/g, '\\$&');
  if (modifiers.includes('length')) v = String([...v].length);
  return v;
}

/**
 * The wildcard texts of a value known to match `glob` (RFC 5229 §3.2: each "*" and "?" in order, earlier
 * ones as short as possible), taken from `value` as written; `folded` (the value as the comparator sees it,
 * character for character) is what the already folded `glob` is compared with: a table of which suffixes of the pattern match which suffixes of the value,
 * then one pass from the left. Undefined when the table would be too big.
 */
export function captures(value: readonly string[], folded: readonly string[], glob: readonly GlobItem[]): string[] | undefined {
  const G = glob.length;
  const V = value.length;
  if ((G + 1) * (V + 1) > MAX_CAPTURE_CELLS) return undefined;
  const width = V + 1;
  // ok[g * width + v]: glob[g..] matches value[v..]
  const ok = new Uint8Array((G + 1) * width);
  ok[G * width + V] = 1;
  for (let g = G - 1; g >= 0; g--) {
    const item = glob[g] as GlobItem;
    for (let v = V; v >= 0; v--) {
      let m = false;
      if (item.kind === 'star') m = ok[(g + 1) * width + v] === 1 || (v < V && ok[g * width + v + 1] === 1);
      else if (v < V && (item.kind === 'any' || item.char === folded[v])) m = ok[(g + 1) * width + v + 1] === 1;
      ok[g * width + v] = m ? 1 : 0;
    }
  }
  if (ok[0] !== 1) return undefined;
  const out: string[] = [];
  let v = 0;
  for (let g = 0; g < G; g++) {
    const item = glob[g] as GlobItem;
    if (item.kind === 'char') {
      v++;
      continue;
    }
    if (item.kind === 'any') {
      out.push(value[v] ?? '');
      v++;
      continue;
    }
    let end = v;
    while (ok[(g + 1) * width + end] !== 1) end++;
    out.push(value.slice(v, end).join(''));
    v = end;
  }
  return out;
}
