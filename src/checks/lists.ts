// Allow and deny lists (the `lists:` rules section): one check per SMTP phase that has lists, matching the
// client address, its host name, the HELO name, the envelope sender, each recipient or the header From against
// each list, late ('first'), so the SPF/DKIM/DMARC results an `authenticated` list needs are in and meta rules see
// its symbols. A hit's options name the entry (and list file:line) and the method that authenticated it.
import addressparser from 'nodemailer/lib/addressparser';
import { strictSingleMailbox } from '../dkim/from-mailbox.ts';
import { authenticatedBy } from '../lists/authenticated.ts';
import { rulesetLists, type CompiledList } from '../lists/compile.ts';
import { asciiName, type EntryOrigin } from '../lists/entries.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { canonicalMailbox } from '../smtp/address.ts';
import { FCRDNS_RESULT_KEY } from './fcrdns.ts';
import { PHASES, type Check, type CheckContext, type SymbolHit } from './types.ts';

/** An allowance (a negative weight) is given only on one reading of the sender; anything else judges every reading. */
const allows = (list: CompiledList): boolean => typeof list.def.weight === 'number' && list.def.weight < 0;

/**
 * The header From addresses a list judges. An allow list takes the one mailbox of the one From field (RFC 5322
 * §3.6: exactly one), or nothing: with two fields, or two mailboxes, a reader may be shown the other one. A deny
 * list takes every address of every From field, so that adding a field or a mailbox does not hide a listed one.
 */
function fromAddresses(list: CompiledList, ctx: CheckContext): string[] {
  const fields = (ctx.message?.headers ?? []).filter((h) => h.name.toLowerCase() === 'from');
  if (allows(list)) {
    const mailbox = fields.length === 1 ? strictSingleMailbox(fields[0]?.value ?? '') : undefined;
    return mailbox ? [mailbox] : [];
  }
  const found = new Set<string>();
  for (const f of fields) {
    const strict = strictSingleMailbox(f.value);
    if (strict) found.add(strict);
    for (const a of addressparser(f.value, { flatten: true })) if (a.address) found.add(a.address);
  }
  return [...found];
}

/** The values a list is matched against in this phase (none: nothing to match). */
function subjects(list: CompiledList, ctx: CheckContext): string[] {
  switch (list.type) {
    case 'ip':
      return [ctx.session.clientIp];
    case 'client_hostname': {
      // the name a trusted proxy gave (XCLIENT/XFORWARD NAME), else the forward-confirmed one: a bare PTR is the
      // network owner's claim and could name anyone
      const confirmed = ctx.results.get(FCRDNS_RESULT_KEY);
      return [ctx.session.clientHostname, typeof confirmed === 'string' ? confirmed : undefined].filter((n): n is string => n !== undefined && n !== '');
    }
    case 'helo':
      return ctx.session.helo ? [ctx.session.helo] : [];
    case 'envelope_from':
      return ctx.envelope.mailFrom ? [ctx.envelope.mailFrom] : [];
    case 'rcpt':
      return ctx.rcpt ? [ctx.rcpt] : [];
    case 'from':
      return fromAddresses(list, ctx);
  }
}

/** How addresses are read: the sub-address delimiter (mailhost.subaddress_delimiter; '' for none). */
export interface ListMatchOptions {
  subaddressDelimiter?: string;
}

function match(list: CompiledList, subject: string, opts: ListMatchOptions): EntryOrigin | undefined {
  if (list.type === 'ip') return list.entries.matchIp(subject);
  if (list.type === 'helo' || list.type === 'client_hostname') return list.entries.matchHost(subject);
  // "spam"@bulk.example is spam@bulk.example (RFC 5321 §4.1.2): the quotes must not hide a listed mailbox; nor may
  // a sub-address tag (closed+x@ is delivered to closed@)
  return list.entries.matchAddress(canonicalMailbox(subject), opts.subaddressDelimiter);
}

/** The list's hit for this transaction, if an entry matches (and the sender is authenticated as it asks). */
export function matchList(list: CompiledList, ctx: CheckContext, opts: ListMatchOptions = {}): SymbolHit | undefined {
  const hit = matchEntry(list, ctx, opts);
  // a recipient's entry is about that recipient: its weight must not judge the others named beside it (an attacker
  // adding the allowlisted abuse@ to a transaction would lower the score of every recipient of the message)
  return hit && list.type === 'rcpt' && ctx.rcpt !== undefined ? { ...hit, rcpt: ctx.rcpt } : hit;
}

function matchEntry(list: CompiledList, ctx: CheckContext, opts: ListMatchOptions): SymbolHit | undefined {
  for (const subject of subjects(list, ctx)) {
    const entry = match(list, subject, opts);
    if (!entry) continue;
    const options = [entry.text, ...(entry.at !== undefined ? [entry.at] : [])];
    // the client is told the entry (its network, its address), not where the administrator keeps the list
    const replyOptions = [entry.text];
    if (list.authenticated === undefined) return { symbol: list.symbol, options, replyOptions };
    const domain = asciiName(subject.slice(subject.lastIndexOf('@') + 1));
    const method = domain === undefined ? undefined : authenticatedBy(list.authenticated, domain, ctx.results);
    // a listed sender that is not authenticated (forged, or its domain publishes nothing) gets nothing
    if (method !== undefined) return { symbol: list.symbol, options: [...options, method], replyOptions };
  }
  return undefined;
}

/** One check per phase with lists, over the lists of one rules snapshot. */
export function createListChecks(ruleset: Ruleset, opts: ListMatchOptions = {}): Check[] {
  const lists = rulesetLists(ruleset);
  const checks: Check[] = [];
  for (const phase of PHASES) {
    const mine = lists.filter((l) => l.phase === phase);
    if (mine.length === 0) continue;
    checks.push({
      name: 'lists',
      phase,
      symbols: mine.map((l) => l.symbol),
      late: 'first',
      run(ctx) {
        const hits: SymbolHit[] = [];
        for (const list of mine) {
          const hit = matchList(list, ctx, opts);
          if (hit) hits.push(hit);
        }
        return hits;
      },
    });
  }
  return checks;
}
