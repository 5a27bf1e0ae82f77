// What a Sieve run knows beyond the message: the time (currentdate, RFC 5260 §5), the sub-address delimiter
// (RFC 5233), the environment items (RFC 5183 §4), the user's mailboxes and their special-use attributes
// (RFC 5490, RFC 8579) and the unique ids seen before (RFC 7352). The delivery loads them before the run, so
// the executor stays synchronous and takes no action itself.

export interface SieveMailboxes {
  /** The mailbox exists (a normalized name: INBOX upper-cased). */
  exists(name: string): boolean;
  /** The mailbox that has the special-use attribute (case-insensitive, "\\Junk"), if any. */
  withSpecialUse(use: string): string | undefined;
  /** The special-use attributes of one mailbox. */
  specialUses(name: string): readonly string[];
}

export interface SieveDuplicates {
  /** The id was recorded under this handle within `seconds` before `nowMs`. */
  seen(handle: string, id: string, seconds: number, nowMs: number): boolean;
}

export interface SieveContext {
  nowMs: number;
  /** mailhost.subaddress_delimiter; '' turns sub-addressing off (then :detail matches nothing). */
  subaddressDelimiter: string;
  /** RFC 5183 §4: item name (lower case) → value; an item not there is not known (the test fails). */
  environment: Readonly<Record<string, string>>;
  mailboxes: SieveMailboxes;
  duplicates: SieveDuplicates;
}

/** RFC 7352 §3.5: the default period, and the bound on any :seconds (sites may cap it). */
export const DEFAULT_DUPLICATE_SECONDS = 7 * 86_400;
export const MAX_DUPLICATE_SECONDS = 90 * 86_400;

/** A run that knows only the time: no mailboxes, nothing seen before (unit tests, `users sieve check`). */
export function plainContext(over: Partial<SieveContext> = {}): SieveContext {
  return {
    nowMs: Date.now(),
    subaddressDelimiter: '+',
    environment: { domain: 'localhost', host: 'localhost', location: 'MDA', name: 'spamgate', phase: 'during' },
    mailboxes: mailboxList([{ name: 'INBOX' }]),
    duplicates: { seen: () => false },
    ...over,
  };
}

/** The mailboxes of a user's listing. */
export function mailboxList(list: ReadonlyArray<{ name: string; specialUse?: string }>): SieveMailboxes {
  const names = new Set(list.map((m) => m.name));
  return {
    exists: (name) => names.has(name),
    withSpecialUse: (use) => list.find((m) => m.specialUse !== undefined && m.specialUse.toLowerCase() === use.toLowerCase())?.name,
    specialUses: (name) => list.filter((m) => m.name === name && m.specialUse !== undefined).map((m) => m.specialUse as string),
  };
}
