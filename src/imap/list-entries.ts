// Which names a LIST or LSUB answers with: those matching the pattern, and the levels above them that "%" matches.
import type { ListPattern } from './list-pattern.ts';

export interface ListEntry {
  name: string;
  /** Not in the set itself, only a level above names that are (answered with \Noselect). */
  noselect: boolean;
}

/**
 * The names of `names` that match, in their order; then, when the pattern holds "%", each level above a name that
 * matches the pattern without being in the set itself (RFC 3501 §6.3.8 and §6.3.9: with "%", matching levels of
 * hierarchy are also returned, with \Noselect when they are not mailboxes or not subscribed).
 */
export function listEntries(names: readonly string[], pattern: ListPattern, patternText: string): ListEntry[] {
  const out: ListEntry[] = names.filter((n) => pattern.test(n)).map((name) => ({ name, noselect: false }));
  if (!patternText.includes('%')) return out;
  const known = new Set(names);
  const added = new Set<string>();
  for (const name of names) {
    for (let cut = name.indexOf('/'); cut > 0; cut = name.indexOf('/', cut + 1)) {
      const level = name.slice(0, cut);
      if (known.has(level) || added.has(level) || !pattern.test(level)) continue;
      added.add(level);
      out.push({ name: level, noselect: true });
    }
  }
  return out;
}
