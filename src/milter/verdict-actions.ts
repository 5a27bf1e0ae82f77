// Turns a judged message into the milter's end-of-body answer: the header changes (forged own fields deleted,
// X-Spamgate-Result and the checks' fields inserted below the MTA's own Received field, Subject tagged) and the final step: continue,
// or the MTA's quarantine (Postfix: the hold queue) when spamgate would have quarantined the message.
import { formatResultHeader } from '../scoring/explain.ts';
import type { Action, Verdict } from '../scoring/scorer.ts';
import { isForgedOwnHeader } from '../smtp/data-judge.ts';
import type { Decision } from '../smtp/recipient-verdicts.ts';
import type { HeaderField } from './message-buffer.ts';
import { Action as Granted, addHeader, addRecipient, changeHeader, deleteRecipient, insertHeader, packet, quarantine, Reply, replyCode } from './protocol.ts';

export interface EndOfBody {
  /** Packets to send, in order; the last one is the final reply. */
  packets: Buffer[];
  /** The action taken, for metrics and the log line. */
  action: Action;
  /** What the log line records as the reply. */
  reply: string;
}

export interface EndOfBodyInput {
  decision: Decision;
  headers: readonly HeaderField[];
  /** Fields the checks added (session's, then the transaction's), in order. */
  added: readonly [string, string][];
  sessionId: string;
  hostname: string;
  subjectPrefix: string;
  /** milter.junk: tag the message (subject, header) or hold it as quarantine does. */
  junk: 'tag' | 'hold';
  /** Negotiated SMFIP_HDR_LEADSPC: values we send carry their leading space. */
  leadingSpace: boolean;
  /** The actions the MTA granted (SMFIF_*): no other change is asked of it. */
  actions: number;
  /** Recipients the MTA has as given (a BATV tag at our domains) that spamgate took as their plain address. */
  replacedRecipients: readonly RecipientReplacement[];
  /**
   * False for our own outgoing mail to another domain (outbound.ts withoutResultField): X-Spamgate-Result is not
   * inserted, as the SMTP gateway's copies for other domains go without it. Default true.
   */
  resultField?: boolean;
}

export interface RecipientReplacement {
  /** As the MTA reported it in RCPT. */
  given: string;
  plain: string;
}

/** What a hold becomes when the MTA did not grant SMFIF_QUARANTINE: the message is neither delivered nor lost. */
export const NO_QUARANTINE_REPLY = { code: 451, enhanced: '4.7.1', text: 'Message held for review, try again later' } as const;

/** A header value folded at spaces for the milter (lines joined by LF and a tab, as MTAs take them). */
export function foldValue(name: string, value: string): string {
  const lines: string[] = [];
  let line = '';
  let width = name.length + 2;
  for (const word of value.split(' ')) {
    if (line && width + 1 + word.length > 78) {
      lines.push(line);
      line = word;
      width = 8 + word.length;
    } else {
      line = line ? `${line} ${word}` : word;
      width += (line === word ? 0 : 1) + word.length;
    }
  }
  lines.push(line);
  return lines.join('\n\t');
}

/**
 * A field value as the MTA takes it: line breaks are LF only (the MTA writes its own CRLF; a CR would stay in the
 * line). A value its writer folded (Authentication-Results) keeps that folding; another is folded at spaces.
 */
export function milterValue(name: string, value: string): string {
  return /[\r\n]/.test(value) ? value.replace(/\r\n|\r/g, '\n') : foldValue(name, value);
}

export function endOfBody(input: EndOfBodyInput): EndOfBody {
  const { decision } = input;
  const can = (a: number): boolean => (input.actions & a) !== 0;
  const canQuarantine = can(Granted.QUARANTINE);
  // a message to quarantine that the MTA cannot hold is refused for now (451); the junk hold falls back to tagging
  if (decision.quarantine && !canQuarantine) {
    const r = NO_QUARANTINE_REPLY;
    return { packets: [replyCode(r.code, r.enhanced, r.text)], action: 'tempfail', reply: `${r.code} ${r.enhanced} ${r.text}` };
  }
  const out: Buffer[] = [];
  const lead = (v: string): string => (input.leadingSpace ? ` ${v}` : v);
  // forged fields go from the last to the first, so no deletion moves the index of another
  for (const h of can(Granted.CHGHDRS) ? [...input.headers].reverse() : []) {
    if (isForgedOwnHeader(h.name, h.value, input.hostname)) out.push(changeHeader(h.index, h.name, ''));
  }
  const hold = decision.quarantine !== undefined || (decision.verdict.action === 'junk' && input.junk === 'hold' && canQuarantine);
  const verdict: Verdict = decision.quarantine?.verdict ?? decision.verdict;
  const action: Action = hold ? 'quarantine' : verdict.action;
  if (!hold && (verdict.action === 'rewrite_subject' || verdict.action === 'junk')) out.push(...tagSubject(input.headers, input.subjectPrefix, lead, can(Granted.CHGHDRS), can(Granted.ADDHDRS)));
  const result: [string, string][] = input.resultField === false ? [] : [['X-Spamgate-Result', formatResultHeader(verdict, input.sessionId)]];
  const fields: [string, string][] = can(Granted.ADDHDRS) ? [...result, ...input.added] : [];
  // each inserted at index 1, below the MTA's Received field (Postfix and Sendmail show it as the first), the last
  // first, so they read in order
  for (const [name, value] of fields.reverse()) out.push(insertHeader(1, name, lead(milterValue(name, value))));
  // the MTA delivers (or holds) to the plain address, as the SMTP gateway would have
  if (can(Granted.DELRCPT) && can(Granted.ADDRCPT)) {
    for (const r of input.replacedRecipients) out.push(deleteRecipient(r.given), addRecipient(r.plain));
  }
  if (hold) out.push(quarantine(`spamgate ${input.sessionId}: ${verdict.decidedBy}, score ${verdict.score}`));
  out.push(packet(Reply.CONTINUE));
  return { packets: out, action, reply: hold ? 'milter: held (quarantine)' : 'milter: continue' };
}

/** Every Subject field gets the prefix once (a message without one gets a Subject of the prefix, appended). */
function tagSubject(headers: readonly HeaderField[], prefix: string, lead: (v: string) => string, change: boolean, add: boolean): Buffer[] {
  const subjects = headers.filter((h) => h.name.toLowerCase() === 'subject');
  // appended: a field at the top would sit above the MTA's trace fields (RFC 5321 §4.4)
  if (subjects.length === 0) return add ? [addHeader('Subject', lead(prefix))] : [];
  if (!change) return [];
  return subjects.filter((h) => !h.value.startsWith(prefix)).map((h) => changeHeader(h.index, h.name, lead(`${prefix} ${h.value}`)));
}
