// Bounded MIME walk for the filter: multipart trees, transfer decoding, charsets to UTF-8, HTML to text.
// Never throws: malformed structure degrades to treating the rest as text and is noted in `problems`.
import { createHash } from 'node:crypto';
import { withoutFinalBlanks } from '../util/trim-end.ts';
import type { HeaderField } from '../checks/types.ts';
import { decodeCharset, decodeHeaderValue, headerValue, parseHeaderBlock, parseStructured, splitHeadBody } from './headers.ts';
import { addPageLinks, isAttachedPage } from './attached-page.ts';
import { htmlToText } from './html.ts';
import { LinkList } from './links.ts';
import { decodeTransfer } from './transfer.ts';

export interface MimeLimits {
  /** Bytes of the raw message looked at; the rest is ignored. */
  maxBytes: number;
  /** MIME parts visited (leaves and containers). */
  maxParts: number;
  /** Multipart / message nesting depth. */
  maxDepth: number;
}

export const DEFAULT_MIME_LIMITS: MimeLimits = { maxBytes: 512 * 1024, maxParts: 100, maxDepth: 10 };

export interface MimePart {
  /** Lower-cased media type, "text/plain" when absent (RFC 2045 §5.2). */
  type: string;
  charset?: string;
  encoding: string;
  disposition?: string;
  filename?: string;
  /** Encoded size in bytes. */
  size: number;
  depth: number;
}

export interface ParsedMail {
  /** Top-level header fields, values RFC 2047-decoded. */
  headers: HeaderField[];
  subject: string;
  /** Decoded text of text/plain parts. */
  text: string;
  /** Text of text/html parts after HTML-to-text. */
  htmlText: string;
  /** Raw HTML of text/html parts (bounded by maxBytes). */
  html: string;
  /** Link targets from HTML (href/src), without repeats (bounded: links.ts). */
  links: string[];
  /** Link targets of HTML attachments (a phishing page sent as invoice.html): for the URI block lists, not the text checks. */
  attachmentLinks: string[];
  /** HTML tag counts over all HTML parts. */
  htmlTags: Map<string, number>;
  parts: MimePart[];
  /** The whole raw message (header block, blank line, body) as a binary string, bounded by maxBytes. */
  raw: string;
  /** Raw body (after the top header block) as a binary string, bounded. */
  rawBody: string;
  truncated: boolean;
  problems: string[];
  /** SHA-256 (hex) and decoded size of each attachment (non-text or disposition attachment), read whole before maxBytes. */
  attachments: AttachmentHash[];
}

export interface AttachmentHash {
  sha256: string;
  size: number;
  /**
   * Shown in the body rather than attached: a Content-ID (referenced by the HTML), disposition inline, or an
   * image without disposition attachment. Signature logos are such parts, the same in much wanted mail.
   */
  inline: boolean;
}

interface Walk {
  limits: MimeLimits;
  mail: ParsedMail;
  texts: string[];
  htmlTexts: string[];
  htmls: string[];
  /** Multipart boundaries seen, for reading part headers past maxBytes. */
  boundaries: Set<string>;
  /** Fill mail.links and mail.attachmentLinks. */
  links: LinkList;
  attachmentLinks: LinkList;
}

/** Parses a raw message; the result is always usable, whatever the input. */
export function parseMail(raw: Buffer, limits: MimeLimits = DEFAULT_MIME_LIMITS): ParsedMail {
  const truncated = raw.length > limits.maxBytes;
  const binary = (truncated ? raw.subarray(0, limits.maxBytes) : raw).toString('latin1');
  const { head, body } = splitHeadBody(binary);
  const rawHeaders = parseHeaderBlock(head);
  const headers = rawHeaders.map((h) => ({ name: h.name, value: decodeHeaderValue(fixEightBit(h.value)) }));
  const subject = headerValue(headers, 'subject') ?? '';
  const mail: ParsedMail = { headers, subject, text: '', htmlText: '', html: '', links: [], attachmentLinks: [], htmlTags: new Map(), parts: [], raw: binary, rawBody: body, truncated, problems: [], attachments: [] };
  if (truncated) mail.problems.push('truncated');
  const walk: Walk = { limits, mail, texts: [], htmlTexts: [], htmls: [], boundaries: new Set(), links: new LinkList(500, mail.links), attachmentLinks: new LinkList(200, mail.attachmentLinks) };
  try {
    visit(walk, rawHeaders, body, 0);
    if (truncated) partsPastLimit(walk, raw, limits.maxBytes);
  } catch (err) {
    mail.problems.push(`parse error: ${(err as Error).message}`);
  }
  mail.text = walk.texts.join('\n');
  mail.htmlText = walk.htmlTexts.join('\n');
  mail.html = walk.htmls.join('\n');
  return mail;
}

function visit(w: Walk, headers: readonly HeaderField[], body: string, depth: number): void {
  if (w.mail.parts.length >= w.limits.maxParts) {
    if (!w.mail.problems.includes('too many parts')) w.mail.problems.push('too many parts');
    return;
  }
  const ct = parseStructured(headerValue(headers, 'content-type'));
  const type = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(ct.value) ? ct.value : 'text/plain';
  const encoding = (headerValue(headers, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  const disp = parseStructured(headerValue(headers, 'content-disposition'));
  const part: MimePart = { type, encoding, size: body.length, depth };
  if (ct.params.charset) part.charset = ct.params.charset.toLowerCase();
  if (disp.value) part.disposition = disp.value;
  const filename = disp.params.filename ?? ct.params.name;
  if (filename) part.filename = decodeHeaderValue(filename);
  w.mail.parts.push(part);

  if (type.startsWith('multipart/')) {
    const boundary = ct.params.boundary;
    if (boundary) w.boundaries.add(boundary);
    if (!boundary || depth >= w.limits.maxDepth) {
      w.mail.problems.push(boundary ? 'nesting too deep' : 'multipart without boundary');
      addText(w, body, 'text/plain', undefined, encoding);
      return;
    }
    const children = splitMultipart(body, boundary);
    if (children === undefined) {
      w.mail.problems.push('boundary not found');
      addText(w, body, 'text/plain', undefined, '7bit');
      return;
    }
    for (const child of children) {
      const { head, body: childBody } = splitHeadBody(child);
      // a part starting with a blank line has no headers (RFC 2046 §5.1.1)
      const childHeaders = /^\r?\n/.test(child) ? [] : parseHeaderBlock(head);
      visit(w, childHeaders, /^\r?\n/.test(child) ? child.replace(/^\r?\n/, '') : childBody, depth + 1);
    }
    return;
  }
  if (type === 'message/rfc822' && depth < w.limits.maxDepth) {
    const inner = encoding === 'base64' || encoding === 'quoted-printable' ? decodeTransfer(body, encoding).toString('latin1') : body;
    const { head, body: innerBody } = splitHeadBody(inner);
    const innerHeaders = parseHeaderBlock(head);
    const subject = headerValue(innerHeaders, 'subject');
    if (subject !== undefined) w.texts.push(decodeHeaderValue(fixEightBit(subject)));
    visit(w, innerHeaders, innerBody, depth + 1);
    return;
  }
  const isAttachment = part.disposition === 'attachment' || (part.filename !== undefined && !type.startsWith('text/'));
  if (type.startsWith('text/') && !isAttachment) addText(w, body, type, part.charset, encoding);
  else {
    if (isAttachedPage(type, part.filename)) addPageLinks(body, part.charset, encoding, w.attachmentLinks);
    // a part the cut may have shortened is not hashed: its digest would not be the attachment's
    if (!w.mail.truncated) {
      const inline = part.disposition === 'inline' || headerValue(headers, 'content-id') !== undefined || (type.startsWith('image/') && part.disposition !== 'attachment');
      hashAttachment(w, body, encoding, inline);
    }
  }
}

function hashAttachment(w: Walk, body: string, encoding: string, inline: boolean): void {
  try {
    const bytes = decodeTransfer(body, encoding);
    w.mail.attachments.push({ sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, inline });
  } catch {
    // undecodable: no digest
  }
}

/** Delimiter lines examined past maxBytes, and the header block read after each. */
const TAIL_DELIMITERS = 10_000;
const TAIL_HEADER_BYTES = 8192;
/** Spaces and tabs after a delimiter line that are still read as the delimiter (transport padding, RFC 2046 §5.1.1). */
const MAX_DELIMITER_PADDING = 128;

/**
 * Past maxBytes nothing is decoded, but the parts' header blocks are still read (cheap: a search for the
 * known boundaries, then a few kilobytes each), so an executable attached after a large image is listed
 * in `parts` for the MIME rules. Body text there stays unread.
 */
function partsPastLimit(w: Walk, raw: Buffer, from: number): void {
  if (w.boundaries.size === 0) return;
  // mail programs accept boundaries past RFC 2046's 70 characters: the longest one known sets the bound
  let longest = 0;
  for (const b of w.boundaries) longest = Math.max(longest, b.length);
  // Start a header block's length before the cut: a part whose headers the cut split was recorded from half
  // of them, and one whose delimiter line the cut split was not recorded at all.
  const back = Math.max(0, from - TAIL_HEADER_BYTES);
  let pos = back === 0 ? 0 : raw.lastIndexOf(0x0a, back - 1) + 1;
  for (let n = 0; n < TAIL_DELIMITERS && pos < raw.length && w.mail.parts.length < w.limits.maxParts; n++) {
    const at = raw.indexOf('--', pos, 'latin1');
    if (at < 0) return;
    const lineEnd = raw.indexOf(0x0a, at);
    pos = lineEnd < 0 ? raw.length : lineEnd + 1;
    if (at > 0 && raw[at - 1] !== 0x0a) continue;
    const stop = lineEnd < 0 ? raw.length : lineEnd;
    // a line longer than every known delimiter (and its padding) is content, not even read as text
    if (stop - at > 2 + longest + MAX_DELIMITER_PADDING) continue;
    const line = withoutFinalBlanks(raw.subarray(at + 2, stop).toString('latin1'));
    if (!w.boundaries.has(line)) continue; // a close delimiter ("--b--") or content
    const block = raw.subarray(pos, Math.min(raw.length, pos + TAIL_HEADER_BYTES)).toString('latin1');
    const { head } = splitHeadBody(block);
    const headEnd = pos + head.length;
    // before the cut, delimiter and headers whole: visit() has this part already
    if (lineEnd >= 0 && lineEnd < from && headEnd + 2 <= from) continue;
    // delimiter before the cut, headers across it: visit() recorded the part from the part of its headers it saw
    const replaces = lineEnd >= 0 && lineEnd < from && w.mail.parts.length > 1;
    const headers = parseHeaderBlock(head);
    const ct = parseStructured(headerValue(headers, 'content-type'));
    const type = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(ct.value) ? ct.value : 'text/plain';
    if (type.startsWith('multipart/') && ct.params.boundary) w.boundaries.add(ct.params.boundary);
    const disp = parseStructured(headerValue(headers, 'content-disposition'));
    const part: MimePart = { type, encoding: (headerValue(headers, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase(), size: 0, depth: 1 };
    if (disp.value) part.disposition = disp.value;
    const filename = disp.params.filename ?? ct.params.name;
    if (filename) part.filename = decodeHeaderValue(filename);
    if (replaces) w.mail.parts[w.mail.parts.length - 1] = part;
    else w.mail.parts.push(part);
  }
}

function addText(w: Walk, body: string, type: string, charset: string | undefined, encoding: string): void {
  let text: string;
  try {
    text = decodeCharset(decodeTransfer(body, encoding), charset);
  } catch {
    text = body;
  }
  if (type === 'text/html') {
    const h = htmlToText(text);
    w.htmls.push(text);
    w.htmlTexts.push(h.text);
    for (const l of h.links) w.links.add(l);
    for (const [k, v] of h.tags) w.mail.htmlTags.set(k, (w.mail.htmlTags.get(k) ?? 0) + v);
  } else if (type === 'text/plain' || type === 'text/enriched' || type === 'text/rfc822-headers') {
    w.texts.push(text);
  }
}

/**
 * Splits a multipart body at delimiter lines (RFC 2046 §5.1.1): "--boundary" then only white space to the
 * end of the line, or "--boundary--" to close. A line that merely starts with "--boundary" (such as a
 * nested part's "--boundary2") is content. Preamble and epilogue dropped; a missing close delimiter keeps
 * the last part. Returns undefined when no delimiter occurs.
 */
export function splitMultipart(body: string, boundary: string): string[] | undefined {
  return readMultipart(body, boundary)?.parts;
}

/** A multipart body's parts with its preamble (before the first delimiter) and epilogue (after the close delimiter). */
export interface MultipartBody {
  parts: string[];
  preamble: string;
  /** Empty when the close delimiter is missing. */
  epilogue: string;
}

/** As splitMultipart, keeping the preamble and epilogue (RFC 2046 §5.1.1: the CRLF before a delimiter belongs to it). */
export function readMultipart(body: string, boundary: string): MultipartBody | undefined {
  const delim = '--' + boundary;
  const parts: string[] = [];
  let line = delimiterLine(body, delim, 0);
  if (line === undefined) return undefined;
  const preamble = body.slice(0, Math.max(0, line.start - (body.charCodeAt(line.start - 2) === 13 ? 2 : 1)));
  for (let guard = 0; guard < 10_000 && !line.close && line.end < body.length; guard++) {
    const start = line.end + 1;
    const next = delimiterLine(body, delim, start);
    if (next === undefined) {
      parts.push(body.slice(start));
      break;
    }
    // the line break before the delimiter belongs to the delimiter (RFC 2046 §5.1.1)
    let end = next.start - 1;
    if (end > start && body.charCodeAt(end - 1) === 13) end--;
    parts.push(body.slice(start, Math.max(start, end)));
    line = next;
  }
  return { parts, preamble, epilogue: line.close ? body.slice(line.end + 1) : '' };
}

/** The next delimiter line at or after `from`: where it starts, the index of its line end, and whether it closes. */
function delimiterLine(body: string, delim: string, from: number): { start: number; end: number; close: boolean } | undefined {
  for (let p = body.indexOf(delim, from); p >= 0; p = body.indexOf(delim, p + 1)) {
    if (p > 0 && body.charCodeAt(p - 1) !== 10) continue;
    let q = p + delim.length;
    // a close delimiter stands whatever follows it on its line (generators have been seen appending markup)
    if (body.startsWith('--', q)) {
      const eol = body.indexOf('\n', q);
      return { start: p, end: eol < 0 ? body.length : eol, close: true };
    }
    while (q < body.length && (body.charCodeAt(q) === 32 || body.charCodeAt(q) === 9 || body.charCodeAt(q) === 13)) q++;
    if (q < body.length && body.charCodeAt(q) !== 10) continue;
    return { start: p, end: q, close: false };
  }
  return undefined;
}

/** Header bytes read as latin1 that are really UTF-8 (RFC 6532) are re-decoded. */
function fixEightBit(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  const utf8 = bytes.toString('utf8');
  return utf8.includes('\ufffd') ? value : utf8;
}
