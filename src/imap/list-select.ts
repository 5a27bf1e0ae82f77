// Which mailboxes a LIST answers with, and their attributes: the patterns (RFC 3501 §6.3.8, several per RFC 5258
// §3), the selection options SUBSCRIBED and SPECIAL-USE (RFC 5258 §3.1, RFC 6154 §3) with RECURSIVEMATCH and its
// CHILDINFO extended data (RFC 5258 §3.5).
import type { MailboxInfo } from '../store/mailbox-store.ts';
import { listEntries } from './list-entries.ts';
import { compileListPattern, type ListPattern } from './list-pattern.ts';

export interface ListSelection {
  subscribed: boolean;
  specialUse: boolean;
  recursiveMatch: boolean;
}

export interface ListLine {
  name: string;
  attrs: string[];
  /** Selection options some descendant meets (RFC 5258 §3.5 CHILDINFO), with RECURSIVEMATCH only. */
  childInfo?: string[];
  /**
   * LIST-STATUS tells its STATUS (RFC 5819 §2: each selectable mailbox that matches the patterns and the selection
   * options): an existing mailbox, not one listed only for a descendant RECURSIVEMATCH found.
   */
  status: boolean;
}

/** The pattern a reference and a mailbox pattern make (RFC 3501 §6.3.8: the reference names a level). */
export function fullPattern(ref: string, pat: string): string {
  return ref === '' || ref.endsWith('/') || pat.startsWith('/') ? ref + pat : `${ref}/${pat}`;
}

function boxAttrs(b: MailboxInfo): string[] {
  const attrs = [b.hasChildren ? '\\HasChildren' : '\\HasNoChildren'];
  if (b.specialUse) attrs.push(b.specialUse);
  if (b.subscribed) attrs.push('\\Subscribed');
  return attrs;
}

/** Every level above a name: "a/b/c" → "a", "a/b". */
function ancestors(name: string): string[] {
  const out: string[] = [];
  for (let cut = name.indexOf('/'); cut > 0; cut = name.indexOf('/', cut + 1)) out.push(name.slice(0, cut));
  return out;
}

/** No selection option: existing mailboxes that match, and with "%" the levels above them (as \Noselect). */
function plainList(boxes: ReadonlyMap<string, MailboxInfo>, patterns: readonly string[]): ListLine[] {
  const out: ListLine[] = [];
  const seen = new Set<string>();
  for (const text of patterns) {
    // RFC 5258 §3: a mailbox matching several patterns is told once
    for (const e of listEntries([...boxes.keys()], compileListPattern(text), text)) {
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      const b = boxes.get(e.name);
      out.push(b ? { name: e.name, attrs: boxAttrs(b), status: true } : { name: e.name, attrs: ['\\Noselect', '\\HasChildren'], status: false });
    }
  }
  return out;
}

/**
 * The mailboxes matching a pattern that meet the selection options; with RECURSIVEMATCH (which needs SUBSCRIBED)
 * also those with a descendant that meets them, whether or not that descendant matches a pattern, with CHILDINFO
 * (RFC 5258 §3.5). Subscribed names that are no mailbox are told with \NonExistent (RFC 5258 §3.1).
 */
function selectedList(boxes: ReadonlyMap<string, MailboxInfo>, subs: ReadonlySet<string>, patterns: readonly string[], sel: ListSelection): ListLine[] {
  const meets = (name: string): boolean => (!sel.subscribed || subs.has(name)) && (!sel.specialUse || boxes.get(name)?.specialUse !== undefined);
  // RFC 5258 §3.5: CHILDINFO names the base selection options a descendant meets; SUBSCRIBED is the only one here
  const criteria = ['SUBSCRIBED'];
  const names = [...boxes.keys()];
  if (sel.subscribed) for (const n of subs) if (!boxes.has(n)) names.push(n);
  const parents = new Set<string>();
  if (sel.recursiveMatch) for (const n of names) if (meets(n)) for (const a of ancestors(n)) parents.add(a);
  const known = new Set(names);
  for (const p of parents) if (!known.has(p)) names.push(p);
  const res: ListPattern[] = patterns.map((p) => compileListPattern(p));
  const above = new Set([...boxes.keys()].flatMap(ancestors));
  const out: ListLine[] = [];
  for (const name of names) {
    const self = meets(name);
    const child = parents.has(name);
    if (!(self || child) || !res.some((re) => re.test(name))) continue;
    const b = boxes.get(name);
    let attrs: string[];
    if (b) attrs = boxAttrs(b);
    else {
      attrs = ['\\NonExistent'];
      if (subs.has(name)) attrs.push('\\Subscribed');
      if (above.has(name)) attrs.push('\\HasChildren');
    }
    out.push({ name, attrs, status: b !== undefined && self, ...(child ? { childInfo: criteria } : {}) });
  }
  return out;
}

/** The LIST lines for full patterns (reference applied, none empty) over the user's mailboxes and subscriptions. */
export function listLines(boxes: readonly MailboxInfo[], subs: readonly string[], patterns: readonly string[], sel: ListSelection): ListLine[] {
  const byName = new Map(boxes.map((b) => [b.name, b]));
  if (!sel.subscribed && !sel.specialUse) return plainList(byName, patterns);
  return selectedList(byName, new Set(subs), patterns, sel);
}
