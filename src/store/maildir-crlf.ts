// Line ends of stored messages: files from other tools may use bare LF; IMAP and POP3 serve CRLF.
import { basename } from 'node:path';
import { sizeFromKey, splitName } from './maildir-files.ts';

/**
 * Files we wrote carry S= (file size) equal to W= (CRLF size): no bare LF to convert, as long as the file still has
 * that size (`length`, what was read): a file rewritten since it was named is scanned.
 */
export function crlfKnown(file: string, length: number): boolean {
  const { w, s } = sizeFromKey(splitName(basename(file)).key);
  return w !== undefined && w === s && s === length;
}

/** Normalises bare LF line ends to CRLF (messages other tools wrote with Unix line ends). */
export function toCrlf(raw: Buffer): Buffer {
  let bare = 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] === 10 && (i === 0 || raw[i - 1] !== 13)) bare++;
  if (bare === 0) return raw;
  const out = Buffer.allocUnsafe(raw.length + bare);
  let j = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? 0;
    if (c === 10 && (i === 0 || raw[i - 1] !== 13)) out[j++] = 13;
    out[j++] = c;
  }
  return out;
}
