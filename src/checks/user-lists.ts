// Per-user sender allow and block lists at DATA (full-stack): for each recipient that reaches one local user, the
// envelope MAIL FROM and the header From are matched against that user's lists, and a hit counts for that recipient
// only (like a `rcpt` list's). An allow entry gives USER_ALLOW only when the matching sender's domain is
// authenticated in this transaction (src/lists/authenticated.ts): a matching MAIL FROM by SPF, a matching header
// From by DMARC, aligned DKIM or SPF; otherwise USER_ALLOW_UNAUTHENTICATED (weight 0). A block entry gives USER_BLOCK, and wins over an allow entry of that user.
import addressparser from 'nodemailer/lib/addressparser';
import { parsePrvs } from '../batv/prvs.ts';
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
export function userOf(directory: RecipientDirectory, rcpt: string): string | undefined {
  const r = directory.resolve(rcpt);
  return r.kind === 'local' && r.mailboxes.length === 1 && r.remote.length === 0 ? r.mailboxes[0] : undefined;
}

/** A sender to match, and what may authenticate it. */
interface Sender {
  address: string;
  /**
   * `spf` for the envelope MAIL FROM: SPF is its own identity (RFC 7208 §2.4), while a DKIM or DMARC pass vouches
   * for the header From, which may be another mailbox of the domain (a spammer's own message, signed by a shared
   * provider, sent again under a listed envelope sender); `any` for the header From (DMARC, aligned DKIM or SPF).
   */
  auth: 'spf' | 'any';
}

/**
 * The senders an entry may match: MAIL FROM, and for an allow entry the one mailbox of the one From field (two fields
 * or two mailboxes: a reader may be shown the other); a block entry takes every From address, so none can hide behind another.
 */
function senders(ctx: CheckContext, forBlock: boolean): Sender[] {
  const found: Sender[] = [];
  const add = (address: string, auth: Sender['auth']): void => void found.push({ address: canonicalMailbox(address), auth });
  if (ctx.envelope.mailFrom) {
    add(ctx.envelope.mailFrom, 'spf');
    // a BATV tag (prvs=, new each day or message) is no other mailbox: its plain address matches too, under the same
    // SPF identity (the domain is the same)
    const prvs = parsePrvs(canonicalMailbox(ctx.envelope.mailFrom));
    if (prvs.kind === 'tagged') add(prvs.address, 'spf');
  }
  const fields = (ctx.message?.headers ?? []).filter((h) => h.name.toLowerCase() === 'from');
  if (!forBlock) {
    const one = fields.length === 1 ? strictSingleMailbox(fields[0]?.value ?? '') : undefined;
    if (one) add(one, 'any');
    return found;
  }
  for (const f of fields) {
    const strict = strictSingleMailbox(f.value);
    if (strict) add(strict, 'any');
    for (const a of addressparser(f.value, { flatten: true })) if (a.address) add(a.address, 'any');
  }
  return found;
}

/** The first block entry matching a sender. */
function blockMatch(set: EntrySet, subjects: readonly Sender[], delimiter: string): EntryOrigin | undefined {
  for (const s of subjects) {
    const entry = set.matchAddress(s.address, delimiter);
    if (entry) return entry;
  }
  return undefined;
}

/** The allow entry matching a sender that is authenticated as its identity asks, else the first matching one (no method). */
function allowMatch(set: EntrySet, subjects: readonly Sender[], delimiter: string, results: CheckContext['results']): { entry: EntryOrigin; method?: 'spf' | 'dkim' | 'dmarc' } | undefined {
  let unauthenticated: EntryOrigin | undefined;
  for (const s of subjects) {
    const entry = set.matchAddress(s.address, delimiter);
    if (!entry) continue;
    // the domain of the matched address itself, never another identity's
    const domain = asciiName(s.address.slice(s.address.lastIndexOf('@') + 1));
    const method = domain === undefined ? undefined : authenticatedBy(s.auth, domain, results);
    if (method) return { entry, method };
    unauthenticated ??= entry;
  }
  return unauthenticated ? { entry: unauthenticated } : undefined;
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
      // one look at the file a message (not a recipient), and every recipient judged by the same lists
      const all = lists.current();
      if (all.size === 0) return hits;
      for (const rcpt of new Set(ctx.envelope.rcptTo)) {
        const user = userOf(directory, rcpt);
        const mine = user === undefined ? undefined : all.get(user.toLowerCase());
        if (!mine) continue;
        const blocked = blockMatch(mine.block, senders(ctx, true), subaddressDelimiter);
        if (blocked) {
          hitsTotal.inc({ list: 'block', result: 'matched' });
          hits.push({ symbol: 'USER_BLOCK', options: [blocked.text], rcpt });
          continue;
        }
        const allowed = allowMatch(mine.allow, senders(ctx, false), subaddressDelimiter, ctx.results);
        if (!allowed) continue;
        const { entry, method } = allowed;
        // a listed sender that is not authenticated (forged, or its domain publishes nothing) gets nothing
        hitsTotal.inc({ list: 'allow', result: method ? 'authenticated' : 'unauthenticated' });
        hits.push(method ? { symbol: 'USER_ALLOW', options: [entry.text, method], rcpt } : { symbol: 'USER_ALLOW_UNAUTHENTICATED', options: [entry.text], rcpt });
      }
      return hits;
    },
  };
}
