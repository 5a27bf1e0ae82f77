// The text SEARCH BODY and TEXT look in (RFC 3501 §6.4.4: "the body of the message"): the decoded text and HTML
// parts, text attachments, and a forwarded message/rfc822 attachment's header and text, a few levels deep.
import PostalMime, { decodeWords } from 'postal-mime';

/** Forwarded messages within forwarded messages: each level parses the message again. */
const MAX_DEPTH = 3;
const utf8 = new TextDecoder('utf-8');

export async function searchableBody(raw: Buffer | Uint8Array, depth = 0): Promise<string> {
  const email = await PostalMime.parse(raw);
  const out = [email.text ?? '', email.html ?? ''];
  for (const a of email.attachments) {
    const type = a.mimeType.toLowerCase();
    const bytes = typeof a.content === 'string' ? Buffer.from(a.content, 'utf8') : new Uint8Array(a.content);
    if (type.startsWith('text/')) out.push(utf8.decode(bytes));
    else if ((type === 'message/rfc822' || type === 'message/global') && depth < MAX_DEPTH) {
      const text = Buffer.from(bytes);
      const end = text.indexOf('\r\n\r\n');
      out.push(decodeWords(text.subarray(0, end < 0 ? text.length : end).toString('utf8')));
      out.push(await searchableBody(bytes, depth + 1));
    }
  }
  return out.join('\n');
}
