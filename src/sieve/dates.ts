// Dates for the Sieve date and currentdate tests (RFC 5260 §4–§5): an RFC 5322 §3.3 date-time read from a
// header field (obsolete zone names too), shown in a zone, and cut into the date parts of §4.2.
import type { DatePart } from './script.ts';

/** A moment and the zone offset (minutes east of UTC) it is shown in. */
export interface ZonedDate {
  ms: number;
  offsetMinutes: number;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
/** RFC 5322 §4.3: obsolete zone names; military letters and unknown names are -0000 (taken as UTC). */
const OBS_ZONES: Readonly<Record<string, number>> = { ut: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420 };
const DATE_TIME = /^(?:[a-z]{3}\s*,\s*)?(\d{1,2})\s+([a-z]{3})\s+(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?\s*([+-]\d{4}|[a-z]{1,5})?\s*$/i;
/** RFC 5260 §4.1: "+hhmm" or "-hhmm". */
const ZONE = /^([+-])(\d{2})([0-5]\d)$/;
/** Header values longer than this are not dates (bounds the work on hostile input). */
const MAX_DATE_CHARS = 200;

/** Minutes east of UTC of a "+hhmm" zone; undefined when it is not one. */
export function zoneOffset(zone: string): number | undefined {
  const m = ZONE.exec(zone);
  if (!m) return undefined;
  const hours = Number(m[2]);
  if (hours > 23) return undefined;
  return (m[1] === '-' ? -1 : 1) * (hours * 60 + Number(m[3]));
}

/** An RFC 5322 date-time, comments removed; undefined when it is not one (RFC 5260 §4: the test then fails). */
export function parseDateTime(value: string): ZonedDate | undefined {
  if (value.length > MAX_DATE_CHARS) return undefined;
  const m = DATE_TIME.exec(value.replace(/\([^()]*\)/g, ' ').trim());
  if (!m) return undefined;
  const day = Number(m[1]);
  const month = MONTHS.indexOf((m[2] ?? '').toLowerCase());
  let year = Number(m[3]);
  // RFC 5322 §4.3: two-digit years below 50 are 20xx, others 19xx; three digits add 1900
  if ((m[3] ?? '').length === 2) year += year < 50 ? 2000 : 1900;
  else if ((m[3] ?? '').length === 3) year += 1900;
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const zone = m[7] ?? '-0000';
  const offset = /^[+-]/.test(zone) ? zoneOffset(zone) : (OBS_ZONES[zone.toLowerCase()] ?? 0);
  if (offset === undefined) return undefined;
  const utc = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offset * 60_000;
  // a day past the month's end (31 Feb) is no date
  if (new Date(utc + offset * 60_000).getUTCDate() !== day) return undefined;
  return { ms: utc, offsetMinutes: offset };
}

/** The server's own offset at that moment (RFC 5260 §4.1: without :zone or :originalzone, the local zone). */
export function localOffset(ms: number): number {
  return -new Date(ms).getTimezoneOffset();
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function formatZone(offset: number): string {
  const abs = Math.abs(offset);
  return `${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

/** RFC 5260 §4.2: the date part of a moment shown in its zone. */
export function datePart(d: ZonedDate, part: DatePart): string {
  const t = new Date(d.ms + d.offsetMinutes * 60_000);
  const [y, mo, da, h, mi, s] = [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds()];
  const date = `${pad(y, 4)}-${pad(mo)}-${pad(da)}`;
  const time = `${pad(h)}:${pad(mi)}:${pad(s)}`;
  switch (part) {
    case 'year':
      return pad(y, 4);
    case 'month':
      return pad(mo);
    case 'day':
      return pad(da);
    case 'date':
      return date;
    case 'julian':
      // Modified Julian Day: days since 1858-11-17 (the Unix epoch is MJD 40587)
      return String(Math.floor(Date.UTC(y, mo - 1, da) / 86_400_000) + 40_587);
    case 'hour':
      return pad(h);
    case 'minute':
      return pad(mi);
    case 'second':
      return pad(s);
    case 'time':
      return time;
    case 'iso8601': {
      const z = formatZone(d.offsetMinutes);
      return `${date}T${time}${z.slice(0, 3)}:${z.slice(3)}`;
    }
    case 'std11':
      return `${DAY_NAMES[t.getUTCDay()] ?? ''}, ${da} ${(MONTHS[mo - 1] ?? '').replace(/^./, (c) => c.toUpperCase())} ${pad(y, 4)} ${time} ${formatZone(d.offsetMinutes)}`;
    case 'zone':
      return formatZone(d.offsetMinutes);
    case 'weekday':
      return String(t.getUTCDay());
  }
}
