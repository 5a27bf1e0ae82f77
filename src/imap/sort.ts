// SORT criteria (RFC 5256 §3): parsing "(REVERSE DATE SUBJECT …)" and ordering messages by them.
import { compareText } from './base-subject.ts';
import type { MessageKeys } from './message-keys.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO';
export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

const KEYS = new Set<string>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO']);
const isKey = (word: string): word is SortKey => KEYS.has(word);

/** sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"; sort-criterion = ["REVERSE" SP] sort-key. */
export function parseSortCriteria(c: Cursor): SortCriterion[] {
  if (c.peek() !== '(') throw new ImapSyntaxError('SORT criteria must be a parenthesized list');
  const out: SortCriterion[] = [];
  c.list(() => {
    let word = c.atom().toUpperCase();
    let reverse = false;
    if (word === 'REVERSE') {
      reverse = true;
      c.sp();
      word = c.atom().toUpperCase();
    }
    if (!isKey(word)) throw new ImapSyntaxError(`unknown sort key ${word}`);
    if (out.length >= 16) throw new ImapSyntaxError('too many sort keys');
    out.push({ key: word, reverse });
  });
  if (out.length === 0) throw new ImapSyntaxError('empty SORT criteria');
  return out;
}

function compareBy(key: SortKey, a: MessageKeys, b: MessageKeys): number {
  switch (key) {
    case 'ARRIVAL':
      return a.arrival - b.arrival;
    case 'DATE':
      return a.sent - b.sent;
    case 'SIZE':
      return a.size - b.size;
    case 'SUBJECT':
      return compareText(a.subject, b.subject);
    case 'FROM':
      return compareText(a.from, b.from);
    case 'TO':
      return compareText(a.to, b.to);
    case 'CC':
      return compareText(a.cc, b.cc);
  }
}

/** Orders messages by the criteria; RFC 5256 §3: messages that match exactly keep their sequence number order. */
export function sortMessages(messages: readonly MessageKeys[], criteria: readonly SortCriterion[]): MessageKeys[] {
  return [...messages].sort((a, b) => {
    for (const { key, reverse } of criteria) {
      const d = compareBy(key, a, b);
      // dates may be NaN only for a store that lists no dates: such values compare equal
      if (d !== 0 && !Number.isNaN(d)) return reverse ? -d : d;
    }
    return a.seq - b.seq;
  });
}
