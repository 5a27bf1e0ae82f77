// What a Sieve reject or ereject (RFC 5429) becomes at local delivery, where the message was already accepted:
// the recipient's delivery fails permanently with the reason, so the queue sends the sender its usual
// non-delivery notice (a DSN from the null sender, as for any failed delivery, honouring NOTIFY); or, when a
// notice would only add to the harm, the message is dropped without one: mail the filter judged spam (the
// sender is most likely forged: backscatter), the null sender and mailer-daemon or other system senders
// (RFC 5321 §4.5.5 and RFC 3834 §2: never a notice to a notice), and a sender SPF found forged at receipt
// (spf=fail in the receipt's Authentication-Results: the notice would go to someone who never sent the message).
import type { LocalDeliveryOutcome } from '../queue/router.ts';
import type { QueueEnvelope } from '../queue/types.ts';
import { isSystemSender, SPAM_ACTIONS } from './vacation-rules.ts';

export type RejectDecision = { kind: 'notice'; outcome: LocalDeliveryOutcome } | { kind: 'dropped'; why: 'spam' | 'null_sender' | 'system_sender' | 'forged_sender' };

/** Characters of the reason carried in the notice. */
const MAX_REASON_CHARS = 400;

/**
 * The filter judged the message spam: its copy for this recipient goes to Junk, or the message's action is one of
 * the spam actions (rewrite_subject and above, vacation-rules.ts). A notice to its sender is then backscatter more
 * often than not; Sieve rejects and alias member notices send none (README "Backscatter from local delivery").
 */
export function judgedSpam(envelope: Pick<QueueEnvelope, 'verdict'>, junk: boolean): boolean {
  return junk || (envelope.verdict !== undefined && SPAM_ACTIONS.has(envelope.verdict.action));
}

export function decideReject(envelope: QueueEnvelope, junk: boolean, reason: string): RejectDecision {
  if (judgedSpam(envelope, junk)) return { kind: 'dropped', why: 'spam' };
  // RFC 5321 §4.5.5: nothing is sent to the null reverse path
  if (envelope.mailFrom === '') return { kind: 'dropped', why: 'null_sender' };
  if (isSystemSender(envelope.mailFrom)) return { kind: 'dropped', why: 'system_sender' };
  // RFC 7208 §2.6.4: fail is an explicit statement that the client may not use the sender's domain
  if (envelope.auth !== undefined && spfResultOf(envelope.auth.results) === 'fail') return { kind: 'dropped', why: 'forged_sender' };
  const text = reason.replace(/\s+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '').trim().slice(0, MAX_REASON_CHARS);
  // RFC 5429 §2.1: the notice carries the reason the script gave; 5.7.1: delivery not authorized, refused
  return { kind: 'notice', outcome: { status: 'perm', reply: { code: 550, enhanced: '5.7.1', text: `rejected by the recipient's filter: ${text || 'no reason given'}` } } };
}

/** The SPF result of a receipt's Authentication-Results value (RFC 8601 §2.2: resinfo after the authserv-id, ';'-separated). */
function spfResultOf(results: string): string | undefined {
  for (const resinfo of results.split(';').slice(1)) {
    const m = /^\s*spf\s*=\s*([a-z]+)/i.exec(resinfo);
    if (m?.[1]) return m[1].toLowerCase();
  }
  return undefined;
}
