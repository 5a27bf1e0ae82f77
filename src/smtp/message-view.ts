// Builds the data phase's MessageView from raw bytes: top-level headers parsed once, derived data memoised.
import type { HeaderField, MessageView } from '../checks/types.ts';

/** Byte offset where the body starts (after the blank line), or raw.length when there is none. */
export function headerEnd(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return raw.length;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return crlf + 4;
  return lf + 2;
}

/** Parses the header block (RFC 5322 §2.2, with unfolding per §2.2.3). Lenient: junk lines are skipped. */
export function parseHeaders(raw: Buffer, limit = 256 * 1024): HeaderField[] {
  const end = Math.min(headerEnd(raw), limit);
  const text = raw.subarray(0, end).toString('latin1');
  const fields: HeaderField[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    const last = fields[fields.length - 1];
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      last.value += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  // Header bytes may be UTF-8 (RFC 6532): decode values after unfolding.
  for (const f of fields) f.value = Buffer.from(f.value, 'latin1').toString('utf8');
  return fields;
}

export function createMessageView(raw: Buffer): MessageView {
  const headers = parseHeaders(raw);
  const memo = new Map<string, unknown>();
  return {
    raw,
    headers,
    header(name) {
      const lower = name.toLowerCase();
      return headers.find((h) => h.name.toLowerCase() === lower)?.value;
    },
    memo<T>(key: string, compute: () => T): T {
      if (!memo.has(key)) memo.set(key, compute());
      return memo.get(key) as T;
    },
  };
}
