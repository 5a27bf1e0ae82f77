// Response encoding: quoted strings or literals, nstrings, dates, flag lists, sequence sets (RFC 3501 §4, §9).
import { ImapSyntaxError } from './parser.ts';

const QUOTABLE = /^[\x20-\x7e]*$/;
const QUOTED_SPECIAL = /[\\"]/;
const QUOTED_SPECIALS = /[\\"]/g;

/** A string as quoted when safe, otherwise as a literal (RFC 3501 §4.3). */
export function str(value: string | Buffer): string {
  const s = typeof value === 'string' ? value : value.toString('utf8');
  if (s.length < 1024 && QUOTABLE.test(s)) return QUOTED_SPECIAL.test(s) ? '"' + s.replace(QUOTED_SPECIALS, '\\$&') + '"' : '"' + s + '"';
  return `{${Buffer.byteLength(s)}}\r\n${s}`;
}

export function nstr(value: string | undefined | null): string {
  return value === undefined || value === null ? 'NIL' : str(value);
}

/** A mailbox name on the wire: an atom when possible, else a quoted string. */
export function astr(value: string): string {
  return /^[A-Za-z0-9_.\-/&+,:;=?@!#$^~`'|<>[\]]+$/.test(value) && value.toUpperCase() !== 'NIL' ? value : str(value);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** date-time: "dd-Mon-yyyy hh:mm:ss +0000" (UTC). */
export function internalDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `"${String(d.getUTCDate()).padStart(2, ' ')}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

/** Parses date-time ("17-Jul-1996 02:44:25 -0700") for APPEND. */
export function parseDateTime(text: string): number | undefined {
  const m = /^\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  if (!m) return undefined;
  const mon = MONTHS.findIndex((x) => x.toLowerCase() === (m[2] ?? '').toLowerCase());
  if (mon < 0) return undefined;
  const utc = Date.UTC(Number(m[3]), mon, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const off = (Number(m[8]) * 60 + Number(m[9])) * 60_000 * (m[7] === '-' ? -1 : 1);
  return utc - off;
}

/** date: "1-Feb-1994" for SEARCH; returns midnight UTC of that day. */
export function parseSearchDate(text: string): number | undefined {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  if (!m) return undefined;
  const mon = MONTHS.findIndex((x) => x.toLowerCase() === (m[2] ?? '').toLowerCase());
  return mon < 0 ? undefined : Date.UTC(Number(m[3]), mon, Number(m[1]));
}

export function flagList(flags: readonly string[], recent = false): string {
  if (flags.length === 0) return recent ? '(\\Recent)' : '()';
  const list = flags.length === 1 ? (flags[0] as string) : flags.join(' ');
  return recent ? '(' + list + ' \\Recent)' : '(' + list + ')';
}

export type SeqRange = [number, number];

/** Parses a sequence-set; '*' becomes `star` (RFC 3501 §9 seq-number: "*" is the largest number in use). */
export function parseSequenceSet(text: string, star: number): SeqRange[] {
  if (!/^[\d*:,]+$/.test(text)) throw new ImapSyntaxError('invalid sequence set');
  const out: SeqRange[] = [];
  for (const item of text.split(',')) {
    const bounds = item.split(':');
    if (bounds.length > 2 || bounds.some((b) => b === '')) throw new ImapSyntaxError('invalid sequence set');
    const nums = bounds.map((b) => {
      if (b === '*') return star;
      const n = Number(b);
      if (!/^[1-9]\d{0,9}$/.test(b) || n > 4294967295) throw new ImapSyntaxError('invalid sequence number');
      return n;
    });
    const a = nums[0] ?? 0;
    const b = nums[1] ?? a;
    out.push(a <= b ? [a, b] : [b, a]);
  }
  return out;
}

export function inRanges(ranges: readonly SeqRange[], n: number): boolean {
  for (const [a, b] of ranges) if (n >= a && n <= b) return true;
  return false;
}

/** Compact set for COPYUID/APPENDUID responses: "1:3,7". */
export function compactSet(nums: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && (nums[j + 1] ?? 0) === (nums[j] ?? 0) + 1) j++;
    out.push(j > i ? `${nums[i]}:${nums[j]}` : `${nums[i]}`);
    i = j + 1;
  }
  return out.join(',');
}
