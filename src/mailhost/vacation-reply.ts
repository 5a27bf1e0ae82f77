// The out-of-office reply itself (RFC 3834 §3): from the user to the envelope sender, from the null reverse
// path, Subject "Auto: " + the original's (or the one set), In-Reply-To/References, Auto-Submitted: auto-replied,
// a text/plain UTF-8 body; and the envelope it is queued with.
import { randomBytes } from 'node:crypto';
import type { HeaderField } from '../checks/types.ts';
import type { VacationConfig } from '../config/sections/mailhost.ts';
import { decodeHeaderValue, headerValue } from '../mime/headers.ts';
import { encodeQuotedPrintable } from '../mime/transfer.ts';
import type { QueueEnvelope } from '../queue/types.ts';
import { fromAddress } from '../sieve/vacation-args.ts';
import { isAscii } from '../smtp/utf8-addr.ts';

export interface VacationReplyInput {
  setting: VacationConfig;
  /** The user: the From of the reply (unless `from` is given). */
  user: string;
  /** A Sieve vacation's :from (already checked to be one of the user's addresses), as written ("Name <a@b>" or a@b). */
  from?: string;
  /** RFC 5230 §4.4: the message is a MIME entity (its own Content-Type and headers, then the body). */
  mime?: boolean;
  /** The envelope sender of the original: the reply's only recipient. */
  to: string;
  /** Header fields of the original. */
  fields: readonly HeaderField[];
  nowMs: number;
  /** Queue id of the original, for the reply's session id in logs. */
  queueId: string;
}

/** RFC 2047 §2: encoded words are at most 75 characters; UTF-8 text is cut on character boundaries. */
export function encodeHeaderText(text: string): string {
  if (!/[^\x20-\x7e]/.test(text)) return text;
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    // "=?UTF-8?B?" + "?=" is 12 characters: 63 base64 characters (45 bytes of text) fit in one word
    if (Buffer.byteLength(chunk + ch, 'utf8') > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join('\r\n ');
}

/** A msg-id of the original (RFC 5322 §3.6.4), or undefined when it has none that can be quoted. */
function msgIds(value: string | undefined, max: number): string[] {
  if (value === undefined) return [];
  const ids = value.match(/<[^<>\s]{1,250}@[^<>\s]{1,250}>/g) ?? [];
  return ids.slice(-max);
}

/** RFC 5321 §2.3.8: every line break of a text (CRLF, bare CR, bare LF) as CRLF, nothing bare left to sign or relay. */
const crlf = (s: string): string => s.replace(/\r\n|\r|\n/g, '\r\n');

const oneLine = (s: string): string => s.replace(/[\r\n\t]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '').trim();

/** RFC 3834 §3.1.5: the configured subject, else "Auto: " and the original's (decoded, then encoded again). */
export function replySubject(setting: VacationConfig, fields: readonly HeaderField[]): string {
  if (setting.subject !== undefined) return setting.subject;
  const original = oneLine(decodeHeaderValue(headerValue(fields, 'subject') ?? '')).slice(0, 200);
  return `Auto: ${original}`.trim();
}

/** A From field of a :from value: its address, and its display name (RFC 2047-encoded when not ASCII) if any. */
function fromField(value: string): string {
  const address = fromAddress(value);
  const at = value.lastIndexOf('<');
  const name = at > 0 ? oneLine(value.slice(0, at)).replace(/^"(.*)"$/, '$1').replace(/["\\]/g, '') : '';
  if (name === '') return `<${address}>`;
  return /[^\x20-\x7e]/.test(name) ? `${encodeHeaderText(name)} <${address}>` : `"${name}" <${address}>`;
}

/** RFC 5230 §4.4: a :mime reason split into its MIME header lines and body; undefined when it has no header block. */
function mimeEntity(reason: string): { head: string[]; body: string } | undefined {
  const text = crlf(reason);
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = text.slice(0, end).split('\r\n');
  // only Content-* fields (and their folded lines) are taken from the script: it cannot set From, To or Subject
  if (!head.every((l) => /^content-[a-z0-9-]+:/i.test(l) || /^[ \t]\S/.test(l))) return undefined;
  return { head, body: text.slice(end + 4).replace(/(?:\r\n)?$/, '\r\n') };
}

export function buildVacationReply(input: VacationReplyInput): { envelope: QueueEnvelope; message: Buffer } {
  const domain = input.user.slice(input.user.lastIndexOf('@') + 1);
  const entity = input.mime ? mimeEntity(input.setting.message) : undefined;
  const date = new Date(input.nowMs).toUTCString().replace('GMT', '+0000');
  const [messageId] = msgIds(headerValue(input.fields, 'message-id'), 1);
  // RFC 3834 §3.1.4 / RFC 5322 §3.6.4: the parent's References (its last ids, bounded) and its Message-ID.
  const references = messageId ? [...msgIds(headerValue(input.fields, 'references'), 10).filter((id) => id !== messageId), messageId] : [];
  const body = crlf(input.setting.message).replace(/(?:\r\n)?$/, '\r\n');
  const ascii = isAscii(body) && !/^.{999}/m.test(body);
  const head = [
    `From: ${input.from !== undefined ? fromField(input.from) : `<${input.user}>`}`,
    // RFC 3834 §3.1.3: to the envelope sender, where a reply about delivery belongs
    `To: <${oneLine(input.to)}>`,
    `Subject: ${encodeHeaderText(replySubject(input.setting, input.fields))}`,
    `Date: ${date}`,
    `Message-ID: <vacation.${randomBytes(9).toString('hex')}@${domain}>`,
    ...(messageId ? [`In-Reply-To: ${messageId}`, `References: ${references.join('\r\n ')}`] : []),
    // RFC 3834 §5.1: the mark that stops other responders from answering this reply
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    ...(entity ? entity.head : ['Content-Type: text/plain; charset=utf-8', `Content-Transfer-Encoding: ${ascii ? '7bit' : 'quoted-printable'}`]),
  ].join('\r\n');
  const text = entity ? entity.body : ascii ? body : encodeQuotedPrintable(Buffer.from(body, 'utf8').toString('latin1'));
  // RFC 3834 §3.3: from the null reverse path, so that no bounce or further reply comes back; no notices asked.
  const envelope: QueueEnvelope = {
    mailFrom: '',
    rcptTo: [input.to],
    sessionId: `vacation-${input.queueId}`,
    clientIp: '127.0.0.1',
    receivedAt: input.nowMs,
    rcptDsn: { [input.to]: { notify: ['NEVER'] } },
    ...(isAscii(input.to) ? {} : { smtputf8: true }),
  };
  return { envelope, message: Buffer.from(`${head}\r\n\r\n${text}`, 'utf8') };
}
