// The selected mailbox as commands see it: sequence sets and UID sets resolved against the session's view, and the
// store's current metadata by UID (RFC 3501 §6.4.8, RFC 2180 §4.1).
import { MailboxError, type MessageMeta } from '../store/mailbox-store.ts';
import { inRanges, parseSequenceSet, type SeqRange } from './encode.ts';
import { ImapSyntaxError } from './parser.ts';
import type { Reply, Selected, Session } from './session.ts';

export interface Target {
  seq: number;
  uid: number;
}

const bad = (text: string): Reply => ({ status: 'BAD', text });

export function selected(s: Session): Selected | Reply {
  return s.state === 'selected' && s.sel ? s.sel : bad('Select a mailbox first');
}
export const isReply = (x: Selected | Reply): x is Reply => 'status' in x;

/** The search result variable as UID ranges (RFC 5182 §2.1: "$" stands for the messages the last SAVE kept). */
export function savedRanges(sel: Selected): SeqRange[] {
  const out: SeqRange[] = [];
  for (const u of sel.saved ?? []) {
    const last = out[out.length - 1];
    if (last && u === last[1] + 1) last[1] = u;
    else out.push([u, u]);
  }
  return out;
}

/** A client's sequence set, or "$", as ranges: UIDs for "$" (whichever the command), else as written. */
export function setRanges(sel: Selected, text: string, star: number): SeqRange[] {
  return text === '$' ? savedRanges(sel) : parseSequenceSet(text, star);
}

/**
 * Resolves a sequence set or UID set against the session's view (RFC 3501 §6.4.8 for UID ranges with '*'). "$" is
 * the saved search result for the UID and the sequence-number forms alike (RFC 5182 §2.1), those of its messages
 * still in the view; it stands alone ("1,$" is BAD, RFC 5182 §3 seq-last-command).
 */
export function resolve(sel: Selected, text: string, uid: boolean): Target[] {
  const out: Target[] = [];
  if (text === '$') {
    const saved = new Set(sel.saved ?? []);
    sel.uids.forEach((u, i) => {
      if (saved.has(u)) out.push({ seq: i + 1, uid: u });
    });
    return out;
  }
  if (uid) {
    const ranges = parseSequenceSet(text, sel.uids[sel.uids.length - 1] ?? 0);
    sel.uids.forEach((u, i) => {
      if (inRanges(ranges, u)) out.push({ seq: i + 1, uid: u });
    });
    return out;
  }
  const ranges = parseSequenceSet(text, sel.uids.length);
  for (const [a, b] of ranges) if (b > sel.uids.length || a < 1) throw new ImapSyntaxError('invalid message sequence number');
  sel.uids.forEach((u, i) => {
    if (inRanges(ranges, i + 1)) out.push({ seq: i + 1, uid: u });
  });
  return out;
}

/**
 * The selected mailbox is no more: deleted, renamed away, or replaced by another of the same name (a new
 * UIDVALIDITY). Its UIDs cannot name the messages found under the name now (RFC 3501 §2.3.1.1), nor can its view
 * go on: the session says BYE (as Dovecot does).
 */
export class SelectedGone extends Error {
  constructor() {
    super('the selected mailbox was deleted or replaced');
    this.name = 'SelectedGone';
  }
}

/** The selected mailbox's messages now, in UID order; SelectedGone once it is not the mailbox the session selected. */
export async function listSelected(s: Session, sel: Selected, dates: boolean): Promise<readonly MessageMeta[]> {
  try {
    return await s.ctx.opts.store.list(s.user, sel.name, { dates, uidValidity: sel.uidValidity });
  } catch (err) {
    if (err instanceof MailboxError && err.code === 'NONEXISTENT') throw new SelectedGone();
    throw err;
  }
}

const mapCache = new WeakMap<readonly MessageMeta[], Map<number, MessageMeta>>();

/**
 * Current metadata by UID without announcing anything (announcements wait for the sync point). `dates`: whether
 * the caller reads internalDate (the store may otherwise leave it unread, see ListOptions).
 */
export async function metasNow(s: Session, sel: Selected, dates: boolean): Promise<Map<number, MessageMeta>> {
  const list = await listSelected(s, sel, dates);
  let map = mapCache.get(list);
  if (!map) mapCache.set(list, (map = new Map(list.map((m) => [m.uid, m]))));
  return map;
}
