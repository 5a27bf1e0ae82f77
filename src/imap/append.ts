// APPEND with MULTIAPPEND (RFC 3502): one or more messages into a mailbox, all of them or none, answered with
// APPENDUID and the UIDs in message order (RFC 4315 §3); the size bound is APPENDLIMIT (RFC 7889).
import { MailboxError } from '../store/mailbox-store.ts';
import { compactSet, parseDateTime } from './encode.ts';
import { learnAppend } from './junk.ts';
import { addWithinQuota } from './quota.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';
import type { Reply, Session } from './session.ts';

/** Messages one APPEND may carry (their bytes together are bounded by the reader's literal limit). */
export const MAX_APPEND_MESSAGES = 1000;

interface Upload {
  raw: Buffer;
  /** Sent as a bare literal8 (RFC 3516 §4.4). */
  binary: boolean;
  flags: string[];
  date: number | undefined;
}

/**
 * The message of one append-message: a literal, or once UTF8=ACCEPT is on RFC 6855 §4's `"UTF8" SP "(" literal8 ")"`
 * (literal8 is "~{n}" with LITERAL+'s "+" allowed, as the reader takes it). Before ENABLE the UTF8 form is BAD. A
 * bare literal8 is BINARY's (RFC 3516 §4.4).
 */
function messageData(c: Cursor, utf8: boolean): { raw: Buffer; binary: boolean } {
  // RFC 3516 §4.4: a literal8 message ("~{n}"), which may hold NUL and other binary content
  if (c.tryChar('~')) return { raw: c.literal(), binary: true };
  if (!/^UTF8 \(~\{/i.test(c.rest())) return { raw: c.literal(), binary: false };
  if (!utf8) throw new ImapSyntaxError('APPEND UTF8 needs ENABLE UTF8=ACCEPT'); // RFC 6855 §4
  c.atom();
  c.sp();
  c.expect('(');
  c.expect('~');
  const raw = c.literal();
  c.expect(')');
  return { raw, binary: false };
}

/** A line feed without its carriage return: the store serves CRLF lines and would turn it into CR LF. */
function hasBareLf(raw: Buffer): boolean {
  for (let i = raw.indexOf(10); i >= 0; i = raw.indexOf(10, i + 1)) if (i === 0 || raw[i - 1] !== 13) return true;
  return false;
}

/** append-message *(SP append-message) after the mailbox name (RFC 3502 §6 ABNF); nothing is stored while parsing. */
function parseUploads(c: Cursor, utf8: boolean): Upload[] {
  const out: Upload[] = [];
  for (;;) {
    let flags: string[] = [];
    let date: number | undefined;
    if (c.peek() === '(') {
      flags = c.flagList();
      c.sp();
    }
    if (c.peek() === '"') {
      date = parseDateTime(c.quoted());
      if (date === undefined) throw new ImapSyntaxError('bad date-time');
      c.sp();
    }
    const { raw, binary } = messageData(c, utf8);
    if (flags.some((f) => f.toLowerCase() === '\\recent')) throw new ImapSyntaxError('\\Recent cannot be set');
    out.push({ raw, binary, flags, date });
    if (c.atEnd()) return out;
    // a bound of this server, not bad syntax: NO [LIMIT] (RFC 5530 §3), not BAD
    if (out.length >= MAX_APPEND_MESSAGES) throw new MailboxError('LIMIT', `at most ${MAX_APPEND_MESSAGES} messages per APPEND`);
    c.sp();
  }
}

/**
 * Stores the messages as one step where the store can, else one after another, a failure taking back those already
 * stored: the mailbox is left as it was (RFC 3502 §6: "If the server fails to append any message, then none of the
 * messages are appended").
 */
async function appendAll(s: Session, name: string, uploads: readonly Upload[]): Promise<{ uidValidity: number; uids: number[] }> {
  const { store } = s.ctx.opts;
  const asked = uploads.map((u) => ({ raw: u.raw, flags: u.flags, ...(u.date !== undefined ? { internalDate: u.date } : {}) }));
  // a store that adds them as one step: no other session ever sees a part of them
  if (store.appendAll && uploads.length > 1) return store.appendAll(s.user, name, asked);
  const uids: number[] = [];
  let uidValidity = 0;
  try {
    for (const u of asked) {
      const res = await store.append(s.user, name, u.raw, u);
      uids.push(res.uid);
      uidValidity = res.uidValidity;
    }
  } catch (err) {
    if (uids.length > 0) await store.expunge(s.user, name, uids).catch((e: unknown) => s.log.error('imap append rollback failed', { err: e, mailbox: name, uids }));
    throw err;
  }
  return { uidValidity, uids };
}

/** The APPEND command once the session is known to be logged in; `name` is the decoded mailbox argument. */
export async function append(s: Session, name: string, c: Cursor): Promise<Reply> {
  const uploads = parseUploads(c, s.utf8);
  c.end();
  // RFC 3502 §6.3.11: "A zero-length message literal argument is an error, and MUST return a NO" (a client's way
  // to cancel a MULTIAPPEND under way); nothing of the command is stored
  if (uploads.some((u) => u.raw.length === 0)) return { status: 'NO', text: 'Empty message; APPEND cancelled' };
  // RFC 3516 §4.4: binary content the mailbox cannot keep as sent is refused with UNKNOWN-CTE. NUL and any other
  // octet are kept; a bare LF is not (the store keeps CRLF lines, as IMAP and POP3 serve them).
  if (uploads.some((u) => u.binary && hasBareLf(u.raw))) return { status: 'NO', text: '[UNKNOWN-CTE] Binary content with bare LF line ends cannot be stored as sent' };
  const boxes = await s.ctx.opts.store.listMailboxes(s.user);
  if (!boxes.some((b) => b.name === name)) return { status: 'NO', text: '[TRYCREATE] No such mailbox' }; // RFC 3501 §6.3.11
  const bytes = uploads.reduce((sum, u) => sum + u.raw.length, 0);
  const added = await addWithinQuota(s, bytes, () => appendAll(s, name, uploads));
  if ('refused' in added) return added.refused;
  const res = added.done;
  for (const u of uploads) learnAppend(s, name, u.raw);
  return { status: 'OK', text: `[APPENDUID ${res.uidValidity} ${compactSet(res.uids)}] APPEND completed` }; // RFC 4315 §3
}
