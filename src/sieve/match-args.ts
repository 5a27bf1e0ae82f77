// The match type, relation and comparator of one test (RFC 5228 §2.7, RFC 5231 §4–§5): which comparators
// exist and must be required, which relations :value and :count take, and which match types a comparator allows.
import type { ReadArguments } from './arguments.ts';
import type { SieveProblem } from './errors.ts';
import { RELATIONS, type Comparator, type Match, type MatchType, type Relation } from './script.ts';

/** RFC 5228 §2.7.3: these two comparators are always there; requiring them is allowed. */
export const BUILTIN_COMPARATORS: readonly Comparator[] = ['i;octet', 'i;ascii-casemap'];
/** Comparators that must be named in require ("comparator-i;ascii-numeric", RFC 5228 §2.7.3). */
const EXTRA_COMPARATORS: readonly Comparator[] = ['i;ascii-numeric'];

export function readMatch(a: ReadArguments, required: ReadonlySet<string>, problems: SieveProblem[]): Match {
  const at = (n: { line: number; col: number }, message: string): void => {
    problems.push({ line: n.line, col: n.col, message });
  };
  const c = a.tags.get('comparator');
  let comparator: Comparator = 'i;ascii-casemap';
  if (c) {
    const name = ((c.values ?? [])[0] ?? '').toLowerCase() as Comparator;
    if ((c.values ?? []).length !== 1) at(c, ':comparator takes one comparator name');
    else if (!BUILTIN_COMPARATORS.includes(name) && !EXTRA_COMPARATORS.includes(name)) at(c, `unknown comparator "${name}" (i;octet, i;ascii-casemap and i;ascii-numeric are supported)`);
    else {
      // RFC 5228 §2.7.3: a comparator other than the two built in is used only when required
      if (EXTRA_COMPARATORS.includes(name) && !required.has(`comparator-${name}`)) at(c, `comparator "${name}" needs require "comparator-${name}"`);
      comparator = name;
    }
  }
  const m = a.tags.get('match');
  const match = (m?.name ?? 'is') as MatchType;
  // RFC 4790 §9.1: i;ascii-numeric has equality and ordering, no substring match (RFC 5228 §2.7.3: an error)
  if (comparator === 'i;ascii-numeric' && (match === 'contains' || match === 'matches')) at(m ?? c ?? { line: 1, col: 1 }, `:${match} cannot be used with the i;ascii-numeric comparator`);
  if (m && (match === 'value' || match === 'count')) {
    const relation = ((m.values ?? [])[0] ?? '').toLowerCase() as Relation;
    // RFC 5231 §5: the relation is one of gt, ge, lt, le, eq, ne; anything else is an error
    if ((m.values ?? []).length !== 1 || !RELATIONS.includes(relation)) at(m, `:${match} needs one relation of ${RELATIONS.map((r) => `"${r}"`).join(', ')}`);
    return { comparator, match, relation: RELATIONS.includes(relation) ? relation : 'eq' };
  }
  return { comparator, match };
}

