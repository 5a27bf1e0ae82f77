// The compiled form of a Sieve script: validated commands and tests with their tagged arguments resolved, as
// the executor runs them (plain data, so a compiled script can be cached and compared).
import type { Modifier } from './variables.ts';

export type Comparator = 'i;octet' | 'i;ascii-casemap' | 'i;ascii-numeric';
/** :value and :count come with the relational extension (RFC 5231 §4). */
export type MatchType = 'is' | 'contains' | 'matches' | 'value' | 'count';
/** :user and :detail come with subaddress (RFC 5233 §4). */
export type AddressPart = 'all' | 'localpart' | 'domain' | 'user' | 'detail';
/** RFC 5231 §5: the relations of :value and :count. */
export type Relation = 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne';
export const RELATIONS: readonly Relation[] = ['gt', 'ge', 'lt', 'le', 'eq', 'ne'];

export interface Match {
  comparator: Comparator;
  match: MatchType;
  /** For :value and :count. */
  relation?: Relation;
}

/** What of the body a body test compares (RFC 5173 §5): the undecoded body, the decoded text parts, or parts of the given types. */
export type BodyTransform = { kind: 'raw' } | { kind: 'text' } | { kind: 'content'; types: string[] };

/** RFC 5260 §6: `:index n [:last]`, the nth field of each name (from the end with :last). */
export interface FieldIndex {
  n: number;
  last: boolean;
}

/** RFC 5260 §4.2: the date parts. */
export const DATE_PARTS = ['year', 'month', 'day', 'date', 'julian', 'hour', 'minute', 'second', 'time', 'iso8601', 'std11', 'zone', 'weekday'] as const;
export type DatePart = (typeof DATE_PARTS)[number];
/** RFC 5260 §4.1: the zone a date is shown in: a "+hhmm" offset, the header's own (:originalzone), or the server's. */
export type DateZone = { kind: 'offset'; zone: string } | { kind: 'original' } | { kind: 'local' };

export type SieveTest =
  | ({ kind: 'address'; part: AddressPart; headers: string[]; keys: string[]; index?: FieldIndex } & Match)
  | ({ kind: 'envelope'; part: AddressPart; fields: Array<'from' | 'to'>; keys: string[] } & Match)
  | ({ kind: 'header'; headers: string[]; keys: string[]; index?: FieldIndex } & Match)
  /** RFC 5260 §4: a date-time header field's date part. */
  | ({ kind: 'date'; zone: DateZone; header: string; part: DatePart; keys: string[]; index?: FieldIndex } & Match)
  /** RFC 5260 §5: the date part of the time the script runs. */
  | ({ kind: 'currentdate'; zone: DateZone; part: DatePart; keys: string[] } & Match)
  /** RFC 5183 §4: an environment item. */
  | ({ kind: 'environment'; name: string; keys: string[] } & Match)
  /** RFC 5490 §3.1: every named mailbox exists. */
  | { kind: 'mailboxexists'; mailboxes: string[] }
  /** RFC 8579 §4: the special-use attributes exist (on that mailbox, when one is named). */
  | { kind: 'specialuse_exists'; mailbox?: string; uses: string[] }
  /** RFC 7352 §3: the message's unique id was seen before (by this handle, within the period). */
  | { kind: 'duplicate'; header?: string; uniqueid?: string; handle: string; seconds?: number; last: boolean }
  /** `variables` names the variables holding the flags (RFC 5232 §4); empty for the internal one. */
  | ({ kind: 'hasflag'; variables: string[]; keys: string[] } & Match)
  | ({ kind: 'body'; transform: BodyTransform; keys: string[] } & Match)
  | ({ kind: 'string'; sources: string[]; keys: string[] } & Match)
  /** RFC 5235 §3.2: the recipient's spam value, 0–10, or 0–100 with :percent (spamtestplus). */
  | ({ kind: 'spamtest'; percent: boolean; key: string } & Match)
  /** RFC 5235 §3.3: the message's virus value, 0–5. */
  | ({ kind: 'virustest'; key: string } & Match)
  | { kind: 'exists'; headers: string[] }
  | { kind: 'size'; over: boolean; limit: number }
  | { kind: 'allof' | 'anyof'; tests: SieveTest[] }
  | { kind: 'not'; test: SieveTest }
  | { kind: 'true' | 'false' };

export type SieveCommand =
  | { kind: 'if'; branches: Array<{ test?: SieveTest; body: SieveCommand[] }>; line: number }
  | { kind: 'stop'; line: number }
  | { kind: 'keep'; flags?: string[]; line: number }
  | { kind: 'discard'; line: number }
  | { kind: 'redirect'; address: string; copy: boolean; line: number }
  /** `create` (RFC 5490 §3.2), `specialUse` (RFC 8579 §3): the mailbox with that attribute, `folder` when none has it. */
  | { kind: 'fileinto'; folder: string; copy: boolean; flags?: string[]; create?: boolean; specialUse?: string; line: number }
  /** `variable`: the variable the flags are kept in (RFC 5232 §3), absent for the internal one. */
  | { kind: 'setflag' | 'addflag' | 'removeflag'; variable?: string; flags: string[]; line: number }
  /** RFC 5429: `ereject` (extended) may be refused in the protocol; here both end as a non-delivery notice. */
  | { kind: 'reject'; extended: boolean; reason: string; line: number }
  | ({ kind: 'vacation'; line: number } & VacationArgs)
  | { kind: 'set'; name: string; value: string; modifiers: Modifier[]; line: number };

/** The arguments of a vacation action (RFC 5230 §4), as written (strings may hold variables). */
export interface VacationArgs {
  days?: number;
  /** RFC 6131 §2: the period in seconds instead of days (vacation-seconds). */
  seconds?: number;
  subject?: string;
  from?: string;
  addresses: string[];
  mime: boolean;
  handle?: string;
  reason: string;
}

export interface CompiledScript {
  /** The extensions the script requires (RFC 5228 §3.2). */
  extensions: string[];
  commands: SieveCommand[];
}

/** Extensions spamgate implements: anything else in `require` is an error (RFC 5228 §3.2). */
export const SUPPORTED_EXTENSIONS: readonly string[] = [
  'fileinto',
  'envelope',
  'copy',
  'imap4flags',
  'variables',
  'body',
  'relational',
  'comparator-i;ascii-numeric',
  'reject',
  'ereject',
  'vacation',
  'spamtest',
  'spamtestplus',
  'virustest',
  'subaddress',
  'mailbox',
  'date',
  'index',
  'vacation-seconds',
  'environment',
  'duplicate',
  'special-use',
];

/** A mailbox for redirect: local@domain, no spaces, brackets or commas (RFC 5228 §4.2: syntax checked). */
const REDIRECT_ADDRESS = /^[^\s<>()",;:\\@]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

export function isRedirectAddress(address: string): boolean {
  return address.length <= 254 && REDIRECT_ADDRESS.test(address);
}
