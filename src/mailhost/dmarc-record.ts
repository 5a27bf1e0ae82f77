// The DMARC record as aggregate reporting reads it (RFC 7489 §6.3, §6.4): v=DMARC1 first, the policy published
// (p, sp, adkim, aspf, pct) and rua= parsed strictly: comma-separated URIs each with an optional "!" size limit
// (§6.2); mailto: URIs are kept, other schemes ignored. A malformed record is a string saying why, never a throw.
import { mailtoAddress } from './tlsrpt-record.ts';

export type Alignment = 'r' | 's';
export type Policy = 'none' | 'quarantine' | 'reject';

export interface PublishedPolicy {
  p: Policy;
  sp: Policy;
  adkim: Alignment;
  aspf: Alignment;
  pct: number;
}

export interface ReportAddress {
  address: string;
  /** The "!" size limit in bytes (RFC 7489 §6.2), if given. */
  maxBytes?: number;
}

export interface DmarcRecord {
  policy: PublishedPolicy;
  rua: ReportAddress[];
}

/** URIs of one rua taken at most. */
export const MAX_RUA = 5;
const POLICIES: readonly string[] = ['none', 'quarantine', 'reject'];
const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** RFC 7489 §6.4: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ] (a literal "!" or "," in the URI is %-encoded). */
function parseRua(value: string): ReportAddress[] | string {
  const out: ReportAddress[] = [];
  for (const raw of value.split(',').map((u) => u.replace(/^[ \t]+|[ \t]+$/g, ''))) {
    if (!raw) return 'empty URI in rua';
    const m = /^([^!]+)(?:!(\d{1,15})([kmgt]?))?$/i.exec(raw);
    if (!m) return `malformed rua URI ${JSON.stringify(raw.slice(0, 80))}`;
    const uri = m[1] ?? '';
    if (!/^mailto:/i.test(uri)) continue; // RFC 7489 §6.2: other schemes may be ignored
    const address = mailtoAddress(uri);
    if (!address) return `malformed rua URI ${JSON.stringify(raw.slice(0, 80))}`;
    const limit = m[2] === undefined ? undefined : Number(m[2]) * (UNITS[(m[3] ?? '').toLowerCase()] ?? 1);
    out.push(limit === undefined ? { address } : { address, maxBytes: limit });
  }
  return out.slice(0, MAX_RUA);
}

export function parseDmarcRecord(record: string): DmarcRecord | string {
  const fields = record.split(';').map((f) => f.replace(/^[ \t]+|[ \t]+$/g, ''));
  if (fields.at(-1) === '' && fields.length > 1) fields.pop();
  // RFC 7489 §6.4: the v tag MUST be first, and its value exactly "DMARC1"
  if (!/^v[ \t]*=[ \t]*DMARC1$/.test(fields[0] ?? '')) return 'the record does not start with v=DMARC1';
  const tags = new Map<string, string>();
  for (const field of fields.slice(1)) {
    const eq = field.indexOf('=');
    if (eq <= 0) return `malformed tag ${JSON.stringify(field.slice(0, 60))}`;
    const name = field.slice(0, eq).replace(/[ \t]+$/, '').toLowerCase();
    if (tags.has(name)) return `tag ${name} given twice`;
    tags.set(name, field.slice(eq + 1).replace(/^[ \t]+/, ''));
  }
  const p = tags.get('p')?.toLowerCase();
  // RFC 7489 §6.3: p is required (a record without it is taken as p=none only with a valid rua: not reported on here)
  if (!p || !POLICIES.includes(p)) return 'no valid p tag';
  const sp = tags.get('sp')?.toLowerCase() ?? p;
  if (!POLICIES.includes(sp)) return 'invalid sp tag';
  const align = (name: string): Alignment | undefined => {
    const v = (tags.get(name) ?? 'r').toLowerCase();
    return v === 'r' || v === 's' ? v : undefined;
  };
  const adkim = align('adkim');
  const aspf = align('aspf');
  if (!adkim || !aspf) return 'invalid adkim or aspf tag';
  const pctText = tags.get('pct') ?? '100';
  const pct = /^\d{1,3}$/.test(pctText) ? Number(pctText) : NaN;
  if (!(pct >= 0 && pct <= 100)) return 'invalid pct tag';
  const ruaText = tags.get('rua');
  const rua = ruaText === undefined ? [] : parseRua(ruaText);
  if (typeof rua === 'string') return rua;
  return { policy: { p: p as Policy, sp: sp as Policy, adkim, aspf, pct }, rua };
}
