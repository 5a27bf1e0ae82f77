// The arguments of the vacation action (RFC 5230 §4): :days (or :seconds, RFC 6131), :subject, :from, :addresses, :mime, :handle and
// the reason, read and checked where the script is compiled (strings holding variables are checked at run time).
import type { SieveProblem } from './errors.ts';
import { readArguments, stringsOf, type TagSpec } from './arguments.ts';
import type { SieveCommandNode } from './parser.ts';
import { isRedirectAddress, type VacationArgs } from './script.ts';

const VACATION_TAGS: Readonly<Record<string, TagSpec>> = {
  days: { group: 'period', takesNumber: true },
  // RFC 6131 §2: :seconds instead of :days (the two exclude each other)
  seconds: { group: 'period', extension: 'vacation-seconds', takesNumber: true },
  subject: { group: 'subject', takesStrings: true },
  from: { group: 'from', takesStrings: true },
  addresses: { group: 'addresses', takesStrings: true },
  mime: { group: 'mime' },
  handle: { group: 'handle', takesStrings: true },
};

/** The address of a :from value: "Name <a@b>" or a bare address. */
export function fromAddress(value: string): string {
  const m = /<([^<>]*)>\s*$/.exec(value);
  return (m?.[1] ?? value).trim();
}

export function readVacation(n: SieveCommandNode, required: ReadonlySet<string>, problems: SieveProblem[], dynamic: (s: string) => boolean): VacationArgs {
  const a = readArguments('vacation', n, { tags: VACATION_TAGS, positional: ['string'] }, required, problems);
  const one = (group: string): string | undefined => {
    const t = a.tags.get(group);
    if (!t) return undefined;
    if ((t.values ?? []).length !== 1) problems.push({ line: t.line, col: t.col, message: `vacation :${t.name} takes one string` });
    return (t.values ?? [])[0];
  };
  const subject = one('subject');
  const from = one('from');
  const handle = one('handle');
  const period = a.tags.get('period');
  const days = period?.name === 'days' ? period.number : undefined;
  const seconds = period?.name === 'seconds' ? period.number : undefined;
  // RFC 5230 §4.3: :from must be a valid address (checked here when it holds no variable)
  const fromTag = a.tags.get('from');
  if (from !== undefined && fromTag && !dynamic(from) && !isRedirectAddress(fromAddress(from))) problems.push({ line: fromTag.line, col: fromTag.col, message: `vacation :from: invalid address ${JSON.stringify(from)}` });
  return {
    ...(days !== undefined ? { days } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
    ...(subject !== undefined ? { subject } : {}),
    ...(from !== undefined ? { from } : {}),
    addresses: a.tags.get('addresses')?.values ?? [],
    mime: a.tags.has('mime'),
    ...(handle !== undefined ? { handle } : {}),
    reason: stringsOf(a.positional[0])[0] ?? '',
  };
}
