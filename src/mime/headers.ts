// Header block parsing for the filter: split head/body, unfold fields, structured values and RFC 2047 words.
import { decodeWords } from 'postal-mime';
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import type { HeaderField } from '../checks/types.ts';
import { splitUnquoted } from '../util/split-unquoted.ts';

export interface Structured {
  /** Lower-cased value before the first ';' (e.g. "text/plain"). */
  value: string;
  /** Lower-cased parameter names → unquoted values (RFC 2231 continuations joined). */
  params: Record<string, string>;
}

/** Index of the body start in `text` and the header block before it (RFC 5322 §2.1: blank line). */
export function splitHeadBody(text: string): { head: string; body: string } {
  const m = /\r?\n\r?\n/.exec(text);
  if (!m) return { head: text, body: '' };
  return { head: text.slice(0, m.index), body: text.slice(m.index + m[0].length) };
}

/** A field line starts with a name of one or more characters, none of them white space, then ':'. */
const FIELD_START = /^[^\s:]+:/;

/** Unfolds header lines (RFC 5322 §2.2.3); lines without a colon are skipped, at most `max` fields. */
export function parseHeaderBlock(head: string, max = 500): HeaderField[] {
  const out: HeaderField[] = [];
  const lines = head.split(/\r?\n/);
  let cur: HeaderField | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (i === 0 && line.startsWith('From ')) continue; // mbox separator line
    if ((line.startsWith(' ') || line.startsWith('\t')) && cur) {
      cur.value += ' ' + line.trim();
      continue;
    }
    if (!FIELD_START.test(line)) {
      cur = undefined;
      continue;
    }
    const colon = line.indexOf(':');
    if (out.length >= max) break;
    cur = { name: line.slice(0, colon), value: line.slice(colon + 1).trim() };
    out.push(cur);
  }
  return out;
}

/**
 * The value of the first field named `lowerName` (given in lower case), names compared case-insensitively.
 * Only names of the same length are lower-cased: no string is made for the others.
 */
export function headerValue(fields: readonly HeaderField[], lowerName: string): string | undefined {
  for (const f of fields) {
    if (f.name.length === lowerName.length && (f.name === lowerName || f.name.toLowerCase() === lowerName)) return f.value;
  }
  return undefined;
}

/** RFC 2047 encoded words to UTF-8; never throws. */
export function decodeHeaderValue(value: string): string {
  if (!value.includes('=?')) return value;
  try {
    return decodeWords(value);
  } catch {
    return value;
  }
}

/** Parses "type/sub; a=b; c*0=..." (RFC 2045 §5.1, RFC 2231 §3 continuations). */
/** RFC 2231 continuation sections read per parameter; any past this many are ignored. */
const MAX_SECTIONS = 100;

export function parseStructured(value: string | undefined): Structured {
  if (!value) return { value: '', params: {} };
  const parts = splitParams(value);
  const params: Record<string, string> = {};
  const continued: Record<string, Map<number, string>> = {};
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    const key = p.slice(0, eq).trim().toLowerCase();
    let val = p.slice(eq + 1).trim();
    if (val.startsWith('"') && val.endsWith('"') && val.length >= 2) val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    const cont = /^(.+?)\*(\d{1,10})\*?$/.exec(key);
    if (cont?.[1] !== undefined) {
      // RFC 2231 §3 sections, kept by number and joined in order, gaps and all (so "a" + "*999999999=.exe"
      // still reads as a.exe); never a sparse array indexed by the number, which would be walked slot by slot.
      const sections = (continued[cont[1]] ??= new Map());
      if (sections.size < MAX_SECTIONS) sections.set(Number(cont[2]), val);
      continue;
    }
    if (key.endsWith('*')) {
      params[key.slice(0, -1)] = decode2231(val);
      continue;
    }
    params[key] = decodeHeaderValue(val);
  }
  for (const [key, sections] of Object.entries(continued)) {
    params[key] ??= decode2231([...sections.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v).join(''));
  }
  return { value: (parts[0] ?? '').trim().toLowerCase(), params };
}

/** Splits a header value at semicolons outside quoted strings (RFC 2045 §5.1 parameters). */
export function splitParams(value: string): string[] {
  return splitUnquoted(value, ';');
}

/** charset'lang'percent-encoded → text (RFC 2231 §4); falls back to the raw value. */
function decode2231(val: string): string {
  const m = /^([^']*)'[^']*'(.*)$/.exec(val);
  if (!m) return val;
  try {
    const bytes = Buffer.from((m[2] ?? '').replace(/%([0-9a-f]{2})/gi, (_s, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return decodeCharset(bytes, m[1] ?? 'utf-8');
  } catch {
    return val;
  }
}

/** Decoders by charset label; null for windows-1252 and its aliases, and for labels Node does not know. */
const decoders = new Map<string, TextDecoder | null>();

/**
 * Bytes in a declared charset → UTF-8 string; unknown charsets fall back to windows-1252. Text with no
 * charset, or declared US-ASCII (RFC 2045 §5.2's default), that carries 8-bit bytes anyway is read as
 * UTF-8 when it is valid UTF-8 and as windows-1252 otherwise (what such mail nearly always is), rather
 * than turning every accented letter into U+FFFD.
 */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? '').trim().toLowerCase().replace(/^"|"$/g, '');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (label === 'utf-8' || label === 'utf8') return buf.toString('utf8');
  if (label === '' || label === 'us-ascii' || label === 'ascii') return isUtf8(buf) ? buf.toString('utf8') : decodeWindows1252(buf);
  let dec = decoders.get(label);
  if (dec === undefined) {
    try {
      dec = new TextDecoder(label, { fatal: false });
      // every label of windows-1252 (ISO-8859-1 included), whatever Node's decoder does with it
      if (dec.encoding === 'windows-1252') dec = null;
    } catch {
      dec = null; // not a charset Node knows: read as windows-1252
    }
    if (decoders.size < 100) decoders.set(label, dec);
  }
  return dec === null ? decodeWindows1252(buf) : dec.decode(bytes);
}

/** windows-1252 at 0x80-0x9F (the rest is ISO-8859-1); the five unassigned bytes stay C1 controls. */
const CP1252_HIGH = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/**
 * windows-1252 bytes → string. Done here because Node 20's TextDecoder('windows-1252') decodes as
 * ISO-8859-1 (0x80 comes out as U+0080, not the euro sign).
 */
export function decodeWindows1252(buf: Buffer): string {
  const text = buf.toString('latin1');
  // eslint-disable-next-line no-control-regex
  return /[\x80-\x9f]/.test(text) ? text.replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80] ?? c) : text;
}
