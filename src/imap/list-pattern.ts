// LIST/LSUB mailbox patterns (RFC 3501 §6.3.8): '*' matches anything, '%' anything but the hierarchy delimiter.
// Matched by dynamic programming in O(name × pattern) time: a pattern of many wildcards cannot backtrack
// exponentially (a RegExp built from "%%%…a" hung the event loop).

const DELIM = '/';

/** A compiled pattern; `test` tells whether a mailbox name matches. */
export interface ListPattern {
  test(name: string): boolean;
}

/** Collapses runs of wildcards: "**", "*%", "%*" are "*"; "%%" is "%". Matching is unchanged. */
function collapse(pattern: string): string[] {
  const out: string[] = [];
  for (const ch of pattern) {
    const last = out[out.length - 1];
    if ((ch === '*' || ch === '%') && (last === '*' || last === '%')) {
      if (ch === '*') out[out.length - 1] = '*';
      continue;
    }
    out.push(ch);
  }
  return out;
}

export function compileListPattern(pattern: string): ListPattern {
  const pat = collapse(pattern);
  const literals = pat.filter((ch) => ch !== '*' && ch !== '%').length;
  return {
    test(name: string): boolean {
      const text = [...name];
      if (literals > text.length) return false; // every literal character consumes one of the name's
      // RFC 3501 §5.1: INBOX is case-insensitive, so the name's INBOX prefix is compared without case.
      const inboxPrefix = name === 'INBOX' || name.startsWith('INBOX' + DELIM) ? 5 : 0;
      const same = (p: string, i: number): boolean => p === text[i] || (i < inboxPrefix && p.toUpperCase() === text[i]);
      // row[i]: the pattern so far matches the first i characters of the name.
      let row = new Array<boolean>(text.length + 1).fill(false);
      row[0] = true;
      for (const p of pat) {
        const next = new Array<boolean>(text.length + 1).fill(false);
        if (p === '*' || p === '%') {
          next[0] = row[0] === true;
          for (let i = 1; i <= text.length; i++)
            next[i] = row[i] === true || (next[i - 1] === true && (p === '*' || text[i - 1] !== DELIM));
        } else {
          for (let i = 1; i <= text.length; i++) next[i] = row[i - 1] === true && same(p, i - 1);
        }
        row = next;
        if (!row.includes(true)) return false;
      }
      return row[text.length] === true;
    },
  };
}
