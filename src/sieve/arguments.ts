// Tagged and positional arguments of one Sieve command or test (RFC 5228 §2.6): tags first, each known to the
// command, at most one of each group (one match type, one comparator, one address part), then the positional ones.
import type { SieveProblem } from './errors.ts';
import type { SieveArgument } from './parser.ts';

export interface TagSpec {
  /** Tags of one group exclude each other (:is / :contains / :matches). */
  group: string;
  /** The extension that must be required to use the tag. */
  extension?: string;
  /** The tag takes a string list after it (:comparator "i;octet", :flags ["\\Seen"]). */
  takesStrings?: boolean;
  /** The tag takes a number after it (vacation's :days). */
  takesNumber?: boolean;
}

export type Positional = 'strings' | 'string' | 'number';

export interface ArgumentSpec {
  tags: Readonly<Record<string, TagSpec>>;
  positional: readonly Positional[];
}

export interface ReadArguments {
  /** By group: the tag given and its string list, if it takes one. */
  tags: Map<string, { name: string; values?: string[]; number?: number; line: number; col: number }>;
  /** Positional arguments as read, undefined where one was missing (the problem recorded). */
  positional: Array<SieveArgument | undefined>;
}

export const MATCH_TAGS: Readonly<Record<string, TagSpec>> = {
  is: { group: 'match' },
  contains: { group: 'match' },
  matches: { group: 'match' },
  // RFC 5231 §4: each takes the relation as a string
  value: { group: 'match', extension: 'relational', takesStrings: true },
  count: { group: 'match', extension: 'relational', takesStrings: true },
  comparator: { group: 'comparator', takesStrings: true },
};

export const ADDRESS_PART_TAGS: Readonly<Record<string, TagSpec>> = {
  all: { group: 'part' },
  localpart: { group: 'part' },
  domain: { group: 'part' },
  // RFC 5233 §4
  user: { group: 'part', extension: 'subaddress' },
  detail: { group: 'part', extension: 'subaddress' },
};

/** RFC 5260 §6: `:index <fieldno> [:last]` on header, address and date. */
export const INDEX_TAGS: Readonly<Record<string, TagSpec>> = {
  index: { group: 'index', extension: 'index', takesNumber: true },
  last: { group: 'last', extension: 'index' },
};

export function readArguments(
  what: string,
  node: { args: readonly SieveArgument[]; line: number; col: number },
  spec: ArgumentSpec,
  required: ReadonlySet<string>,
  problems: SieveProblem[],
): ReadArguments {
  const args = node.args;
  const tags: ReadArguments['tags'] = new Map();
  const rest: SieveArgument[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as SieveArgument;
    if (a.kind !== 'tag') {
      rest.push(a);
      continue;
    }
    const t = spec.tags[a.name];
    if (!t) {
      problems.push({ line: a.line, col: a.col, message: `unknown tag ":${a.name}" for ${what}` });
      continue;
    }
    // RFC 5228 §2.6.2: tagged arguments come before the positional ones
    if (rest.length) problems.push({ line: a.line, col: a.col, message: `tag ":${a.name}" after a positional argument of ${what}` });
    if (t.extension && !required.has(t.extension)) problems.push({ line: a.line, col: a.col, message: `":${a.name}" needs require "${t.extension}"` });
    if (tags.has(t.group)) problems.push({ line: a.line, col: a.col, message: `":${a.name}" conflicts with ":${tags.get(t.group)?.name ?? ''}" given before` });
    let values: string[] | undefined;
    let number: number | undefined;
    if (t.takesStrings) {
      const v = args[i + 1];
      if (v?.kind !== 'strings') problems.push({ line: a.line, col: a.col, message: `":${a.name}" needs a string argument` });
      else {
        values = v.values;
        i++;
      }
    } else if (t.takesNumber) {
      const v = args[i + 1];
      if (v?.kind !== 'number') problems.push({ line: a.line, col: a.col, message: `":${a.name}" needs a number` });
      else {
        number = v.value;
        i++;
      }
    }
    if (!tags.has(t.group)) tags.set(t.group, { name: a.name, ...(values ? { values } : {}), ...(number !== undefined ? { number } : {}), line: a.line, col: a.col });
  }
  const positional: ReadArguments['positional'] = [];
  spec.positional.forEach((want, k) => {
    const a = rest[k];
    const ok = a !== undefined && (want === 'number' ? a.kind === 'number' : a.kind === 'strings' && (want === 'strings' || !a.list));
    if (!ok) {
      const at = a ?? node;
      const expected = want === 'number' ? 'a number' : want === 'string' ? 'a string' : 'a string or string list';
      problems.push({ line: at.line, col: at.col, message: `${what}: argument ${k + 1} should be ${expected}` });
      positional.push(undefined);
    } else positional.push(a);
  });
  for (const extra of rest.slice(spec.positional.length)) problems.push({ line: extra.line, col: extra.col, message: `${what}: too many arguments` });
  return { tags, positional };
}

export function stringsOf(a: SieveArgument | undefined): string[] {
  return a?.kind === 'strings' ? a.values : [];
}
