// Lines over 998 octets in mail spamgate sends in its own name (authenticated or trusted-network submissions it
// DKIM-signs, the notices and digests it writes). RFC 5322 §2.1.1 says a line MUST be no more than 998 characters
// and RFC 5321 §4.5.3.1.6 limits a text line to 1000 octets with its CRLF: a strict next hop refuses longer ones,
// and an MTA that folds them later (Postfix at smtp_line_length_limit) breaks the DKIM signature made over them.
// So, before signing, a MIME leaf with such a line is re-encoded (text quoted-printable, the rest base64, a broken
// base64/QP body re-wrapped) and a long header line folded at white space (seven-bit.ts walks the MIME tree).
//
// Mail already DKIM-signed by someone else is left as it is: re-encoding its body would break that signature
// (RFC 6376 §5.3 puts the conversion on the signer), and mail relayed for others is never rewritten here.
import { headerEnd } from './message-view.ts';
import { hasLongLine } from './long-header.ts';
import { convertMessage, type SevenBitResult } from './seven-bit.ts';

/** A message's top header block carries a DKIM-Signature field (RFC 6376 §3.5). */
export function carriesDkimSignature(message: Buffer): boolean {
  const head = message.subarray(0, headerEnd(message)).toString('latin1');
  return /(^|\r?\n)dkim-signature[ \t]*:/i.test(head);
}

/**
 * The message with no line over 998 octets (the input itself when it had none, or when it is DKIM-signed
 * already), or why it cannot be made so (a header line with no white space to fold at, a message/partial...).
 * `eightBit`: also convert 8-bit parts to 7-bit MIME in the same walk (as the DKIM signer does, RFC 6376 §5.3).
 */
export function withinLineLimit(message: Buffer, eightBit = false): SevenBitResult {
  const long = hasLongLine(message.toString('latin1'));
  if (!long || carriesDkimSignature(message)) return eightBit ? convertMessage(message, { eightBit: true, longLines: false }) : { message };
  return convertMessage(message, { eightBit, longLines: true });
}
