// Trace and result headers the gateway prepends to accepted mail (RFC 5321 §4.4 Received).

export interface ReceivedInfo {
  helo?: string;
  clientHostname?: string;
  clientIp: string;
  hostname: string;
  secure: boolean;
  authenticated: boolean;
  esmtp: boolean;
  /** The transaction used SMTPUTF8 (RFC 6531 §4.3: UTF8SMTP in place of ESMTP). */
  smtputf8?: boolean;
  id: string;
  /** Only for a single recipient, to avoid disclosing Bcc lists. */
  forRcpt?: string;
  date: Date;
}

/** RFC 5321 §4.4: "Received: from ... by ... with ... id ... for ...; date". WITH per RFC 3848. */
export function receivedHeader(r: ReceivedInfo): string {
  // RFC 3848 (ESMTP, SMTP with S and A), RFC 6531 §4.3 (UTF8SMTP …)
  const proto = (r.smtputf8 ? 'UTF8SMTP' : r.esmtp ? 'ESMTP' : 'SMTP') + (r.secure ? 'S' : '') + (r.authenticated ? 'A' : '');
  const ipLiteral = r.clientIp.includes(':') ? `IPv6:${r.clientIp}` : r.clientIp;
  const from = `${clean(r.helo || 'unknown')} (${r.clientHostname && !r.clientHostname.startsWith('[') ? clean(r.clientHostname) + ' ' : ''}[${ipLiteral}])`;
  const forPart = r.forRcpt ? `\r\n\tfor <${clean(r.forRcpt)}>` : '';
  return `from ${from}\r\n\tby ${r.hostname} (spamgate) with ${proto} id ${r.id}${forPart};\r\n\t${rfc5322Date(r.date)}`;
}

/** RFC 5322 §3.3 date-time. */
export function rfc5322Date(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function clean(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, '?').slice(0, 255);
}

/**
 * A field in spamgate's own namespace (X-Spamgate-Result, -Reputation, -Released, any other X-Spamgate-*): only
 * spamgate writes these, so one a message brings with it is forged (or another site's) and is removed at receipt,
 * before the checks, Sieve or anyone here could take it for ours. `name` in any case, without the colon.
 */
export function isSpamgateField(name: string): boolean {
  return name.trim().toLowerCase().startsWith('x-spamgate-');
}

/**
 * Removes header fields from the top of a message: every field whose lower-case name is in `names` (a
 * forged X-Spamgate-Result), and every field `drop` says so of, given its name and whole (unfolded) value.
 */
export function stripHeaders(raw: Buffer, names: ReadonlySet<string>, headerEndOffset: number, drop?: (name: string, value: string) => boolean): Buffer {
  const head = raw.subarray(0, headerEndOffset).toString('latin1');
  const lines = head.split(/(?<=\n)/);
  // whole fields first (a field and its continuation lines), then the decision per field
  const fields: { name: string; text: string }[] = [];
  for (const line of lines) {
    const last = fields[fields.length - 1];
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      last.text += line;
      continue;
    }
    const colon = line.indexOf(':');
    fields.push({ name: colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '', text: line });
  }
  let changed = false;
  const kept: string[] = [];
  for (const f of fields) {
    const gone = names.has(f.name) || (drop !== undefined && f.name !== '' && drop(f.name, f.text.slice(f.text.indexOf(':') + 1).replace(/\r?\n[ \t]/g, ' ')));
    if (gone) changed = true;
    else kept.push(f.text);
  }
  if (!changed) return raw;
  return Buffer.concat([Buffer.from(kept.join(''), 'latin1'), raw.subarray(headerEndOffset)]);
}

/**
 * An Authentication-Results field that claims to come from `authservId` (RFC 8601 §5: a receiver removes
 * those it did not add before its own checks, or a sender could forge passing results in our name). The
 * authserv-id is the first value after any comments (nested too), a token or a quoted-string (§2.2);
 * compared without case and without a final dot.
 */
export function claimsAuthServId(name: string, value: string, authservId: string): boolean {
  if (name !== 'authentication-results') return false;
  const strip = (id: string): string => id.toLowerCase().replace(/\.$/, '');
  return strip(authServIdOf(value)) === strip(authservId);
}

/** The authserv-id of an Authentication-Results value: CFWS skipped (RFC 5322 §3.2.2), quotes removed. */
function authServIdOf(value: string): string {
  const n = value.length;
  let i = 0;
  // every step moves i forward: bounded by the value's length
  for (;;) {
    while (i < n && (value[i] === ' ' || value[i] === '\t' || value[i] === '\r' || value[i] === '\n')) i++;
    if (value[i] !== '(') break;
    for (let depth = 0; i < n; i++) {
      const c = value[i];
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) {
        i++;
        break;
      }
    }
  }
  let id = '';
  if (value[i] === '"') {
    for (i++; i < n && value[i] !== '"'; i++) {
      if (value[i] === '\\') i++;
      id += value[i] ?? '';
    }
    return id;
  }
  for (; i < n && !/[\s;(]/.test(value[i] ?? ''); i++) id += value[i];
  return id;
}

/** Received fields in the header section, counted up to `stopAt` (RFC 5321 §6.3 loop detection). */
export function countReceived(raw: Buffer, stopAt: number): number {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end < 0 ? raw.length : end + 2).toString('latin1');
  const re = /^received[ \t]*:/gim;
  let n = 0;
  while (n < stopAt && re.exec(head) !== null) n++;
  return n;
}

/** Prefixes the Subject (adds one if missing); idempotent when the prefix is already there. */
export function rewriteSubject(raw: Buffer, prefix: string, headerEndOffset: number): Buffer {
  const head = raw.subarray(0, headerEndOffset).toString('latin1');
  // every Subject field (a message may carry two; a reader may show either), each once
  const re = /^subject:([ \t]*)/gim;
  let out = '';
  let last = 0;
  let found = false;
  for (let m = re.exec(head); m !== null; m = re.exec(head)) {
    found = true;
    const at = m.index + m[0].length;
    if (head.slice(at, at + prefix.length) === prefix) continue;
    // a value folded onto the next line: the prefix still follows "Subject: "
    out += head.slice(last, at) + (m[1] ? '' : ' ') + prefix + ' ';
    last = at;
  }
  if (!found) return Buffer.concat([Buffer.from(`Subject: ${prefix}\r\n`, 'latin1'), raw]);
  if (last === 0) return raw;
  return Buffer.concat([Buffer.from(out + head.slice(last), 'latin1'), raw.subarray(headerEndOffset)]);
}
