// The FLAGS response and PERMANENTFLAGS of a selected mailbox: sent at SELECT, and again whenever a keyword new
// to the mailbox appears (RFC 3501 §7.2.6: the client learns it is defined before a message shows it).
import type { MessageMeta } from '../store/mailbox-store.ts';

/** The FLAGS response and PERMANENTFLAGS of a mailbox with these keywords (RFC 3501 §7.2.6, §7.1). */
export function flagsResponses(keywords: ReadonlySet<string>, readOnly: boolean): string {
  const kw = [...keywords].join(' ');
  let out = `* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft${kw ? ' ' + kw : ''})\r\n`;
  out += `* OK [PERMANENTFLAGS (${readOnly ? '' : `\\Answered \\Flagged \\Deleted \\Seen \\Draft${kw ? ' ' + kw : ''} \\*`})] Flags permitted\r\n`;
  return out;
}

/** Keywords (flags without a backslash) of these messages that `known` lacks; they are added to it. */
export function newKeywords(messages: Iterable<Pick<MessageMeta, 'flags'>>, known: Set<string>): boolean {
  let added = false;
  for (const m of messages) {
    for (const f of m.flags) {
      if (f.charCodeAt(0) === 92 /* \\ */ || known.has(f)) continue;
      known.add(f);
      added = true;
    }
  }
  return added;
}
