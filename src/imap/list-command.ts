// The arguments of LIST (RFC 3501 §6.3.8) with LIST-EXTENDED's selection options, pattern lists and return options
// (RFC 5258 §3, §6), RFC 6154's SPECIAL-USE options and LIST-STATUS's RETURN (STATUS (…)) (RFC 5819 §2).
import { mailboxFromWire } from './mailbox-name.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';
import { fullPattern } from './list-select.ts';
import type { Session } from './session.ts';
import { parseStatusItems, type StatusItem } from './status-items.ts';

/** Patterns one LIST may carry: each is matched against every mailbox name, so their number bounds the work. */
export const MAX_PATTERNS = 100;
/**
 * Characters a list of patterns may hold in all (the reference included in each): matching costs up to name length
 * × pattern length per mailbox (about 0.3 s for one 250-character pattern over 1,000 long names), so a list costs
 * at most about what the longest single pattern can.
 */
export const MAX_PATTERN_CHARS = 512;

export interface ListCommand {
  /** Selection options (RFC 5258 §3.1; SPECIAL-USE: RFC 6154 §3). REMOTE is accepted: there are no remote mailboxes. */
  subscribed: boolean;
  specialUse: boolean;
  recursiveMatch: boolean;
  ref: string;
  /** At least one; as sent, decoded from modified UTF-7 where they are valid (matched as they stand otherwise). */
  patterns: string[];
  /** RETURN (STATUS (…)) items (RFC 5819); undefined when not asked. */
  status?: StatusItem[];
}

/** A reference or pattern; one that is not modified UTF-7 is matched as it stands (it then names no mailbox). */
export function pattern(c: Cursor, utf8: boolean): string {
  const wire = c.listMailbox();
  return mailboxFromWire(wire, utf8) ?? wire;
}

/**
 * list-select-opts (RFC 5258 §6): empty, or the base option SUBSCRIBED with RECURSIVEMATCH and the independent
 * options, or independent options alone: REMOTE, and SPECIAL-USE (RFC 6154 §6). RECURSIVEMATCH without a base
 * option, and unknown options, are BAD (RFC 5258 §3.1).
 */
function selectOptions(c: Cursor, out: ListCommand): void {
  c.list(() => {
    const name = c.atom().toUpperCase();
    if (name === 'SUBSCRIBED') out.subscribed = true;
    else if (name === 'SPECIAL-USE') out.specialUse = true;
    else if (name === 'RECURSIVEMATCH') out.recursiveMatch = true;
    else if (name !== 'REMOTE') throw new ImapSyntaxError(`unknown LIST selection option ${name}`);
  });
  if (out.recursiveMatch && !out.subscribed) throw new ImapSyntaxError('RECURSIVEMATCH needs SUBSCRIBED');
  c.sp();
}

/**
 * list-return-opts (RFC 5258 §6): SUBSCRIBED, CHILDREN (RFC 5258 §4), SPECIAL-USE (RFC 6154 §2) and STATUS (RFC 5819);
 * the attributes they ask for are sent with every LIST reply anyway, which the RFCs allow. Unknown ones are BAD.
 * An option given more than once MUST be taken as given once (RFC 5258 §3, RFC 9051 §6.3.9): a second STATUS adds
 * its items to the first's, each asked once, so every mailbox still gets one STATUS reply.
 */
function returnOptions(c: Cursor, s: Session, out: ListCommand): void {
  c.sp();
  if (c.atom().toUpperCase() !== 'RETURN') throw new ImapSyntaxError('expected RETURN');
  c.sp();
  c.list(() => {
    const name = c.atom().toUpperCase();
    if (name === 'STATUS') {
      c.sp();
      const items = parseStatusItems(c, s);
      out.status = [...new Set([...(out.status ?? []), ...items])];
    } else if (!['SUBSCRIBED', 'CHILDREN', 'SPECIAL-USE'].includes(name)) throw new ImapSyntaxError(`unknown LIST return option ${name}`);
  });
}

export function parseListCommand(c: Cursor, s: Session): ListCommand {
  const { utf8 } = s;
  const out: ListCommand = { subscribed: false, specialUse: false, recursiveMatch: false, ref: '', patterns: [] };
  if (c.peek() === '(') selectOptions(c, out);
  out.ref = pattern(c, utf8);
  c.sp();
  if (c.peek() === '(') {
    c.list(() => {
      if (out.patterns.length >= MAX_PATTERNS) throw new ImapSyntaxError(`more than ${MAX_PATTERNS} patterns`);
      out.patterns.push(pattern(c, utf8));
    });
    if (out.patterns.length === 0) throw new ImapSyntaxError('expected a mailbox pattern'); // RFC 5258 §6 patterns
    const chars = out.patterns.reduce((sum, p) => sum + (p === '' ? 0 : fullPattern(out.ref, p).length), 0);
    if (out.patterns.length > 1 && chars > MAX_PATTERN_CHARS) throw new ImapSyntaxError(`patterns longer than ${MAX_PATTERN_CHARS} characters in all`);
  } else out.patterns.push(pattern(c, utf8));
  if (!c.atEnd()) returnOptions(c, s, out);
  c.end();
  return out;
}
