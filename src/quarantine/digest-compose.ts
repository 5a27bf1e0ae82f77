// One recipient's quarantine digest as a message: multipart/alternative (RFC 2046 §5.1.4) with a text/plain and a
// text/html part (both UTF-8, base64 so no line or 8-bit limit applies on the way), per item the date, sender,
// subject (RFC 2047 decoded, control and bidi characters taken out, truncated), score and main symbols, and the
// release and delete links when base_url is set (and, with list links, release-and-allow and delete-and-block per
// item and one link to the recipient's sender lists). Marked Auto-Submitted: auto-generated (RFC 3834 §5: a message
// made by a process, not in reply to one), so vacation responders and the like do not answer it.
import { randomBytes } from 'node:crypto';
import { decodeHeaderValue } from '../mime/headers.ts';

export interface DigestItem {
  id: string;
  receivedAt: number;
  /** Envelope sender ('' for the null sender). */
  sender: string;
  /** The Subject as received (may hold RFC 2047 encoded words). */
  subject: string;
  score: number;
  /** The symbols that weighed most, highest first. */
  symbols: string[];
  /** allow and block: release and allow the sender, delete and block it (full-stack mode with list links). */
  links?: { release: string; delete: string; allow?: string; block?: string };
}

export interface DigestInput {
  from: string;
  to: string;
  hostname: string;
  now: number;
  /** Listed, newest first. */
  items: DigestItem[];
  /** Held for the recipient too, but not listed ("and K more"). */
  more: number;
  /** quarantine.max_age, for the note on when held mail goes. */
  maxAgeMs: number;
  /** The recipient's "manage my sender lists" page. */
  listsLink?: string;
}

/** Characters of a subject shown at most. */
export const SUBJECT_CHARS = 120;
const SENDER_CHARS = 100;

/**
 * Text from a header for showing: encoded words decoded, control and format characters (bidi overrides, zero-width
 * ones, line and paragraph separators) taken out, white space folded, at most `max` characters (… when cut).
 */
export function displayText(raw: string, max: number): string {
  const clean = decodeHeaderValue(raw)
    .replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\p{Cf}/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = [...clean];
  return chars.length <= max ? clean : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** "2026-12-07 09:12 UTC". */
export const digestDate = (t: number): string => `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

const senderOf = (s: string): string => (s === '' ? '<>' : displayText(s, SENDER_CHARS));
const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

function intro(input: DigestInput): string {
  const total = input.items.length + input.more;
  const days = Math.max(1, Math.round(input.maxAgeMs / 86_400_000));
  return `${plural(total, 'message')} addressed to ${input.to} ${total === 1 ? 'was' : 'were'} held in the quarantine of ${input.hostname} as probable spam since the last digest. Held messages are deleted after ${plural(days, 'day')}.`;
}

export function digestText(input: DigestInput): string {
  const lines = [`Quarantine digest for ${input.to}`, '', intro(input), ''];
  input.items.forEach((item, i) => {
    lines.push(`${i + 1}. ${digestDate(item.receivedAt)}  from ${senderOf(item.sender)}`);
    lines.push(`   Subject: ${displayText(item.subject, SUBJECT_CHARS) || '(none)'}`);
    lines.push(`   Score ${item.score.toFixed(1)}${item.symbols.length ? ` (${item.symbols.join(', ')})` : ''}`);
    if (item.links) lines.push(`   Release: ${item.links.release}`, `   Delete:  ${item.links.delete}`);
    if (item.links?.allow) lines.push(`   Release and always allow this sender: ${item.links.allow}`);
    if (item.links?.block) lines.push(`   Delete and block this sender: ${item.links.block}`);
    lines.push('');
  });
  if (input.more > 0) lines.push(`... and ${input.more} more (older) not listed here.`, '');
  if (input.listsLink) lines.push(`Manage my sender lists: ${input.listsLink}`, '');
  if (input.items.some((i) => i.links)) lines.push('A link opens a page that asks you to confirm; it works for you alone, until it expires.', '');
  return lines.join('\r\n');
}

export function digestHtml(input: DigestInput): string {
  const rows = input.items
    .map((item) => {
      const l = item.links;
      const listed = l?.allow && l.block ? `<br><a href="${escapeHtml(l.allow)}">Release and always allow this sender</a> · <a href="${escapeHtml(l.block)}">Delete and block this sender</a>` : '';
      const links = l ? `<td><a href="${escapeHtml(l.release)}">Release</a> · <a href="${escapeHtml(l.delete)}">Delete</a>${listed}</td>` : '';
      const symbols = item.symbols.length ? `<br><small>${escapeHtml(item.symbols.join(', '))}</small>` : '';
      return `<tr><td>${escapeHtml(digestDate(item.receivedAt))}</td><td>${escapeHtml(senderOf(item.sender))}</td><td>${escapeHtml(displayText(item.subject, SUBJECT_CHARS) || '(none)')}</td><td>${escapeHtml(item.score.toFixed(1))}${symbols}</td>${links}</tr>`;
    })
    .join('\r\n');
  const head = `<tr><th>Date</th><th>From</th><th>Subject</th><th>Score</th>${input.items.some((i) => i.links) ? '<th></th>' : ''}</tr>`;
  const more = input.more > 0 ? `<p>… and ${input.more} more (older) not listed here.</p>` : '';
  return [
    '<!DOCTYPE html>',
    `<html><head><meta charset="utf-8"><title>Quarantine digest</title></head><body>`,
    `<h1>Quarantine digest for ${escapeHtml(input.to)}</h1>`,
    `<p>${escapeHtml(intro(input))}</p>`,
    `<table border="1" cellpadding="4" cellspacing="0">${head}\r\n${rows}</table>`,
    more,
    input.listsLink ? `<p><a href="${escapeHtml(input.listsLink)}">Manage my sender lists</a></p>` : '',
    '</body></html>',
    '',
  ].join('\r\n');
}

/** RFC 2045 §6.8: base64 in lines of at most 76 characters. */
const base64Lines = (s: string): string => (Buffer.from(s, 'utf8').toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

export function composeDigest(input: DigestInput): Buffer {
  const boundary = `=_spamgate_digest_${randomBytes(9).toString('hex')}`;
  const total = input.items.length + input.more;
  const head = [
    `From: <${input.from}>`,
    `To: <${input.to}>`,
    `Date: ${new Date(input.now).toUTCString().replace('GMT', '+0000')}`,
    `Subject: Quarantine digest: ${plural(total, 'message')} held for you`,
    `Message-ID: <qdigest.${randomBytes(9).toString('hex')}@${input.hostname}>`,
    // RFC 3834 §5: automatic messages carry Auto-Submitted; "auto-generated" for ones not answering a message
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative;\r\n boundary="${boundary}"`,
  ].join('\r\n');
  const part = (type: string, body: string): string => [`--${boundary}`, `Content-Type: ${type}; charset=utf-8`, 'Content-Transfer-Encoding: base64', '', base64Lines(body)].join('\r\n');
  const body = ['This is a multipart message in MIME format.', '', part('text/plain', digestText(input)), part('text/html', digestHtml(input)), `--${boundary}--`, ''].join('\r\n');
  return Buffer.from(`${head}\r\n\r\n${body}`, 'utf8');
}
