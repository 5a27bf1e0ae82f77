// Trace and result headers the gateway prepends to accepted mail (RFC 5321 §4.4 Received).

export interface ReceivedInfo {
  helo?: string;
  clientHostname?: string;
  clientIp: string;
  hostname: string;
  secure: boolean;
  authenticated: boolean;
  esmtp: boolean;
  id: string;
  /** Only for a single recipient, to avoid disclosing Bcc lists. */
  forRcpt?: string;
  date: Date;
}

/** RFC 5321 §4.4: "Received: from ... by ... with ... id ... for ...; date". WITH per RFC 3848. */
export function receivedHeader(r: ReceivedInfo): string {
  const proto = (r.esmtp ? 'ESMTP' : 'SMTP') + (r.secure ? 'S' : '') + (r.authenticated ? 'A' : '');
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

/** Removes header fields (by lower-case name) from the top of a message, e.g. forged X-Spamgate-Result. */
export function stripHeaders(raw: Buffer, names: ReadonlySet<string>, headerEndOffset: number): Buffer {
  const head = raw.subarray(0, headerEndOffset).toString('latin1');
  const lines = head.split(/(?<=\n)/);
  const kept: string[] = [];
  let dropping = false;
  let changed = false;
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && kept.length + (dropping ? 1 : 0) > 0) {
      if (!dropping) kept.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    dropping = names.has(name);
    if (dropping) changed = true;
    else kept.push(line);
  }
  if (!changed) return raw;
  return Buffer.concat([Buffer.from(kept.join(''), 'latin1'), raw.subarray(headerEndOffset)]);
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
  const m = /^subject:[ \t]*/im.exec(head);
  if (!m) return Buffer.concat([Buffer.from(`Subject: ${prefix}\r\n`, 'latin1'), raw]);
  const at = m.index + m[0].length;
  if (head.slice(at, at + prefix.length) === prefix) return raw;
  return Buffer.concat([raw.subarray(0, at), Buffer.from(prefix + ' ', 'latin1'), raw.subarray(at)]);
}
