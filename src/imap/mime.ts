// MIME tree with byte offsets for FETCH: ENVELOPE, BODY/BODYSTRUCTURE and BODY[section] (RFC 3501 §6.4.5, §7.4.2).
import { encodedWords, rfc2231Param } from '../mime/downgrade.ts';
import { headerText, str as strOf, ustr } from './encode.ts';
import { envelopeOf, type AddressMemo } from './envelope.ts';
import { splitParams as splitHeaderParams } from '../mime/headers.ts';

export interface Header {
  /** Lower-cased field name. */
  name: string;
  /** Unfolded value, whitespace-trimmed. */
  value: string;
}

export interface MimePart {
  start: number;
  bodyStart: number;
  end: number;
  headers: Header[];
  type: string;
  subtype: string;
  params: [string, string][];
  children: MimePart[];
  /** The embedded message of a message/rfc822 part. */
  message?: MimePart;
}

// BODYSTRUCTURE strings come from header fields (latin1 code units of the bytes): 8-bit text is read as the UTF-8 it
// is, as in ENVELOPE, not re-encoded code unit by code unit (a UTF-8 "é" went out as "Ã©"). As ENVELOPE, two forms
// (RFC 6855 §3): UTF-8 for a client that enabled UTF8=ACCEPT, and 7-bit for the others, where a parameter in UTF-8
// becomes an RFC 2231 extended parameter and other text RFC 2047 encoded words, as RFC 6857 §3 downgrades them.
/** How the strings of one BODYSTRUCTURE are written. */
interface Form {
  utf8: boolean;
  /** A string from header text (never NIL). */
  s: (v: string) => string;
}
const LEGACY: Form = { utf8: false, s: (v) => strOf(encodedWords(headerText(v))) };
const UTF8: Form = { utf8: true, s: (v) => ustr(headerText(v)) };
const nstrIn = (form: Form, v: string | undefined): string => (v === undefined ? 'NIL' : form.s(v));

const MAX_DEPTH = 20;
const MAX_PARTS = 500;

export function parseMime(raw: Buffer): MimePart {
  const budget = { parts: 0 };
  return parsePart(raw, 0, raw.length, undefined, 0, budget);
}

function parsePart(raw: Buffer, start: number, end: number, defaultType: string | undefined, depth: number, budget: { parts: number }): MimePart {
  budget.parts++;
  let bodyStart: number;
  if (raw[start] === 13 && raw[start + 1] === 10) bodyStart = start + 2;
  else {
    // searched within the part only: a search to the end of the message for each of 500 parts is quadratic
    const idx = raw.subarray(start, end).indexOf('\r\n\r\n');
    bodyStart = idx < 0 ? end : start + idx + 4;
  }
  const headers = parseHeaders(raw.subarray(start, bodyStart).toString('latin1'));
  const ct = headers.find((h) => h.name === 'content-type')?.value ?? defaultType ?? 'text/plain; charset=us-ascii';
  const { type, subtype, params } = parseContentType(ct);
  const part: MimePart = { start, bodyStart, end, headers, type, subtype, params, children: [] };
  if (depth >= MAX_DEPTH || budget.parts >= MAX_PARTS) return part;
  if (type === 'multipart') {
    const boundary = params.find(([k]) => k === 'boundary')?.[1];
    if (boundary) part.children = splitMultipart(raw, bodyStart, end, boundary).map(([s, e]) => parsePart(raw, s, e, subtype === 'digest' ? 'message/rfc822' : undefined, depth + 1, budget));
  } else if (type === 'message' && subtype === 'rfc822') {
    part.message = parsePart(raw, bodyStart, end, undefined, depth + 1, budget);
  }
  return part;
}

function splitMultipart(raw: Buffer, start: number, end: number, boundary: string): [number, number][] {
  const delim = Buffer.from('--' + boundary, 'latin1');
  const out: [number, number][] = [];
  let partStart = -1;
  let pos = start;
  for (let guard = 0; guard < MAX_PARTS && pos < end; guard++) {
    const found = raw.subarray(pos, end).indexOf(delim);
    if (found < 0) break;
    const idx = pos + found;
    const atLineStart = idx === start || (raw[idx - 1] === 10 && raw[idx - 2] === 13);
    if (!atLineStart) {
      pos = idx + delim.length;
      continue;
    }
    const lineFound = raw.subarray(idx, end).indexOf('\r\n');
    const lineEnd = lineFound < 0 ? -1 : idx + lineFound;
    const after = idx + delim.length;
    const closing = raw[after] === 45 && raw[after + 1] === 45;
    if (partStart >= 0) out.push([partStart, Math.max(partStart, idx === start ? idx : idx - 2)]);
    if (closing) return out;
    partStart = lineEnd < 0 || lineEnd >= end ? end : lineEnd + 2;
    pos = partStart;
  }
  if (partStart >= 0) out.push([partStart, end]);
  return out;
}

export function parseHeaders(text: string): Header[] {
  const out: Header[] = [];
  for (const line of text.split(/\r\n(?![ \t])/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).replace(/\r\n/g, '').trim() });
  }
  return out;
}

function parseContentType(value: string): { type: string; subtype: string; params: [string, string][] } {
  const [mime = '', ...rest] = splitParams(value);
  const m = /^([^/\s]+)\s*\/\s*([^\s;]+)$/.exec(mime.trim());
  const params = rest.flatMap((p): [string, string][] => {
    const eq = p.indexOf('=');
    if (eq <= 0) return [];
    return [[p.slice(0, eq).trim().toLowerCase(), unquote(p.slice(eq + 1).trim())]];
  });
  if (!m?.[1] || !m[2]) return { type: 'text', subtype: 'plain', params: params.length ? params : [['charset', 'us-ascii']] };
  return { type: m[1].toLowerCase(), subtype: m[2].toLowerCase(), params };
}

/** Parameter list of a structured header, empty segments after the value dropped. */
function splitParams(value: string): string[] {
  return splitHeaderParams(value).filter((seg, i) => i === 0 || seg.trim() !== '');
}

function unquote(v: string): string {
  return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

const header = (p: Pick<MimePart, 'headers'>, name: string): string | undefined => p.headers.find((h) => h.name === name)?.value;

function countLines(raw: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (raw[i] === 10) n++;
  return end > start && raw[end - 1] !== 10 ? n + 1 : n;
}

/** A parameter list; for a legacy client a value in UTF-8 goes as "NAME*" "utf-8''…" (RFC 2231 §4). */
function paramList(params: [string, string][], form: Form): string {
  if (params.length === 0) return 'NIL';
  const one = ([k, v]: [string, string]): string => {
    const value = headerText(v);
    if (form.utf8 || /^[\x01-\x7f]*$/.test(value)) return `${form.s(k.toUpperCase())} ${form.s(v)}`;
    const [name, encoded] = rfc2231Param(headerText(k).toUpperCase(), value);
    return `${form.s(name)} ${form.s(encoded)}`;
  };
  return '(' + params.map(one).join(' ') + ')';
}

function disposition(p: MimePart, form: Form): string {
  const d = header(p, 'content-disposition');
  if (!d) return 'NIL';
  const [kind = '', ...rest] = splitParams(d);
  const params = rest.flatMap((x): [string, string][] => {
    const eq = x.indexOf('=');
    return eq > 0 ? [[x.slice(0, eq).trim().toLowerCase(), unquote(x.slice(eq + 1).trim())]] : [];
  });
  return `(${form.s(kind.trim())} ${paramList(params, form)})`;
}

/** RFC 3501 §9 body-fld-lang: one language tag as a string, several (RFC 3282 "en, de") as a list. */
function language(p: MimePart, form: Form): string {
  const tags = (header(p, 'content-language') ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (tags.length <= 1) return nstrIn(form, tags[0]);
  return '(' + tags.map((x) => form.s(x)).join(' ') + ')';
}

/**
 * BODY (extensible=false) or BODYSTRUCTURE (extensible=true), RFC 3501 §7.4.2; `utf8`: for a client that enabled
 * UTF8=ACCEPT (RFC 6855 §3), else 7-bit throughout, the envelopes of embedded messages included.
 */
export function bodyStructure(raw: Buffer, p: MimePart, extensible: boolean, utf8 = false): string {
  return structureOf(raw, p, extensible, utf8 ? UTF8 : LEGACY);
}

function structureOf(raw: Buffer, p: MimePart, extensible: boolean, form: Form): string {
  const nstr = (v: string | undefined): string => nstrIn(form, v);
  if (p.type === 'multipart') {
    // no parts found: one empty text part, so the multipart still has the one part its syntax needs
    const kids = p.children.length > 0 ? p.children.map((c) => structureOf(raw, c, extensible, form)).join('') : `("text" "plain" ("CHARSET" "us-ascii") NIL NIL "7bit" 0 0${extensible ? ' NIL NIL NIL NIL' : ''})`;
    const ext = extensible ? ` ${paramList(p.params, form)} ${disposition(p, form)} ${language(p, form)} ${nstr(header(p, 'content-location'))}` : '';
    return `(${kids} ${form.s(p.subtype)}${ext})`;
  }
  const size = p.end - p.bodyStart;
  const enc = header(p, 'content-transfer-encoding') ?? '7bit';
  let out = `(${form.s(p.type)} ${form.s(p.subtype)} ${paramList(p.params, form)} ${nstr(header(p, 'content-id'))} ${nstr(header(p, 'content-description'))} ${form.s(enc)} ${size}`;
  if (p.type === 'message' && p.subtype === 'rfc822' && p.message) {
    out += ` ${envelope(p.message, undefined, form.utf8)} ${structureOf(raw, p.message, extensible, form)} ${countLines(raw, p.bodyStart, p.end)}`;
  } else if (p.type === 'text') out += ` ${countLines(raw, p.bodyStart, p.end)}`;
  if (extensible) out += ` ${nstr(header(p, 'content-md5'))} ${disposition(p, form)} ${language(p, form)} ${nstr(header(p, 'content-location'))}`;
  return out + ')';
}

/** Whether any header of the tree (embedded messages included) holds 8-bit text: only then do the two forms differ. */
export function hasEightBitHeaders(p: MimePart): boolean {
  if (p.headers.some((h) => /[\x00\x80-\xff]/.test(h.value) || /[\x00\x80-\xff]/.test(h.name))) return true;
  return p.children.some(hasEightBitHeaders) || (p.message !== undefined && hasEightBitHeaders(p.message));
}

/** ENVELOPE of a parsed part (an embedded message/rfc822 in BODYSTRUCTURE, or a whole message without cached fields). */
export function envelope(p: Pick<MimePart, 'headers'>, memo?: AddressMemo, utf8 = false): string {
  return envelopeOf(p.headers.map((h) => [h.name, h.value] as const), memo, utf8);
}

/**
 * Finds the part a section number path ("1.2") names; undefined when it does not exist. RFC 3501 §6.4.5: the
 * numbers of a message name the parts of its body, and a message whose body is not multipart has only part 1, its
 * body: part 1 of a top-level message/rfc822 is the whole message it holds (the size BODYSTRUCTURE gives), and
 * 1.1 the body of that message. Below a part, "n.1" of a part that has no parts is taken as the part itself.
 */
export function findPart(root: MimePart, path: readonly number[]): MimePart | undefined {
  let cur: MimePart | undefined = root;
  for (let i = 0; i < path.length; i++) {
    if (!cur) return undefined;
    // a message/rfc822 part's own numbers are those of the message it holds; the root is a message already
    if (i > 0 && cur.type === 'message' && cur.message) cur = cur.message;
    if (cur.type === 'multipart') cur = cur.children[(path[i] as number) - 1];
    else if (path[i] !== 1) return undefined;
  }
  return cur;
}
