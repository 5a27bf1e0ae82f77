// What a next hop is sent of a message, or the refusal of ours each recipient gets instead: a message over the
// next hop's SIZE limit (RFC 1870 §6), one that needs SMTPUTF8 it does not offer (RFC 6531 §3.2), 8-bit data it
// cannot take converted to 7-bit MIME (RFC 6152 §3); and which replies of a transaction count as acceptance.
// A message relayed for others goes as it came, lines over 998 octets included (line-limit.ts mends only our own
// mail): when the next hop refuses one, the reply says so, so that the bounce tells the sender why.
import type { DsnParameters, NextHopReply } from '../queue/types.ts';
import { longestLine, MAX_LINE_OCTETS } from './long-header.ts';
import { smtpUtf8Refusal } from './next-hop-params.ts';
import { toSevenBit, type SevenBitResult } from './seven-bit.ts';

/** The message as it goes to the next hop (converted to 7 bits if need be), or the reply of each recipient instead. */
export type Payload = { message: Buffer } | { refusal: NextHopReply };

export function payloadFor(extensions: ReadonlySet<string>, maxSize: number, from: string, rcptTo: readonly string[], message: Buffer, dsn: DsnParameters | undefined): Payload {
  if (maxSize > 0 && message.length > maxSize) {
    // RFC 1870 §6: do not send what the server said it will not take.
    return { refusal: { code: 552, enhanced: '5.3.4', text: `message size ${message.length} exceeds server limit ${maxSize}`, local: true } };
  }
  const utf8Refusal = dsn?.smtputf8 && !extensions.has('SMTPUTF8') ? smtpUtf8Refusal(from, rcptTo, message) : undefined;
  if (utf8Refusal) {
    // RFC 6531 §3.2: a message that needs SMTPUTF8 is not sent to a server that does not offer it;
    // spamgate does not downgrade, so it fails (and the sender gets a notice).
    return { refusal: { ...utf8Refusal, local: true } };
  }
  const payload = sevenBitIfNeeded(extensions, message, dsn);
  if ('refused' in payload) {
    return { refusal: { code: 554, enhanced: '5.6.3', text: `the next hop does not offer 8BITMIME and the message cannot be converted: ${payload.refused}`, local: true } };
  }
  if (payload.message !== message && maxSize > 0 && payload.message.length > maxSize) {
    // quoted-printable grows a message: the converted copy must fit the SIZE limit too (RFC 1870 §6)
    return { refusal: { code: 552, enhanced: '5.3.4', text: `message size ${payload.message.length} after conversion to 7 bits exceeds server limit ${maxSize}`, local: true } };
  }
  return { message: payload.message };
}

/**
 * RFC 6152 §3: 8-bit data goes only to a next hop that offers 8BITMIME (or takes the message with
 * SMTPUTF8, which implies it, RFC 6531 §3.1); otherwise it is converted to 7-bit MIME first.
 */
function sevenBitIfNeeded(extensions: ReadonlySet<string>, message: Buffer, dsn: DsnParameters | undefined): SevenBitResult {
  if (extensions.has('8BITMIME') || (dsn?.smtputf8 && extensions.has('SMTPUTF8'))) return { message };
  return toSevenBit(message);
}

/**
 * A reply that is neither the success the command calls for nor a failure (a 252 to RCPT, a 250 to DATA, a
 * 251 to MAIL; RFC 5321 §4.3.2 lists the codes each command may get): a temporary failure of ours, retried
 * later, never taken for a delivery.
 */
export function notAccepted(reply: NextHopReply, command: string): NextHopReply {
  if (reply.code >= 400 && reply.code < 600) return reply;
  return { code: 451, enhanced: '4.5.0', text: `unexpected reply to ${command}: ${reply.code} ${reply.text}`.slice(0, 500), local: true };
}

/** The reply to the end of the data: 2xx delivered it, 4xx/5xx refused it, anything else is unexpected. */
export function finalReply(reply: NextHopReply): NextHopReply {
  return reply.code >= 200 && reply.code < 300 ? reply : notAccepted(reply, 'the end of data');
}

/**
 * A refusal at the end of data of a message with a line over 998 octets, with a note of spamgate's saying so:
 * the sender learns from the bounce what a strict next hop most likely refused (RFC 5322 §2.1.1, RFC 5321
 * §4.5.3.1.6). Other replies, and messages within the limit, as they are.
 */
export function withLineLengthNote(reply: NextHopReply, message: Buffer): NextHopReply {
  if (reply.code < 400 || reply.local) return reply;
  const longest = longestLine(message.toString('latin1'));
  if (longest <= MAX_LINE_OCTETS) return reply;
  return { ...reply, text: `${reply.text} [spamgate: the message has a line of ${longest} octets; RFC 5322 section 2.1.1 allows ${MAX_LINE_OCTETS}, and the next hop may refuse it for that]` };
}
