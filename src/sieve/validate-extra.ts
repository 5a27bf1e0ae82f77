// Validation of the tests the newer Sieve extensions bring: date and currentdate (RFC 5260 §4–§5), :index
// (§6), environment (RFC 5183), mailboxexists (RFC 5490), specialuse_exists (RFC 8579) and duplicate
// (RFC 7352). Each problem with its line and column, like the base tests in validate.ts.
import { normalizeMailbox } from '../store/maildir-names.ts';
import { INDEX_TAGS, MATCH_TAGS, stringsOf, type ArgumentSpec, type ReadArguments } from './arguments.ts';
import { zoneOffset } from './dates.ts';
import type { SieveTestNode } from './parser.ts';
import { DATE_PARTS, type DatePart, type DateZone, type FieldIndex, type Match, type SieveTest } from './script.ts';

export interface TestHelpers {
  at(n: { line: number; col: number }, message: string): void;
  needs(n: { line: number; col: number }, what: string, extension: string): void;
  args(what: string, n: SieveTestNode, spec: ArgumentSpec): ReadArguments;
  matchOf(a: ReadArguments): Match;
  headerNames(n: SieveTestNode, names: string[]): string[];
  noTests(n: SieveTestNode, what: string): void;
  /** The string holds a variable, so is only known at run time. */
  dynamic(text: string): boolean;
}

/** RFC 5260 §4: :zone "+hhmm" or :originalzone (date only). */
const ZONE_TAGS = { zone: { group: 'zone', takesStrings: true }, originalzone: { group: 'zone' } } as const;
/** RFC 8579 §2: a special-use attribute is "\\" and an atom. */
export const SPECIAL_USE = /^\\[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** RFC 7352 §3.1: the duplicate tags. */
const DUPLICATE_TAGS = {
  header: { group: 'id', takesStrings: true },
  uniqueid: { group: 'id', takesStrings: true },
  handle: { group: 'handle', takesStrings: true },
  seconds: { group: 'seconds', takesNumber: true },
  last: { group: 'last' },
} as const;
/** Mailboxes one mailboxexists or specialuse_exists names (a bound on the work of one test). */
const MAX_NAMES = 100;

/** RFC 5260 §6: the :index of a test; :last without :index is an error, and field numbers start at 1. */
export function indexOf(a: ReadArguments, h: TestHelpers): FieldIndex | undefined {
  const index = a.tags.get('index');
  const last = a.tags.get('last');
  if (last && !index) h.at(last, '":last" needs ":index"');
  if (!index) return undefined;
  const n = index.number ?? 1;
  if (n < 1) h.at(index, '":index" counts from 1');
  return { n: Math.max(1, n), last: last !== undefined };
}

/** The test, or undefined when the name is none of these. */
export function extraTest(n: SieveTestNode, h: TestHelpers): SieveTest | undefined {
  const zoneOf = (a: ReadArguments): DateZone => {
    const t = a.tags.get('zone');
    if (!t) return { kind: 'local' };
    if (t.name === 'originalzone') return { kind: 'original' };
    const zone = (t.values ?? [])[0] ?? '';
    if ((t.values ?? []).length !== 1 || (!h.dynamic(zone) && zoneOffset(zone) === undefined)) h.at(t, `":zone" needs one zone "+hhmm" or "-hhmm", not ${JSON.stringify(zone)}`);
    return { kind: 'offset', zone };
  };
  const partOf = (a: ReadArguments, k: number): DatePart => {
    const p = stringsOf(a.positional[k])[0] ?? '';
    const part = p.toLowerCase() as DatePart;
    // RFC 5260 §4.2: an unknown date part is an error (a variable is checked when the script runs)
    if (a.positional[k] && !DATE_PARTS.includes(part) && !h.dynamic(p)) h.at(a.positional[k], `unknown date part ${JSON.stringify(p)} (${DATE_PARTS.join(', ')})`);
    return part;
  };
  const mailboxName = (node: { line: number; col: number }, name: string): string => {
    if (h.dynamic(name)) return name;
    try {
      return normalizeMailbox(name);
    } catch (err) {
      h.at(node, (err as Error).message);
      return name;
    }
  };
  switch (n.name) {
    case 'date': {
      // RFC 5260 §4: date [<":zone" <time-zone: string>> / ":originalzone"] [COMPARATOR] [MATCH-TYPE] <header-name: string> <date-part: string> <key-list: string-list>
      h.needs(n, 'date', 'date');
      h.noTests(n, 'date');
      const a = h.args('date', n, { tags: { ...MATCH_TAGS, ...ZONE_TAGS, ...INDEX_TAGS }, positional: ['string', 'string', 'strings'] });
      const index = indexOf(a, h);
      return { kind: 'date', ...h.matchOf(a), zone: zoneOf(a), header: h.headerNames(n, stringsOf(a.positional[0]))[0] ?? '', part: partOf(a, 1), keys: stringsOf(a.positional[2]), ...(index ? { index } : {}) };
    }
    case 'currentdate': {
      // RFC 5260 §5: currentdate [":zone" <time-zone: string>] [COMPARATOR] [MATCH-TYPE] <date-part: string> <key-list: string-list>
      h.needs(n, 'currentdate', 'date');
      h.noTests(n, 'currentdate');
      const a = h.args('currentdate', n, { tags: { ...MATCH_TAGS, zone: ZONE_TAGS.zone }, positional: ['string', 'strings'] });
      return { kind: 'currentdate', ...h.matchOf(a), zone: zoneOf(a), part: partOf(a, 0), keys: stringsOf(a.positional[1]) };
    }
    case 'environment': {
      // RFC 5183 §4: environment [COMPARATOR] [MATCH-TYPE] <name: string> <key-list: string-list>
      h.needs(n, 'environment', 'environment');
      h.noTests(n, 'environment');
      const a = h.args('environment', n, { tags: MATCH_TAGS, positional: ['string', 'strings'] });
      return { kind: 'environment', ...h.matchOf(a), name: (stringsOf(a.positional[0])[0] ?? '').toLowerCase(), keys: stringsOf(a.positional[1]) };
    }
    case 'mailboxexists': {
      // RFC 5490 §3.1: mailboxexists <mailbox-names: string-list>
      h.needs(n, 'mailboxexists', 'mailbox');
      h.noTests(n, 'mailboxexists');
      const a = h.args('mailboxexists', n, { tags: {}, positional: ['strings'] });
      const names = stringsOf(a.positional[0]);
      if (names.length > MAX_NAMES) h.at(n, `mailboxexists: more than ${MAX_NAMES} mailboxes`);
      return { kind: 'mailboxexists', mailboxes: names.map((m) => mailboxName(a.positional[0] ?? n, m)) };
    }
    case 'specialuse_exists': {
      // RFC 8579 §4: specialuse_exists [<mailbox: string>] <special-use-attrs: string-list>
      h.needs(n, 'specialuse_exists', 'special-use');
      h.noTests(n, 'specialuse_exists');
      const withMailbox = n.args.filter((x) => x.kind !== 'tag').length >= 2;
      const a = h.args('specialuse_exists', n, { tags: {}, positional: withMailbox ? ['string', 'strings'] : ['strings'] });
      const uses = stringsOf(a.positional[withMailbox ? 1 : 0]);
      if (uses.length > MAX_NAMES) h.at(n, `specialuse_exists: more than ${MAX_NAMES} attributes`);
      for (const u of uses) if (!SPECIAL_USE.test(u) && !h.dynamic(u)) h.at(a.positional[withMailbox ? 1 : 0] ?? n, `invalid special-use attribute ${JSON.stringify(u)}`);
      const mailbox = withMailbox ? mailboxName(a.positional[0] ?? n, stringsOf(a.positional[0])[0] ?? '') : undefined;
      return { kind: 'specialuse_exists', ...(mailbox !== undefined ? { mailbox } : {}), uses };
    }
    case 'duplicate': {
      // RFC 7352 §3: duplicate [":handle" <handle: string>] [":header" <header-name: string> / ":uniqueid" <value: string>] [":seconds" <timeout: number>] [":last"]
      h.needs(n, 'duplicate', 'duplicate');
      h.noTests(n, 'duplicate');
      const a = h.args('duplicate', n, { tags: DUPLICATE_TAGS, positional: [] });
      const one = (group: string): string | undefined => {
        const t = a.tags.get(group);
        if (!t) return undefined;
        if ((t.values ?? []).length !== 1) h.at(t, `duplicate :${t.name} takes one string`);
        return (t.values ?? [])[0] ?? '';
      };
      const id = a.tags.get('id');
      const header = id?.name === 'header' ? one('id') : undefined;
      const uniqueid = id?.name === 'uniqueid' ? one('id') : undefined;
      // §3: an invalid header name is no error; the test is then false (execute.ts)
      const seconds = a.tags.get('seconds')?.number;
      return {
        kind: 'duplicate',
        ...(header !== undefined ? { header: header.toLowerCase() } : {}),
        ...(uniqueid !== undefined ? { uniqueid } : {}),
        handle: one('handle') ?? '',
        ...(seconds !== undefined ? { seconds } : {}),
        last: a.tags.has('last'),
      };
    }
    default:
      return undefined;
  }
}
