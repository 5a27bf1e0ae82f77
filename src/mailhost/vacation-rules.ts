// Out-of-office replies, the rules of RFC 3834 §2: which delivered messages get an automatic reply and which
// never do (bounces, automatic messages, mailing lists, bulk mail, the user's own mail, system senders, mail
// that does not name the user in To or Cc, spam). Pure: the caller gives the headers, the setting and the time.
import addressparser from 'nodemailer/lib/addressparser';
import type { HeaderField } from '../checks/types.ts';
import type { VacationConfig } from '../config/sections/mailhost.ts';
import { headerValue, parseHeaderBlock, splitHeadBody } from '../mime/headers.ts';

/** Every reason a reply is not sent: the `result` label values of spamgate_vacation_replies_total besides `sent` and `failed`. */
export const SUPPRESS_REASONS = [
  'expired',
  'spam',
  'null_sender',
  'auto_submitted',
  'mailing_list',
  'bulk_precedence',
  'own_address',
  'system_sender',
  'not_in_to_cc',
  'already_replied',
] as const;
export type SuppressReason = (typeof SUPPRESS_REASONS)[number];

export type VacationDecision = { kind: 'reply' } | { kind: 'suppressed'; reason: SuppressReason };

export interface VacationInput {
  setting: VacationConfig;
  /** The user (canonical address). */
  user: string;
  /** Envelope sender, '' for the null sender. */
  mailFrom: string;
  fields: readonly HeaderField[];
  /** The verdict's action (absent: not filtered, e.g. submitted by a local user). */
  verdictAction?: string;
  /** True when the address names this user: the user's own, an alias or sub-address that reaches them. */
  isUsersAddress: (address: string) => boolean;
  nowMs: number;
}

/** The header fields of a message (its first 64 KiB at most). */
export function headerFieldsOf(raw: Buffer): HeaderField[] {
  const text = raw.subarray(0, 65_536).toString('utf8');
  return parseHeaderBlock(splitHeadBody(text).head);
}

/** The end of the `until` day (UTC), ms; no replies from then on. */
export function vacationEndMs(until: string): number {
  return Date.parse(`${until}T00:00:00Z`) + 86_400_000;
}

/**
 * Local parts of senders that are programs or role mailboxes, never people (RFC 3834 §2: no replies to
 * bounces and other automatic messages, which come from such addresses; `owner-` and `-request` are list
 * addresses, RFC 2142 §4).
 */
const SYSTEM_LOCAL =
  /^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|noreply-.*|bounces?|bounce[-+].*|listserv|majordomo|mailman|list(?:master)?|owner-.*|.*-request|.*-owner|.*-bounces?(?:\+.*)?)$/i;

/** Precedence values bulk mailers and lists set (RFC 3834 §2; RFC 2076 §3.9). */
const BULK_PRECEDENCE = new Set(['bulk', 'list', 'junk']);

/** Verdicts that mark a message as spam even when it was delivered to INBOX. */
export const SPAM_ACTIONS: ReadonlySet<string> = new Set(['rewrite_subject', 'junk', 'quarantine', 'reject', 'tempfail']);

/** True for a sender that is a program or role mailbox (mailer-daemon, postmaster, list and bounce addresses). */
export function isSystemSender(address: string): boolean {
  return SYSTEM_LOCAL.test(localPart(address));
}

function localPart(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at);
}

/** The addresses of To and Cc (all fields of each name: a message may wrongly carry two). */
export function toAndCcAddresses(fields: readonly HeaderField[]): string[] {
  const out: string[] = [];
  for (const f of fields) {
    const name = f.name.toLowerCase();
    if (name !== 'to' && name !== 'cc') continue;
    for (const a of addressparser(f.value, { flatten: true }).slice(0, 500)) if (a.address) out.push(a.address);
  }
  return out;
}

export function decideVacation(input: VacationInput): VacationDecision {
  const no = (reason: SuppressReason): VacationDecision => ({ kind: 'suppressed', reason });
  const { setting, fields } = input;
  if (setting.until !== undefined && input.nowMs >= vacationEndMs(setting.until)) return no('expired');
  if (input.verdictAction !== undefined && SPAM_ACTIONS.has(input.verdictAction)) return no('spam');
  // RFC 3834 §2 / RFC 5321 §4.5.5: nothing is ever sent to the null reverse path.
  if (input.mailFrom === '') return no('null_sender');
  // RFC 3834 §2, §5: Auto-Submitted with any value other than "no" is an automatic message.
  const auto = headerValue(fields, 'auto-submitted');
  if (auto !== undefined && auto.split(';')[0]?.trim().toLowerCase() !== 'no') return no('auto_submitted');
  // RFC 3834 §2: no replies to mailing lists (RFC 2369 List-* and RFC 2919 List-Id fields).
  if (fields.some((f) => f.name.toLowerCase().startsWith('list-'))) return no('mailing_list');
  const precedence = headerValue(fields, 'precedence');
  if (precedence !== undefined && BULK_PRECEDENCE.has(precedence.trim().toLowerCase())) return no('bulk_precedence');
  if (input.mailFrom.toLowerCase() === input.user || input.isUsersAddress(input.mailFrom)) return no('own_address');
  if (isSystemSender(input.mailFrom)) return no('system_sender');
  // RFC 3834 §2: a reply only when the user is named in To or Cc, not for Bcc or mail that reached them by a list.
  if (!toAndCcAddresses(fields).some((a) => a.toLowerCase() === input.user || input.isUsersAddress(a))) return no('not_in_to_cc');
  return { kind: 'reply' };
}
