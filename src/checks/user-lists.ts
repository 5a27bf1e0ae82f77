// Per-user sender allow and block lists at DATA (full-stack): for each recipient that reaches one local user, the
// envelope MAIL FROM and the header From are matched against that user's lists, and a hit counts for that recipient
// only (like a `rcpt` list's). An allow entry gives USER_ALLOW only when the matching sender's domain is
// authenticated in this transaction (SPF, aligned DKIM or DMARC pass, src/lists/authenticated.ts); otherwise
// USER_ALLOW_UNAUTHENTICATED (weight 0). A block entry gives USER_BLOCK, and wins over an allow entry of that user.
import addressparser from 'nodemailer/lib/addressparser';
import { strictSingleMailbox } from '../dkim/from-mailbox.ts';
import { authenticatedBy } from '../lists/authenticated.ts';
import { asciiName, type EntryOrigin, type EntrySet } from '../lists/entries.ts';
import type { UserLists } from '../lists/user-lists.ts';
import type { RecipientDirectory } from '../mailhost/types.ts';
import { counter, type Counter, type Registry } from '../metrics/registry.ts';
import { canonicalMailbox } from '../smtp/address.ts';
import type { Check, CheckContext, SymbolHit } from './types.ts';

export const USER_LIST_SYMBOLS = ['USER_ALLOW', 'USER_ALLOW_UNAUTHENTICATED', 'USER_BLOCK'] as const;
const RESULTS = [
  ['allow', 'authenticated'],
  ['allow', 'unauthenticated'],
  ['block', 'matched'],
] as const;

/** The local user a recipient reaches, when it reaches exactly one (a user, a sub-address, an alias of one user). */
function userOf(directory: RecipientDirectory, rcpt: string): string | undefined {
  const r = directory.resolve(rcpt);
  return r.kind === 'local' && r.mailboxes.length === 1 && r.remote.length === 0 ? r.mailboxes[0] : undefined;
}

/**
 * The senders an allow entry may match: MAIL FROM, and the one mailbox of the one From field (two fields or two
 * mailboxes: a reader may be shown the other). A block entry takes every From address, so none can hide behind another.
 */
function senders(ctx: CheckContext, forBlock: boolean): string[] {
  const found = new Set<string>();
  if (ctx.envelope.mailFrom) found.add(canonicalMailbox(ctx.envelope.mailFrom));
  const fields = (ctx.message?.headers ?? []).filter((h) => h.name.toLowerCase() === 'from');
  if (!forBlock) {
    const one = fields.length === 1 ? strictSingleMailbox(fields[0]?.value ?? '') : undefined;
    if (one) found.add(canonicalMailbox(one));
    return [...found];
  }
  for (const f of fields) {
    const strict = strictSingleMailbox(f.value);
    if (strict) found.add(canonicalMailbox(strict));
    for (const a of addressparser(f.value, { flatten: true })) if (a.address) found.add(canonicalMailbox(a.address));
  }
  return [...found];
}

function firstMatch(set: EntrySet, subjects: readonly string[], delimiter: string): { subject: string; entry: EntryOrigin } | undefined {
  for (const subject of subjects) {
    const entry = set.matchAddress(subject, delimiter);
    if (entry) return { subject, entry };
  }
  return undefined;
}

export interface UserListCheckOptions {
  directory: RecipientDirectory;
  lists: UserLists;
  /** spamgate_user_list_hits_total (userListHits): made once per process, the check once per snapshot. */
  hitsTotal: Counter<'list' | 'result'>;
  /** mailhost.subaddress_delimiter ('' for none). */
  subaddressDelimiter: string;
}

/** The counter, every list and result at 0 from the start. */
export function userListHits(registry: Registry): Counter<'list' | 'result'> {
  const hitsTotal = counter(registry, 'spamgate_user_list_hits_total', "Messages a recipient's own sender list matched: allow (authenticated sender, or unauthenticated: no allowance) or block", ['list', 'result']);
  for (const [list, result] of RESULTS) hitsTotal.inc({ list, result }, 0);
  return hitsTotal;
}

export function createUserListCheck({ directory, lists, hitsTotal, subaddressDelimiter }: UserListCheckOptions): Check {
  return {
    name: 'user_lists',
    phase: 'data',
    symbols: USER_LIST_SYMBOLS,
    // after SPF and DKIM/DMARC have left their results; before meta rules, which may combine these symbols
    late: 'first',
    run(ctx): SymbolHit[] {
      const hits: SymbolHit[] = [];
      for (const rcpt of new Set(ctx.envelope.rcptTo)) {
        const user = userOf(directory, rcpt);
        const mine = user === undefined ? undefined : lists.of(user);
        if (!mine) continue;
        const blocked = firstMatch(mine.block, senders(ctx, true), subaddressDelimiter);
        if (blocked) {
          hitsTotal.inc({ list: 'block', result: 'matched' });
          hits.push({ symbol: 'USER_BLOCK', options: [blocked.entry.text], rcpt });
          continue;
        }
        const allowed = firstMatch(mine.allow, senders(ctx, false), subaddressDelimiter);
        if (!allowed) continue;
        const domain = asciiName(allowed.subject.slice(allowed.subject.lastIndexOf('@') + 1));
        const method = domain === undefined ? undefined : authenticatedBy('any', domain, ctx.results);
        // a listed sender that is not authenticated (forged, or its domain publishes nothing) gets nothing
        hitsTotal.inc({ list: 'allow', result: method ? 'authenticated' : 'unauthenticated' });
        hits.push(method ? { symbol: 'USER_ALLOW', options: [allowed.entry.text, method], rcpt } : { symbol: 'USER_ALLOW_UNAUTHENTICATED', options: [allowed.entry.text], rcpt });
      }
      return hits;
    },
  };
}
