// Header block parsing for the filter: split head/body, unfold fields, structured values and RFC 2047 words.
import { decodeWords } from 'postal-mime';
import { TextDecoder } from 'node:util';
import type { HeaderField } from '../checks/types.ts';

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
export function parseStructured(value: string | undefined): Structured {
  if (!value) return { value: '', params: {} };
  const parts = splitParams(value);
  const params: Record<string, string> = {};
  const continued: Record<string, string[]> = {};
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq <= 0) continue;
    const key = p.slice(0, eq).trim().toLowerCase();
    let val = p.slice(eq + 1).trim();
    if (val.startsWith('"') && val.endsWith('"') && val.length >= 2) val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    const cont = /^(.+?)\*(\d+)\*?$/.exec(key);
    if (cont?.[1] !== undefined) {
      (continued[cont[1]] ??= [])[Number(cont[2])] = val;
      continue;
    }
    if (key.endsWith('*')) {
      params[key.slice(0, -1)] = decode2231(val);
      continue;
    }
    params[key] = decodeHeaderValue(val);
  }
  for (const [key, list] of Object.entries(continued)) params[key] ??= decode2231(list.join(''));
  return { value: (parts[0] ?? '').trim().toLowerCase(), params };
}

/** Splits a header value at semicolons outside quoted strings (RFC 2045 §5.1 parameters). */
export function splitParams(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"' && value[i - 1] !== '\\') quoted = !quoted;
    if (c === ';' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
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

const decoders = new Map<string, TextDecoder>();

/** Bytes in a declared charset → UTF-8 string; unknown charsets fall back to windows-1252. */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? 'utf-8').trim().toLowerCase().replace(/^"|"$/g, '') || 'utf-8';
  if (label === 'utf-8' || label === 'utf8' || label === 'us-ascii' || label === 'ascii') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let dec = decoders.get(label);
  if (!dec) {
    try {
      dec = new TextDecoder(label, { fatal: false });
    } catch {
      dec = new TextDecoder('windows-1252', { fatal: false });
    }
    if (decoders.size < 100) decoders.set(label, dec);
  }
  return dec.decode(bytes);
}
