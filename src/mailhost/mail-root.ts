// Where the mail host keeps users' mail under the data directory, and each user's home beside their Maildir.
import path from 'node:path';
import { parseUser } from '../store/maildir-names.ts';

export function mailRoot(dataDir: string): string {
  return path.join(dataDir, 'mail');
}

/**
 * <data_dir>/mail/<domain>/<local>: the user's home, holding Maildir/ and sieve/ (as Dovecot lays out a home).
 * The name is validated first (parseUser throws MailboxError INVALID): no path is made from an unchecked name.
 */
export function userHome(dataDir: string, user: string): string {
  const { local, domain } = parseUser(user);
  return path.join(mailRoot(dataDir), domain, local);
}
