// Response encoding: quoted strings or literals, nstrings, dates, flag lists, sequence sets (RFC 3501 §4, §9).
import { ImapSyntaxError } from './parser.ts';

const QUOTABLE = /^[\x20-\x7e]*$/;
const QUOTED_SPECIAL = /[\\"]/;
const QUOTED_SPECIALS = /[\\"]/g;

/**
 * A string as quoted when safe, otherwise as a literal (RFC 3501 §4.3). NUL may not appear in either
 * (§4.3, CHAR8 excludes %x00): a NUL a header carried becomes U+FFFD.
 */
export function str(value: string | Buffer): string {
  const s = (typeof value === 'string' ? value : value.toString('utf8')).replace(/\0/g, '\ufffd');
  if (s.length < 1024 && QUOTABLE.test(s)) return QUOTED_SPECIAL.test(s) ? '"' + s.replace(QUOTED_SPECIALS, '\\$&') + '"' : '"' + s + '"';
  return `{${Buffer.byteLength(s)}}\r\n${s}`;
}

/**
 * Header text held as latin1 code units of the message bytes, read as UTF-8 (8-bit header text is UTF-8 in
 * practice, RFC 6532); bytes that are not UTF-8 become U+FFFD, so every string sent is UTF-8. Plain ASCII as is.
 */
export function headerText(value: string): string {
  return /[\x80-\xff]/.test(value) ? Buffer.from(value, 'latin1').toString('utf8') : value;
}

export function nstr(value: string | undefined | null): string {
  return value === undefined || value === null ? 'NIL' : str(value);
}

/** A mailbox name on the wire: an atom when possible, else a quoted string. */
export function astr(value: string): string {
  return /^[A-Za-z0-9_.\-/&+,:;=?@!#$^~`'|<>[\]]+$/.test(value) && value.toUpperCase() !== 'NIL' ? value : str(value);
}

const UTF8_QUOTABLE = /^[^\x00-\x1f\x7f]*$/;

/**
 * A string for a client that enabled UTF8=ACCEPT: quoted may then hold UTF-8 (RFC 6855 §3 utf8-quoted), so only
 * controls or length make a literal. `atom`: an atom when the text is one (mailbox names, as astr).
 */
export function ustr(value: string, atom = false): string {
  if (atom && /^[\x20-\x7e]*$/.test(value)) return astr(value);
  const s = value.replace(/\0/g, '\ufffd');
  if (Buffer.byteLength(s) < 1024 && UTF8_QUOTABLE.test(s)) return '"' + s.replace(QUOTED_SPECIALS, '\\$&') + '"';
  return `{${Buffer.byteLength(s)}}\r\n${s}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** date-time: "dd-Mon-yyyy hh:mm:ss +0000" (UTC). */
export function internalDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `"${String(d.getUTCDate()).padStart(2, ' ')}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

/** Day of a calendar date, or undefined when there is no such day ("31-Feb", "32-Jan"): Date.UTC would roll over. */
function calendarDay(day: string, month: string, year: string): number | undefined {
  const mon = MONTHS.findIndex((x) => x.toLowerCase() === month.toLowerCase());
  const y = Number(year);
  const d = Number(day);
  if (mon < 0 || d < 1) return undefined;
  const ms = Date.UTC(y, mon, d);
  const check = new Date(ms);
  return check.getUTCFullYear() === y && check.getUTCMonth() === mon && check.getUTCDate() === d ? ms : undefined;
}

/** Parses date-time ("17-Jul-1996 02:44:25 -0700") for APPEND; undefined for impossible dates or times (RFC 3501 §9). */
export function parseDateTime(text: string): number | undefined {
  const m = /^\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  if (!m) return undefined;
  const day = calendarDay(m[1] ?? '', m[2] ?? '', m[3] ?? '');
  const [h, min, sec, zh, zm] = [m[4], m[5], m[6], m[8], m[9]].map(Number) as [number, number, number, number, number];
  if (day === undefined || h > 23 || min > 59 || sec > 60 || zh > 23 || zm > 59) return undefined;
  const off = (zh * 60 + zm) * 60_000 * (m[7] === '-' ? -1 : 1);
  return day + ((h * 60 + min) * 60 + Math.min(sec, 59)) * 1000 - off;
}

/** date: "1-Feb-1994" for SEARCH; returns midnight UTC of that day, undefined when there is no such day. */
export function parseSearchDate(text: string): number | undefined {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  return m ? calendarDay(m[1] ?? '', m[2] ?? '', m[3] ?? '') : undefined;
}

export function flagList(flags: readonly string[], recent = false): string {
  if (flags.length === 0) return recent ? '(\\Recent)' : '()';
  const list = flags.length === 1 ? (flags[0] as string) : flags.join(' ');
  return recent ? '(' + list + ' \\Recent)' : '(' + list + ')';
}

export type SeqRange = [number, number];

/**
 * Parses a sequence-set; '*' becomes `star` (RFC 3501 §9 seq-number: "*" is the largest number in use). The ranges
 * come back sorted and merged, so inRanges is a binary search: "1,3,5,…" over a large mailbox stays cheap.
 */
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
    out.push(a <= b ? [a, b] : [b, a]); // RFC 3501 §9: "2:4" and "4:2" are the same
  }
  out.sort((x, y) => x[0] - y[0]);
  const merged: SeqRange[] = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/** Whether n lies in ranges as parseSequenceSet returns them (sorted, disjoint). */
export function inRanges(ranges: readonly SeqRange[], n: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const [a, b] = ranges[mid] as SeqRange;
    if (n < a) hi = mid - 1;
    else if (n > b) lo = mid + 1;
    else return true;
  }
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
