// What the Sieve body test (RFC 5173) compares: the body as it came (:raw), the decoded text of the text
// parts (:text, HTML turned into text), or the decoded content of the parts of the named media types
// (:content). A bounded MIME walk with the project's decoders; reports the bytes it decoded (the cost).
import { htmlToText } from '../mime/html.ts';
import { decodeCharset, headerValue, parseHeaderBlock, parseStructured, splitHeadBody } from '../mime/headers.ts';
import { readMultipart } from '../mime/parse.ts';
import { decodeTransfer } from '../mime/transfer.ts';
import type { HeaderField } from '../checks/types.ts';
import type { BodyTransform } from './script.ts';

/** Bytes of the message the body test reads; past this the rest of the body is not seen. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Parts visited and nesting followed. */
const MAX_PARTS = 100;
const MAX_DEPTH = 10;

export interface BodyValues {
  values: string[];
  /** Bytes read and decoded to make `values`. */
  scanned: number;
}

interface Leaf {
  /** Lower-cased type/subtype. */
  type: string;
  /**
   * Decoded content (charset to UTF-8). For a multipart its preamble or its epilogue, for a message/rfc822
   * the nested message's header (RFC 5173 §5.2: what :content compares when it names such a type).
   */
  content: string;
  /** Transfer-encoded size. */
  size: number;
}

/** RFC 5173 §5.2: "" matches every type, "text" a main type, "text/plain" one type. */
function typeMatches(type: string, wanted: readonly string[]): boolean {
  const main = type.slice(0, type.indexOf('/'));
  return wanted.some((w) => w === '' || w === type || (!w.includes('/') && w === main));
}

function leaves(headers: readonly HeaderField[], body: string, depth: number, out: Leaf[], defaultType = 'text/plain'): void {
  if (out.length >= MAX_PARTS) return;
  const ct = parseStructured(headerValue(headers, 'content-type'));
  // RFC 2045 §5.2: no (or an unreadable) Content-Type is text/plain; in a multipart/digest, message/rfc822 (RFC 2046 §5.1.5)
  const type = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(ct.value) ? ct.value : defaultType;
  const encoding = (headerValue(headers, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  const multipart = type.startsWith('multipart/') && ct.params.boundary && depth < MAX_DEPTH ? readMultipart(body, ct.params.boundary) : undefined;
  if (multipart) {
    // RFC 5173 §5.2: a :content naming a multipart type compares its preamble and its epilogue, as two strings;
    // its children are visited in their own right
    out.push({ type, content: multipart.preamble, size: multipart.preamble.length }, { type, content: multipart.epilogue, size: multipart.epilogue.length });
    const childType = type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    for (const child of multipart.parts) {
      const bare = /^\r?\n/.test(child);
      const { head, body: childBody } = splitHeadBody(child);
      leaves(bare ? [] : parseHeaderBlock(head), bare ? child.replace(/^\r?\n/, '') : childBody, depth + 1, out, childType);
    }
    return;
  }
  if (type === 'message/rfc822' && depth < MAX_DEPTH) {
    // RFC 5173 §5.2: a :content naming message/rfc822 compares the nested message's header as one string;
    // the nested message's body parts are visited like the top level's
    const inner = decodeTransfer(body, encoding).toString('latin1');
    const { head, body: innerBody } = splitHeadBody(inner);
    out.push({ type, content: Buffer.from(head, 'latin1').toString('utf8'), size: head.length });
    leaves(parseHeaderBlock(head), innerBody, depth + 1, out);
    return;
  }
  let content: string;
  try {
    content = decodeCharset(decodeTransfer(body, encoding), ct.params.charset?.toLowerCase());
  } catch {
    content = body;
  }
  out.push({ type, content, size: body.length });
}

/** The body as it came (its first MAX_BODY_BYTES), one character a byte. */
export function rawBody(message: Buffer): string {
  return splitHeadBody(message.subarray(0, MAX_BODY_BYTES).toString('latin1')).body;
}

/** The decoded parts of a message (its first MAX_BODY_BYTES) and the bytes decoded to get them: one walk serves every transform. */
export interface BodyParts {
  leaves: Leaf[];
  /** Transfer-encoded bytes of the leaves. */
  scanned: number;
}

export function bodyParts(message: Buffer): BodyParts {
  const { head, body } = splitHeadBody(message.subarray(0, MAX_BODY_BYTES).toString('latin1'));
  const parts: Leaf[] = [];
  leaves(parseHeaderBlock(head), body, 0, parts);
  return { leaves: parts, scanned: parts.reduce((n, p) => n + p.size, 0) };
}

/** RFC 5173 §5.1: :raw is the body undecoded (read as UTF-8, as the rest of the script sees text). */
export function rawValues(body: string): string[] {
  return [Buffer.from(body, 'latin1').toString('utf8')];
}

/** The values a :text or :content body test compares, from the message's parts. */
export function decodedValues(parts: BodyParts, transform: Exclude<BodyTransform, { kind: 'raw' }>): string[] {
  if (transform.kind === 'content') return parts.leaves.filter((p) => typeMatches(p.type, transform.types)).map((p) => p.content);
  // the multipart and message/rfc822 entries (preamble, epilogue, nested header) are no text/ type: :text skips them
  // RFC 5173 §5.3: :text is the text parts; HTML is turned into text (the RFC allows it)
  return parts.leaves.filter((p) => p.type.startsWith('text/')).map((p) => (p.type === 'text/html' ? htmlToText(p.content).text : p.content));
}
