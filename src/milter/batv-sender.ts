// The BATV tag of our own outgoing mail in milter mode (draft-levine-smtp-batv-01 §4): the envelope sender the
// MTA hands the message on with, changed by SMFIR_CHGFROM. The rules are the SMTP gateway's one-transaction
// hand-off (queue/inline.ts): tagged only when every recipient is at another domain (a message the MTA also
// delivers to one of ours keeps the plain sender: the local copy's Return-Path, and replies to it, stay the
// user's); Batv.outgoingSender keeps the null sender, SRS addresses and domains outside batv.domains as they are.
import type { Batv } from '../batv/batv.ts';
import { Action, changeFrom } from './protocol.ts';

export type BatvSenderOutcome =
  | { status: 'tagged'; sender: string; packet: Buffer }
  /** The MTA did not grant SMFIF_CHGFROM (an MTA older than milter protocol 6, or one that withheld it). */
  | { status: 'not_granted' }
  | { status: 'unchanged' };

export interface BatvSenderInput {
  batv: Batv;
  mailFrom: string;
  /** The transaction's recipients (BATV tags at our domains already removed). */
  recipients: readonly string[];
  localDomains: readonly string[];
  actions: number;
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/\.$/, '');

export function tagSender(input: BatvSenderInput): BatvSenderOutcome {
  const local = new Set(input.localDomains.map((d) => d.toLowerCase()));
  const allRemote = input.recipients.length > 0 && input.recipients.every((r) => !local.has(domainOf(r)));
  // nothing to tag: checked before the grant, so an MTA without SMFIF_CHGFROM is reported only when it matters
  if (!allRemote || input.mailFrom === '' || !input.batv.signs(domainOf(input.mailFrom))) return { status: 'unchanged' };
  if ((input.actions & Action.CHGFROM) === 0) return { status: 'not_granted' };
  // counted (spamgate_batv_total{result="signed"}) only when the tag is written
  const sender = input.batv.outgoingSender(input.mailFrom);
  return sender === input.mailFrom ? { status: 'unchanged' } : { status: 'tagged', sender, packet: changeFrom(sender) };
}
