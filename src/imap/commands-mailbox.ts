// Authenticated-state commands on mailboxes: SELECT/EXAMINE, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, STATUS, APPEND, IDLE, CHECK, CLOSE, UNSELECT, LOGOUT (LIST and LSUB: commands-list.ts).
import { MailboxError, type MessageMeta } from '../store/mailbox-store.ts';
import { append } from './append.ts';
import { astr } from './encode.ts';
import { mailboxFromWire, mailboxToWire, newMailboxName } from './mailbox-name.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';
import { listSelected, SelectedGone } from './selection.ts';
import type { Handler, Reply, Session } from './session.ts';
import { flagsResponses } from './flags-response.ts';
import { expungeModseqCode } from './condstore.ts';
import { parseStatusItems, statusLine } from './status-items.ts';
import { parseQresyncParam, qresyncResponses, type QresyncParam } from './qresync.ts';
import { ToldFlags, UidSet } from './uid-state.ts';

const ok = (text: string): Reply => ({ status: 'OK', text });
const bad = (text: string): Reply => ({ status: 'BAD', text });

/**
 * A mailbox argument: astring in modified UTF-7 (RFC 3501 §5.1.3), or UTF-8 once enabled (RFC 6855 §3) → Unicode
 * name, INBOX prefix canonical (§5.1).
 */
export function mailboxArg(c: Cursor, utf8: boolean): string {
  const name = mailboxFromWire(c.astring(), utf8);
  if (name === undefined) throw new MailboxError('INVALID', utf8 ? 'mailbox name is not valid (RFC 6855 §3)' : 'mailbox name is not valid modified UTF-7');
  return /^inbox(\/|$)/i.test(name) ? 'INBOX' + name.slice(5) : name;
}

/** BAD unless logged in (authenticated or selected state). */
export function needAuth(s: Session): Reply | undefined {
  return s.state === 'auth' || s.state === 'selected' ? undefined : bad('Log in first');
}
function needSelected(s: Session): Reply | undefined {
  return s.state === 'selected' && s.sel ? undefined : bad('Select a mailbox first');
}

/**
 * SELECT/EXAMINE parameters (RFC 4466 §2.1): CONDSTORE (RFC 7162 §3.1.8) and, once enabled, QRESYNC (§3.2.5);
 * others, or one given twice, are BAD.
 */
function selectParams(s: Session, c: Cursor): { condstore: boolean; qresync?: QresyncParam } {
  let condstore = false;
  let qresync: QresyncParam | undefined;
  if (c.peek() !== ' ') return { condstore };
  c.sp();
  c.list(() => {
    const name = c.atom().toUpperCase();
    if (name === 'CONDSTORE' && !condstore) condstore = true;
    else if (name === 'QRESYNC' && !qresync) {
      if (!s.qresync) throw new ImapSyntaxError('QRESYNC is not enabled'); // RFC 7162 §3.2.5: BAD
      c.sp();
      qresync = parseQresyncParam(c);
    } else throw new ImapSyntaxError(`unknown or repeated SELECT parameter ${name}`);
  });
  return { condstore, ...(qresync ? { qresync } : {}) };
}

/**
 * CREATE's parameters (RFC 4466 §2.2 create-params): only USE (RFC 6154 §3 "USE (\Junk …)"), whose attributes
 * are returned; any other parameter is BAD.
 */
function createUses(c: Cursor): string[] {
  c.sp();
  const uses: string[] = [];
  c.list(() => {
    const param = c.atom().toUpperCase();
    if (param !== 'USE') throw new ImapSyntaxError(`unknown CREATE parameter ${param}`);
    c.sp();
    c.list(() => {
      c.expect('\\');
      uses.push('\\' + c.atom());
    });
  });
  return uses;
}

/**
 * RFC 9051 §6.3.2: a rev2 SELECT/EXAMINE MUST tell the mailbox in a LIST response with accurate attributes (as LIST
 * gives them here: children, special use, subscription). Names only: no folder is opened for it.
 */
async function selectedList(s: Session, name: string): Promise<string> {
  const { store } = s.ctx.opts;
  const names = await store.mailboxNames(s.user);
  const attrs = [names.some((n) => n.name.startsWith(name + '/')) ? '\\HasChildren' : '\\HasNoChildren'];
  const special = names.find((n) => n.name === name)?.specialUse;
  if (special) attrs.push(special);
  if ((await store.listSubscriptions(s.user)).includes(name)) attrs.push('\\Subscribed');
  return `* LIST (${attrs.join(' ')}) "/" ${mailboxToWire(name, s.utf8)}\r\n`;
}

async function select(s: Session, c: Cursor, readOnly: boolean): Promise<Reply> {
  const name = mailboxArg(c, s.utf8);
  const params = selectParams(s, c);
  c.end();
  if (params.condstore) s.condstore = true; // RFC 7162 §3.1.8: a CONDSTORE enabling command
  // RFC 7162 §3.2.11: with QRESYNC on, the client learns where the old mailbox's responses end
  // RFC 9051 §7.1 CLOSED: IMAP4rev2 sends it too whenever a selected mailbox is closed by a new SELECT/EXAMINE
  if ((s.qresync || s.rev2) && s.sel) s.send('* OK [CLOSED] Previous mailbox closed\r\n');
  s.deselect(); // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected
  const { store } = s.ctx.opts;
  // Claim first (RFC 3501 §2.3.2), then list (one store step): the list then already carries the claimed state, so
  // the sync point after this command finds nothing to redo.
  const qresync = params.qresync;
  const box = await store.open(s.user, name, { claimRecent: !readOnly && !s.rev2, ...(qresync ? { expungedSince: qresync.modseq } : {}) });
  const list = box.messages;
  // before the session is selected: a failure here fails nothing but the line (left out, as a LIST would miss it)
  const listLine = s.rev2 ? await selectedList(s, name).catch(() => '') : '';
  // One pass: the session's view, keywords in use, the first unseen message. The flags told are the list's own.
  const uids = new Array<number>(list.length);
  const keywords = new Set<string>();
  let firstUnseen = -1;
  let lastFlags: readonly string[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const m = list[i] as MessageMeta;
    uids[i] = m.uid;
    if (m.flags === lastFlags) continue; // the store shares one flag list per flag combination
    lastFlags = m.flags;
    let seen = false;
    for (const f of m.flags) {
      if (f === '\\Seen') seen = true;
      else if (f.charCodeAt(0) !== 92 /* \ */) keywords.add(f);
    }
    if (!seen && firstUnseen < 0) firstUnseen = i;
  }
  const unwatch = store.watch(s.user, name, () => s.onMailboxChange());
  s.sel = { name, readOnly, uidValidity: box.uidValidity, uids, uidNext: box.uidNext, flags: new ToldFlags(list), recent: new UidSet(s.rev2 ? [] : box.recent), metas: new Map(), listRef: list, dirty: false, keywords, unwatch, ...(box.highestModseq === undefined ? {} : { selectModseq: box.highestModseq }) };
  s.state = 'selected';
  let out = flagsResponses(keywords, readOnly);
  // RFC 9051 Appendix E: IMAP4rev2 has no \Recent flag and no RECENT response (its claim is left to rev1 sessions)
  out += s.rev2 ? `* ${list.length} EXISTS\r\n` : `* ${list.length} EXISTS\r\n* ${box.recent.length} RECENT\r\n`;
  out += listLine;
  if (firstUnseen >= 0) out += `* OK [UNSEEN ${firstUnseen + 1}] First unseen\r\n`;
  out += `* OK [UIDVALIDITY ${box.uidValidity}] UIDs valid\r\n* OK [UIDNEXT ${box.uidNext}] Predicted next UID\r\n`;
  // RFC 7162 §3.1.2.1: a CONDSTORE server tells HIGHESTMODSEQ (or NOMODSEQ) on every successful SELECT/EXAMINE
  out += box.highestModseq === undefined ? '* OK [NOMODSEQ] No mod-sequences here\r\n' : `* OK [HIGHESTMODSEQ ${box.highestModseq}] Highest\r\n`;
  if (box.mailboxId !== undefined) out += `* OK [MAILBOXID (${box.mailboxId})] Mailbox id\r\n`; // RFC 8474 §4.2
  // RFC 7162 §3.2.5.1: what changed since the client's state, when its UIDVALIDITY is still the mailbox's
  if (params.qresync?.uidValidity === box.uidValidity) out += qresyncResponses(params.qresync, list, box.uidNext, (u) => s.sel?.recent.has(u) === true, box.vanished);
  s.send(out);
  return ok(`[${readOnly ? 'READ-ONLY' : 'READ-WRITE'}] ${readOnly ? 'EXAMINE' : 'SELECT'} completed`);
}

export const mailboxHandlers: Record<string, Handler> = {
  async LOGOUT(s, tag, c) {
    c.end(); // RFC 3501 §9: commands without arguments take none
    s.send(`* BYE ${s.ctx.opts.hostname} logging out\r\n${tag} OK LOGOUT completed\r\n`);
    s.deselect();
    s.close();
    return { status: 'NONE' };
  },
  SELECT: async (s, _t, c) => needAuth(s) ?? select(s, c, false),
  EXAMINE: async (s, _t, c) => needAuth(s) ?? select(s, c, true),
  async CREATE(s, _t, c) {
    const e = needAuth(s);
    if (e) return e;
    const name = newMailboxName(mailboxArg(c, s.utf8).replace(/\/$/, '')); // RFC 3501 §6.3.3: a trailing delimiter only announces intent
    const uses = c.atEnd() ? [] : createUses(c);
    c.end();
    if (name === 'INBOX') throw new MailboxError('ALREADYEXISTS', 'INBOX always exists');
    const { store } = s.ctx.opts;
    // RFC 6154 §3: a special use the server cannot give this mailbox: NO [USEATTR], and nothing is made
    const refused = uses.find((u) => store.specialUseOf?.(name)?.toLowerCase() !== u.toLowerCase());
    if (refused !== undefined) return { status: 'NO', text: `[USEATTR] ${astr(refused)} cannot be given to this mailbox; special-use mailboxes here go by their name` };
    await store.createMailbox(s.user, name);
    // RFC 8474 §4.1: the new mailbox's MAILBOXID in the tagged OK
    const id = (await store.status(s.user, name).catch(() => undefined))?.mailboxId;
    return ok(`${id === undefined ? '' : `[MAILBOXID (${id})] `}CREATE completed`);
  },
  async DELETE(s, _t, c) {
    const e = needAuth(s);
    if (e) return e;
    const name = mailboxArg(c, s.utf8);
    c.end();
    if (s.sel?.name === name) s.deselect();
    await s.ctx.opts.store.deleteMailbox(s.user, name);
    return ok('DELETE completed');
  },
  async RENAME(s, _t, c) {
    const e = needAuth(s);
    if (e) return e;
    const from = mailboxArg(c, s.utf8);
    c.sp();
    const to = newMailboxName(mailboxArg(c, s.utf8));
    c.end();
    await s.ctx.opts.store.renameMailbox(s.user, from, to);
    // as DELETE does: the session's own mailbox renamed away leaves it unselected (INBOX stays, emptied, §6.3.5)
    const sel = s.sel?.name;
    if (sel !== undefined && from !== 'INBOX' && (sel === from || sel.startsWith(from + '/'))) s.deselect();
    return ok('RENAME completed');
  },
  async SUBSCRIBE(s, _t, c) {
    const e = needAuth(s);
    if (e) return e;
    const name = mailboxArg(c, s.utf8);
    c.end();
    await s.ctx.opts.store.setSubscribed(s.user, name, true);
    return ok('SUBSCRIBE completed');
  },
  async UNSUBSCRIBE(s, _t, c) {
    const e = needAuth(s);
    if (e) return e;
    const name = mailboxArg(c, s.utf8);
    c.end();
    await s.ctx.opts.store.setSubscribed(s.user, name, false);
    return ok('UNSUBSCRIBE completed');
  },
  async STATUS(s, _t, c) {
    const e = needAuth(s);
    if (e) return e;
    const name = mailboxArg(c, s.utf8);
    c.sp();
    const items = parseStatusItems(c, s);
    c.end();
    s.send(await statusLine(s, name, items));
    return ok('STATUS completed');
  },
  async APPEND(s, _t, c) {
    const e = needAuth(s);
    if (e) return e;
    const name = mailboxArg(c, s.utf8);
    c.sp();
    return append(s, name, c);
  },
  async CHECK(s, _t, c) {
    c.end();
    const e = needSelected(s);
    if (e) return e;
    await s.sync(true, true);
    return ok('CHECK completed');
  },
  async IDLE(s, tag, c) {
    c.end();
    const e = needAuth(s);
    if (e) return e;
    if (s.state === 'selected') await s.sync(true, true);
    s.startIdle(tag);
    s.send('+ idling\r\n'); // RFC 2177 §3
    // a change that came in during the sync above only marked the mailbox dirty: push it once IDLE is on
    setImmediate(() => {
      if ((s.sel?.dirty || s.sel?.expungeOwed) && s.idleTag === tag) s.onMailboxChange();
    });
    return { status: 'NONE' };
  },
  async CLOSE(s, _t, c) {
    c.end();
    const e = needSelected(s);
    if (e) return e;
    const sel = s.sel;
    if (sel && !sel.readOnly) {
      // RFC 3501 §6.4.2: silently expunge \Deleted messages; no untagged EXPUNGE.
      // a mailbox deleted or replaced meanwhile (SelectedGone) has nothing of this session's left to expunge
      const list = await listSelected(s, sel, false).catch((err: unknown) => {
        if (err instanceof SelectedGone) return [];
        throw err;
      });
      const doomed = list.filter((m) => m.flags.includes('\\Deleted')).map((m) => m.uid);
      if (doomed.length > 0) await s.ctx.opts.store.expunge(s.user, sel.name, doomed);
      // RFC 7162 §3.2.8: with QRESYNC on, the value the expunges left (none for a mailbox gone meanwhile)
      const code = await expungeModseqCode(s, sel.name);
      s.deselect();
      return ok(`${code}CLOSE completed`);
    }
    s.deselect();
    return ok('CLOSE completed');
  },
  async UNSELECT(s, _t, c) {
    c.end();
    const e = needSelected(s);
    if (e) return e;
    s.deselect();
    return ok('UNSELECT completed');
  },
};
