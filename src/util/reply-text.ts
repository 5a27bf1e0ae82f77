// A next hop's reply text, which the remote controls (up to MAX_REPLY_CHARS of the client's reader), made
// fit to keep and to quote: control characters (CR, LF, …) as spaces and cut at a length, so a log line,
// the queue's state file, `spamgate queue list` and a notice stay bounded whatever the remote said.

/** Characters of a reply's text quoted in a log field or `spamgate queue list`. */
export const LOGGED_REPLY_MAX = 512;

/** Characters of a reply's text kept in the queue's state (a notice quotes up to 800 octets of it). */
export const STORED_REPLY_MAX = 2048;

interface ReplyLike {
  code: number;
  enhanced?: string;
  text: string;
}

/** Text on one line, control characters as spaces, cut at `max` characters ("…" marks the cut). */
export function boundedText(text: string, max: number): string {
  const cut = text.length > max * 2 ? text.slice(0, max * 2) : text;
  const flat = cut.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  if (flat.length > max) return `${flat.slice(0, max)}…`;
  return cut.length < text.length ? `${flat}…` : flat;
}

/** A reply as a log field gives it: code, enhanced code, text on one line cut at LOGGED_REPLY_MAX. */
export function loggedReply(reply: ReplyLike): string {
  return `${reply.code}${reply.enhanced ? ` ${reply.enhanced}` : ''} ${boundedText(reply.text, LOGGED_REPLY_MAX)}`;
}

/** The reply as the queue keeps it: its text on one line, cut at STORED_REPLY_MAX. */
export function storedReply<R extends ReplyLike>(reply: R): R {
  return reply.text.length <= STORED_REPLY_MAX && !/[\u0000-\u001f\u007f]/.test(reply.text) ? reply : { ...reply, text: boundedText(reply.text, STORED_REPLY_MAX) };
}
