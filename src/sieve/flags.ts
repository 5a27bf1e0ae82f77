// IMAP flags as imap4flags handles them (RFC 5232 §3): space-separated lists, system flags in their usual case,
// keywords as atoms; invalid flags are left out, duplicates (compared case-insensitively) once.

const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'];
/** An IMAP atom without the characters a keyword may not hold (RFC 3501 §9 flag-keyword). */
const KEYWORD = /^[^\s(){%*"\\\]\x00-\x1f\x7f]{1,64}$/;
/** Flags one message may get from a script. */
export const MAX_FLAGS = 32;

/** The valid flags in `lists`, each string split at white space. */
export function normalizeFlags(lists: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const item of lists.flatMap((s) => s.split(/\s+/))) {
    if (item === '') continue;
    const system = SYSTEM_FLAGS.find((f) => f.toLowerCase() === item.toLowerCase());
    const flag = system ?? (KEYWORD.test(item) && /^[\x21-\x7e]+$/.test(item) ? item : undefined);
    if (flag === undefined || seen.has(flag.toLowerCase()) || out.length >= MAX_FLAGS) continue;
    seen.add(flag.toLowerCase());
    out.push(flag);
  }
  return out;
}

export function addFlags(current: readonly string[], add: readonly string[]): string[] {
  return normalizeFlags([...current, ...add]);
}

export function removeFlags(current: readonly string[], remove: readonly string[]): string[] {
  const gone = new Set(normalizeFlags(remove).map((f) => f.toLowerCase()));
  return current.filter((f) => !gone.has(f.toLowerCase()));
}
