// Modified UTF-7 (RFC 3501 §5.1.3): IMAP's wire form of mailbox names, also Dovecot's on-disk Maildir++ form.

/** Encodes a Unicode name; `extra` lists printable ASCII characters that are also shifted (e.g. '.' on disk). */
export function encodeMutf7(text: string, extra = ''): string {
  let out = '';
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const bytes = Buffer.alloc(pending.length * 2);
    pending.forEach((u, i) => bytes.writeUInt16BE(u, i * 2));
    out += '&' + bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = [];
  };
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const ch = text[i] ?? '';
    if (code >= 0x20 && code <= 0x7e && !extra.includes(ch)) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else {
      pending.push(code); // UTF-16 code units, surrogates included (RFC 2152 via RFC 3501 §5.1.3)
    }
  }
  flush();
  return out;
}

/** Decodes modified UTF-7; returns undefined when the text is not well formed. */
export function decodeMutf7(text: string): string | undefined {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code > 0x7e) return undefined;
    if (ch !== '&') {
      out += ch;
      i++;
      continue;
    }
    const end = text.indexOf('-', i + 1);
    if (end < 0) return undefined;
    const chunk = text.slice(i + 1, end);
    i = end + 1;
    if (chunk === '') {
      out += '&';
      continue;
    }
    if (!/^[A-Za-z0-9+,]+$/.test(chunk)) return undefined;
    const bytes = Buffer.from(chunk.replace(/,/g, '/'), 'base64');
    if (bytes.length % 2 !== 0 || bytes.length === 0) return undefined;
    for (let j = 0; j < bytes.length; j += 2) out += String.fromCharCode(bytes.readUInt16BE(j));
  }
  return out;
}
