// STATUS data items (RFC 3501 §6.3.10, RFC 9051 §6.3.11 DELETED, RFC 7162 §3.1.7 HIGHESTMODSEQ, RFC 8438 SIZE, RFC 7889 APPENDLIMIT): parsing the list a client asks
// for and building the "* STATUS" response, shared by the STATUS command and LIST's RETURN (STATUS …) (RFC 5819).
import type { MailboxStatus } from '../store/mailbox-store.ts';
import { enableCondstore } from './condstore.ts';
import { mailboxToWire } from './mailbox-name.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';
import type { Session } from './session.ts';

const ITEMS = ['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'HIGHESTMODSEQ', 'SIZE', 'APPENDLIMIT', 'MAILBOXID', 'DELETED'] as const;
export type StatusItem = (typeof ITEMS)[number];

/**
 * "(" status-att *(SP status-att) ")": at least one item, for STATUS (RFC 9051 §9 and RFC 3501 §9 `status`) as for
 * LIST-STATUS (RFC 5819 §5); an empty list or an unknown item is BAD; MAILBOXID only where OBJECTID is offered
 * (RFC 8474 §4.3 extends STATUS under that capability). What is offered is read from the session's store here, for
 * both commands: neither can ask for an item the other refuses.
 */
export function parseStatusItems(c: Cursor, s: Session): StatusItem[] {
  const objectIds = s.ctx.opts.store.objectIds !== undefined;
  const out: StatusItem[] = [];
  c.list(() => {
    const name = c.atom().toUpperCase();
    const item = ITEMS.find((i) => i === name);
    if (item === undefined || (item === 'MAILBOXID' && !objectIds)) throw new ImapSyntaxError(`unknown status item ${name}`);
    if (!out.includes(item)) out.push(item);
  });
  if (out.length === 0) throw new ImapSyntaxError('expected at least one status item');
  return out;
}

function value(st: MailboxStatus, item: StatusItem, appendLimit: number): number | string {
  switch (item) {
    // RFC 8474 §4.3: "MAILBOXID" SP "(" objectid ")" (asked for only where the store keeps them: see parseStatusItems)
    case 'MAILBOXID':
      return `(${st.mailboxId ?? 'NIL'})`;
    case 'MESSAGES':
      return st.messages;
    case 'RECENT':
      return st.recent;
    case 'UIDNEXT':
      return st.uidNext;
    case 'UIDVALIDITY':
      return st.uidValidity;
    case 'UNSEEN':
      return st.unseen;
    // RFC 9051 §6.3.11: the number of messages with the \Deleted flag set
    case 'DELETED':
      return st.deleted;
    // RFC 7162 §3.1.7 (a store without mod-sequences answers 0, as NOMODSEQ mailboxes do)
    case 'HIGHESTMODSEQ':
      return st.highestModseq ?? 0;
    // RFC 8438 §2: the total size of the mailbox in octets (number64)
    case 'SIZE':
      return st.size;
    // RFC 7889 §4: the largest message APPEND takes into this mailbox (here the same for every mailbox)
    case 'APPENDLIMIT':
      return appendLimit;
  }
}

/** The "* STATUS" line for a mailbox; asking for HIGHESTMODSEQ is a CONDSTORE enabling command (RFC 7162 §3.1). */
export async function statusLine(s: Session, name: string, items: readonly StatusItem[]): Promise<string> {
  const st = await s.ctx.opts.store.status(s.user, name);
  if (items.includes('HIGHESTMODSEQ')) await enableCondstore(s);
  return `* STATUS ${mailboxToWire(st.name, s.utf8)} (${items.map((i) => `${i} ${value(st, i, s.ctx.limits.maxLiteralBytes)}`).join(' ')})\r\n`;
}
