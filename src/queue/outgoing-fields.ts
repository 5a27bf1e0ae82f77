// Our own outgoing mail (an authenticated user's, a trusted network's: envelope.outgoing) leaves for other
// domains without spamgate's X-Spamgate-* fields: the verdict (score, symbols, Bayes probability, session id) and
// any release or reputation field are this site's business, not the recipient's (as rspamd's milter_headers skips
// authenticated and local mail). Copies for our own recipients keep them, for their Sieve scripts and filters.
import { headerEnd } from '../smtp/message-view.ts';
import { isSpamgateField, stripHeaders } from '../smtp/trace-headers.ts';
import type { QueueEnvelope } from './types.ts';

const NO_NAMES: ReadonlySet<string> = new Set();

/** The message without its X-Spamgate-* fields (the same buffer when it has none). */
export function withoutSpamgateFields(message: Buffer): Buffer {
  return stripHeaders(message, NO_NAMES, headerEnd(message), (name) => isSpamgateField(name));
}

/**
 * The copy of a message for a host that hands it on beyond our own domains: our own outgoing mail without its
 * X-Spamgate-* fields; received mail (the verdict is for the recipient's site) as it is.
 */
export function messageForRemote(envelope: Pick<QueueEnvelope, 'outgoing'>, message: Buffer): Buffer {
  return envelope.outgoing === true ? withoutSpamgateFields(message) : message;
}
