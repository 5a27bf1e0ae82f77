// The TLSRPT record of a policy domain (RFC 8460 §3): the TXT record at `_smtp._tls.<domain>` through the project
// Resolver, parsed strictly: v=TLSRPTv1 first, one rua= with comma-separated mailto: and https: URIs, other
// fields ignored. DNS trouble and a malformed record are results, never throws.
import type { Resolver } from '../dns/resolver.ts';

export type ReportUri = { kind: 'mailto'; address: string } | { kind: 'https'; url: URL };

export type TlsRptLookup =
  | { status: 'found'; rua: ReportUri[] }
  /** No TXT record, none starting with v=TLSRPTv1, several, or one that does not parse (RFC 8460 §3: no TLSRPT then). */
  | { status: 'none' | 'invalid'; reason: string }
  | { status: 'temperror'; reason: string };

/** URIs of one rua taken at most (a record listing more is not refused; the rest are not written to). */
export const MAX_RUA = 5;
const MAX_URI_LENGTH = 2048;

/** RFC 8460 §3: tlsrpt-ext-name and tlsrpt-ext-value. */
const EXT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const EXT_VALUE = /^[\x21-\x3a\x3c\x3e-\x7e]+$/;

/** A mailto: URI naming one address (RFC 6068; hfields such as ?subject= are not used), or undefined. */
export function mailtoAddress(uri: string): string | undefined {
  const rest = uri.slice('mailto:'.length).split('?')[0] ?? '';
  let address: string;
  try {
    address = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  // one address: local@domain, no spaces, angle brackets or further commas
  const m = /^([^\s@<>,;"]{1,64})@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$/.exec(address);
  return m ? `${m[1] ?? ''}@${(m[2] ?? '').toLowerCase()}` : undefined;
}

function parseUri(raw: string): ReportUri | undefined {
  if (!raw || raw.length > MAX_URI_LENGTH) return undefined;
  const scheme = raw.slice(0, raw.indexOf(':') + 1).toLowerCase();
  if (scheme === 'mailto:') {
    const address = mailtoAddress(raw);
    return address ? { kind: 'mailto', address } : undefined;
  }
  if (scheme === 'https:') {
    try {
      const url = new URL(raw);
      return url.protocol === 'https:' && url.hostname && !url.username && !url.password ? { kind: 'https', url } : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Parses one TLSRPT TXT record (RFC 8460 §3); a string saying what is wrong when it does not parse. */
export function parseTlsRptRecord(record: string): { rua: ReportUri[] } | string {
  // tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]; field-delim = *WSP ";" *WSP
  const fields = record.split(';').map((f) => f.replace(/^[ \t]+|[ \t]+$/g, ''));
  if (fields.at(-1) === '' && fields.length > 1) fields.pop();
  // RFC 8460 §3: the version MUST be the first field, exactly "v=TLSRPTv1" (case-sensitive, %s)
  if (fields[0] !== 'v=TLSRPTv1') return 'the record does not start with v=TLSRPTv1';
  let rua: ReportUri[] | undefined;
  for (const field of fields.slice(1)) {
    const eq = field.indexOf('=');
    if (eq <= 0) return `malformed field ${JSON.stringify(field.slice(0, 60))}`;
    const name = field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (name === 'rua') {
      if (rua) return 'more than one rua field';
      // tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri); a URI's own "," and "!" are %-encoded
      const uris = value.split(',').map((u) => u.replace(/^[ \t]+|[ \t]+$/g, ''));
      const parsed: ReportUri[] = [];
      for (const u of uris) {
        if (!u) return 'empty URI in rua';
        const p = parseUri(u);
        // RFC 8460 §3: mailto: and https: are the defined schemes; another one is not written to
        if (p) parsed.push(p);
        else if (/^(mailto|https):/i.test(u)) return `malformed rua URI ${JSON.stringify(u.slice(0, 80))}`;
      }
      rua = parsed;
      continue;
    }
    // RFC 8460 §3: unknown fields of a syntactically valid record SHALL be ignored
    if (!EXT_NAME.test(name) || !EXT_VALUE.test(value)) return `malformed field ${JSON.stringify(field.slice(0, 60))}`;
  }
  if (!rua) return 'no rua field';
  if (!rua.length) return 'no mailto: or https: URI in rua';
  return { rua: rua.slice(0, MAX_RUA) };
}

/** RFC 8460 §3: looks up and parses the TLSRPT record of `domain` (a policy domain name). */
export async function lookupTlsRpt(resolver: Resolver, domain: string): Promise<TlsRptLookup> {
  const r = await resolver.lookup(`_smtp._tls.${domain}`, 'TXT');
  if (r.status === 'temperror') return { status: 'temperror', reason: r.reason };
  if (r.status !== 'ok') return { status: 'none', reason: 'no TXT record' };
  // RFC 8460 §3: records not starting with "v=TLSRPTv1;" are discarded; unless exactly one is left, the domain is
  // taken not to implement TLSRPT
  const candidates = r.records.filter((txt) => /^v=TLSRPTv1[ \t]*;/.test(txt));
  if (!candidates.length) return { status: 'none', reason: 'no v=TLSRPTv1 record' };
  if (candidates.length > 1) return { status: 'invalid', reason: 'several v=TLSRPTv1 records' };
  const parsed = parseTlsRptRecord(candidates[0] ?? '');
  return typeof parsed === 'string' ? { status: 'invalid', reason: parsed } : { status: 'found', rua: parsed.rua };
}
