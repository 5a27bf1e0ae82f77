// CONDSTORE (RFC 7162 §3.1) pieces the commands share: mod-sequence values on the wire, the command modifiers
// (CHANGEDSINCE, UNCHANGEDSINCE) and turning CONDSTORE on for a session (§3.1: the "CONDSTORE enabling commands").
import { ImapSyntaxError, type Cursor } from './parser.ts';
import { metasNow } from './selection.ts';
import type { Session } from './session.ts';

/** RFC 7162 §7: mod-sequence-value is 1 to 2^63-1; mod-sequence-valzer also allows 0. */
const MAX_WIRE = 9223372036854775807n;

/**
 * A mod-sequence from the client. Values above 2^63-1, or not a number, are a syntax error (BAD). The store's
 * mod-sequences stay below 2^53, so a larger value (exact only as a bigint) compares as Number.MAX_SAFE_INTEGER:
 * above every mod-sequence handed out, as the value itself is.
 */
export function modseqArg(c: Cursor, allowZero: boolean): number {
  const text = c.atom();
  if (!/^\d{1,19}$/.test(text)) throw new ImapSyntaxError('expected a mod-sequence');
  const n = BigInt(text);
  if (n > MAX_WIRE) throw new ImapSyntaxError('mod-sequence above 2^63-1');
  if (n === 0n && !allowZero) throw new ImapSyntaxError('mod-sequence must be positive');
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

export interface FetchModifiers {
  /** RFC 7162 §3.1.4.1: only messages whose mod-sequence is above this. */
  changedSince?: number;
  /** RFC 7162 §3.2.6: also tell the UIDs of the set that are gone (UID FETCH with CHANGEDSINCE, QRESYNC on). */
  vanished?: boolean;
}

/** Reads "(" modifier *(SP modifier) ")" after a FETCH's attributes; each modifier once, unknown ones are BAD. */
export function fetchModifiers(c: Cursor): FetchModifiers {
  const out: FetchModifiers = {};
  let any = false;
  c.list(() => {
    const name = c.atom().toUpperCase();
    any = true;
    if (name === 'VANISHED' && !out.vanished) out.vanished = true;
    else if (name === 'CHANGEDSINCE' && out.changedSince === undefined) {
      c.sp();
      out.changedSince = modseqArg(c, false);
    } else throw new ImapSyntaxError(`unknown or repeated FETCH modifier ${name}`);
  });
  if (!any) throw new ImapSyntaxError('empty FETCH modifier list');
  return out;
}

/** Reads "(UNCHANGEDSINCE n)" between a STORE's set and its item (RFC 7162 §3.1.3); 0 is allowed and always fails. */
export function storeModifiers(c: Cursor): { unchangedSince: number } {
  let unchangedSince: number | undefined;
  c.list(() => {
    const name = c.atom().toUpperCase();
    if (name !== 'UNCHANGEDSINCE') throw new ImapSyntaxError(`unknown STORE modifier ${name}`);
    if (unchangedSince !== undefined) throw new ImapSyntaxError('UNCHANGEDSINCE given twice');
    c.sp();
    unchangedSince = modseqArg(c, true);
  });
  if (unchangedSince === undefined) throw new ImapSyntaxError('empty STORE modifier list');
  return { unchangedSince };
}

/**
 * A CONDSTORE enabling command (RFC 7162 §3.1): from now on every untagged FETCH carries UID and MODSEQ. The first
 * one issued with a mailbox selected reports that mailbox's HIGHESTMODSEQ before its completion (§3.1, §3.1.2.1).
 */
export async function enableCondstore(s: Session): Promise<void> {
  if (s.condstore) return;
  s.condstore = true;
  const sel = s.sel;
  if (!sel) return;
  const st = await s.ctx.opts.store.status(s.user, sel.name);
  let told = st.highestModseq;
  // RFC 7162 §3.2.5.1 (RFC 5162 errata 1810): with an expunge owed to the view (a FETCH, STORE or SEARCH may not tell
  // it), a value above it would let a client that keeps it never hear of that UID in VANISHED (EARLIER): the one
  // told at SELECT stays below every expunge the view has not seen
  if (told !== undefined && sel.selectModseq !== undefined && told > sel.selectModseq) {
    const now = await metasNow(s, sel, false);
    if (sel.uids.some((u) => !now.has(u))) told = sel.selectModseq;
  }
  s.send(told === undefined ? '* OK [NOMODSEQ] No mod-sequences here\r\n' : `* OK [HIGHESTMODSEQ ${told}] Highest\r\n`);
}

/**
 * "[HIGHESTMODSEQ n] " for the tagged OK of EXPUNGE, UID EXPUNGE and CLOSE once QRESYNC is on (RFC 7162 §3.2.7,
 * §3.2.8): VANISHED carries no mod-sequence, so this is how the client learns the value its expunges raised.
 * '' otherwise, or for a mailbox without mod-sequences (or gone).
 */
export async function expungeModseqCode(s: Session, mailbox: string): Promise<string> {
  if (!s.qresync) return '';
  // the expunge is done: a mailbox removed meanwhile costs only the code, not the command's OK
  const st = await s.ctx.opts.store.status(s.user, mailbox).catch(() => undefined);
  return st?.highestModseq === undefined ? '' : `[HIGHESTMODSEQ ${st.highestModseq}] `;
}

/** " MODSEQ (n)" for an untagged FETCH once CONDSTORE is on (RFC 7162 §3.1); '' otherwise or without one. */
export function modseqItem(s: Session, modseq: number | undefined): string {
  return s.condstore && modseq !== undefined ? ` MODSEQ (${modseq})` : '';
}
