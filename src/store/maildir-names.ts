// Validation and on-disk mapping of user and mailbox names for the Maildir++ store (no path may escape the root).
import { join } from 'node:path';
import { MailboxError } from './mailbox-store.ts';
import { encodeMutf7, decodeMutf7 } from './mutf7.ts';

const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
/** Maildir++ keeps the whole hierarchy in one directory name (".A.B.C"): at most NAME_MAX (255) bytes on Linux. */
const MAX_DIR_NAME = 255;
const MAX_NAME = 512;
const MAX_DEPTH = 16;

/** Splits "local@domain" after validation; both parts lower-cased. */
export function parseUser(user: string): { local: string; domain: string } {
  const at = user.lastIndexOf('@');
  const local = at > 0 ? user.slice(0, at).toLowerCase() : '';
  const domain = at > 0 ? user.slice(at + 1).toLowerCase() : '';
  const ok =
    local.length > 0 &&
    local.length <= MAX_LOCAL &&
    domain.length > 0 &&
    domain.length <= MAX_DOMAIN &&
    /^[a-z0-9!#$%&'*+=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+=?^_`{|}~-]+)*$/.test(local) &&
    /^[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$/.test(domain);
  if (!ok) throw new MailboxError('INVALID', `invalid user name ${JSON.stringify(user.slice(0, 80))}`);
  return { local, domain };
}

/** <root>/<domain>/<local>/Maildir */
export function userMaildir(root: string, user: string): string {
  const { local, domain } = parseUser(user);
  return join(root, domain, local, 'Maildir');
}

/**
 * Canonical mailbox name: components split on '/', first component "INBOX" in any case becomes "INBOX".
 * Refuses empty levels, control characters, "." and "..", wildcards and oversize names.
 */
export function normalizeMailbox(name: string): string {
  if (name.length === 0 || name.length > MAX_NAME) throw invalid(name);
  const parts = name.split('/');
  if (parts.length > MAX_DEPTH) throw invalid(name);
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..' || part.trim() !== part) throw invalid(name);
    if (/[\u0000-\u001f\u007f*%\\]/.test(part)) throw invalid(name);
  }
  if (parts[0]?.toUpperCase() === 'INBOX') parts[0] = 'INBOX';
  const canonical = parts.join('/');
  // Checked on the whole encoded name, not per level: a deep name whose levels all fit may still not (ENAMETOOLONG).
  if (canonical !== 'INBOX' && Buffer.byteLength(folderDirName(canonical)) > MAX_DIR_NAME) throw invalid(name, 'mailbox name too long');
  return canonical;
}

function invalid(name: string, why = 'invalid mailbox name'): MailboxError {
  return new MailboxError('INVALID', `${why} ${JSON.stringify(name.slice(0, 80))}`);
}

/** One level on disk: modified UTF-7 with '.' (the Maildir++ separator) shifted too, as Dovecot reads it. */
function encodePart(part: string): string {
  return encodeMutf7(part, '.');
}

/** Directory name of a non-INBOX mailbox inside the Maildir: ".Sent", ".Archive.2024". */
export function folderDirName(name: string): string {
  return '.' + name.split('/').map(encodePart).join('.');
}

/** The reverse of folderDirName; undefined for entries that are not folders we can name. */
export function folderNameFromDir(dir: string): string | undefined {
  if (!dir.startsWith('.') || dir === '.' || dir === '..') return undefined;
  const parts = dir.slice(1).split('.');
  const decoded: string[] = [];
  for (const p of parts) {
    const d = decodeMutf7(p);
    if (d === undefined || d === '' || d.includes('/')) return undefined;
    decoded.push(d);
  }
  try {
    return normalizeMailbox(decoded.join('/'));
  } catch {
    return undefined;
  }
}

export function folderPath(maildir: string, name: string): string {
  return name === 'INBOX' ? maildir : join(maildir, folderDirName(name));
}
