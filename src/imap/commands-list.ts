// LIST and LSUB (RFC 3501 §6.3.8-9) with LIST-EXTENDED (RFC 5258), SPECIAL-USE selection (RFC 6154) and
// LIST-STATUS (RFC 5819): the arguments parsed (list-command.ts), the mailboxes chosen (list-select.ts), the replies.
import { MailboxError } from '../store/mailbox-store.ts';
import { str } from './encode.ts';
import { mailboxToWire } from './mailbox-name.ts';
import { listEntries } from './list-entries.ts';
import { compileListPattern } from './list-pattern.ts';
import { needAuth } from './commands-mailbox.ts';
import { parseListCommand, pattern } from './list-command.ts';
import { fullPattern, listLines, type ListLine } from './list-select.ts';
import type { Cursor } from './parser.ts';
import type { Handler, Reply, Session } from './session.ts';
import { statusLine, type StatusItem } from './status-items.ts';

/** RFC 3501 §6.3.8: an empty pattern asks for the hierarchy delimiter and root. */
const DELIMITER = '* LIST (\\Noselect) "/" ""\r\n';

/** "* LIST (attrs) "/" name" with RFC 5258 §3.5's CHILDINFO extended data when there is some. */
function listReply(l: ListLine, utf8: boolean): string {
  const ext = l.childInfo ? ` ("CHILDINFO" (${l.childInfo.map((o) => str(o)).join(' ')}))` : '';
  return `* LIST (${l.attrs.join(' ')}) "/" ${mailboxToWire(l.name, utf8)}${ext}\r\n`;
}

async function list(s: Session, c: Cursor): Promise<Reply> {
  const cmd = parseListCommand(c, s);
  const patterns = cmd.patterns.filter((p) => p !== '').map((p) => fullPattern(cmd.ref, p));
  let out = cmd.patterns.includes('') ? DELIMITER : '';
  if (patterns.length > 0) {
    const { store } = s.ctx.opts;
    const subs = cmd.subscribed ? await store.listSubscriptions(s.user) : [];
    const lines = listLines(await store.listMailboxes(s.user), subs, patterns, cmd);
    for (const l of lines) {
      // RFC 5819 §2: a STATUS after the LIST of each mailbox that can be selected (none for \NoSelect, \NonExistent);
      // it is looked up first, as a mailbox that cannot be selected by then is told \NoSelect in its LIST response
      const st = cmd.status && l.status ? await statusOf(s, l.name, cmd.status) : undefined;
      out += listReply(st === NOSELECT ? { ...l, attrs: ['\\Noselect', ...l.attrs] } : l, s.utf8);
      if (typeof st === 'string') out += st;
      if (out.length >= 64 * 1024) {
        await s.sendAsync(out);
        out = '';
      }
    }
  }
  await s.sendAsync(out);
  return { status: 'OK', text: 'LIST completed' };
}

/** A mailbox listed as selectable that cannot be selected now (deleted, or out of reach, since it was listed). */
const NOSELECT = Symbol('noselect');

/**
 * The STATUS line of a listed mailbox. RFC 5819 §2: one that cannot be selected now (deleted since it was listed)
 * gets no STATUS and \NoSelect in its LIST response (NOSELECT); on any other failure the STATUS is left out.
 */
async function statusOf(s: Session, name: string, items: readonly StatusItem[]): Promise<string | typeof NOSELECT | undefined> {
  try {
    return await statusLine(s, name, items);
  } catch (err) {
    s.log.debug('imap list-status skipped a mailbox', { mailbox: name, err });
    return err instanceof MailboxError && (err.code === 'NONEXISTENT' || err.code === 'NOPERM') ? NOSELECT : undefined;
  }
}

async function lsub(s: Session, c: Cursor): Promise<Reply> {
  const ref = pattern(c, s.utf8);
  c.sp();
  const pat = pattern(c, s.utf8);
  c.end();
  if (pat === '') {
    s.send('* LSUB (\\Noselect) "/" ""\r\n');
    return { status: 'OK', text: 'LSUB completed' };
  }
  const full = fullPattern(ref, pat);
  let out = '';
  // Subscribed names are listed whether or not the mailbox exists now (RFC 3501 §6.3.6, §6.3.9).
  for (const e of listEntries(await s.ctx.opts.store.listSubscriptions(s.user), compileListPattern(full), full))
    out += `* LSUB (${e.noselect ? '\\Noselect' : ''}) "/" ${mailboxToWire(e.name, s.utf8)}\r\n`;
  await s.sendAsync(out);
  return { status: 'OK', text: 'LSUB completed' };
}

export const listHandlers: Record<string, Handler> = {
  LIST: async (s, _t, c) => needAuth(s) ?? list(s, c),
  LSUB: async (s, _t, c) => needAuth(s) ?? lsub(s, c),
};
